"""Enums of the socketify API."""

from enum import IntEnum


class OpCode(IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class SendStatus(IntEnum):
    BACKPRESSURE = 0
    SUCCESS = 1
    DROPPED = 2


class ListenOptions(IntEnum):
    LIBUS_LISTEN_DEFAULT = 0
    LIBUS_LISTEN_EXCLUSIVE_PORT = 1


class CompressOptions(IntEnum):
    """permessage-deflate settings for app.ws(compression=...): a compressor
    value (low byte) or-ed with a decompressor value (bits 8-11)."""

    DISABLED = 0
    SHARED_COMPRESSOR = 1
    SHARED_DECOMPRESSOR = 1 << 8
    DEDICATED_DECOMPRESSOR_32KB = 15 << 8
    DEDICATED_DECOMPRESSOR_16KB = 14 << 8
    DEDICATED_DECOMPRESSOR_8KB = 13 << 8
    DEDICATED_DECOMPRESSOR_4KB = 12 << 8
    DEDICATED_DECOMPRESSOR_2KB = 11 << 8
    DEDICATED_DECOMPRESSOR_1KB = 10 << 8
    DEDICATED_DECOMPRESSOR_512B = 9 << 8
    DEDICATED_DECOMPRESSOR = 15 << 8
    DEDICATED_COMPRESSOR_3KB = 9 << 4 | 1
    DEDICATED_COMPRESSOR_4KB = 9 << 4 | 2
    DEDICATED_COMPRESSOR_8KB = 10 << 4 | 3
    DEDICATED_COMPRESSOR_16KB = 11 << 4 | 4
    DEDICATED_COMPRESSOR_32KB = 12 << 4 | 5
    DEDICATED_COMPRESSOR_64KB = 13 << 4 | 6
    DEDICATED_COMPRESSOR_128KB = 14 << 4 | 7
    DEDICATED_COMPRESSOR_256KB = 15 << 4 | 8
    DEDICATED_COMPRESSOR = 15 << 4 | 8
