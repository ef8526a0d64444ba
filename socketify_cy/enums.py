"""Enums of the socketify API (WebSocket ones are used by later features)."""

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
