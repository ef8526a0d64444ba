"""Echo server for the Autobahn fuzzingclient cases (kosoku): every message
comes back with its opcode, compressed when permessage-deflate was agreed.

python tests/apps/autobahn_app.py [shared|dedicated]
"""

import sys

from socketify_cy import App, AppListenOptions, CompressOptions


def echo(ws, message, opcode):
    ws.send(message, opcode, True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "dedicated"
    compression = (CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR if mode == "shared"
                   else CompressOptions.DEDICATED_COMPRESSOR | CompressOptions.DEDICATED_DECOMPRESSOR)
    app = App()
    # Section 9 sends messages up to 16 MiB.
    app.ws("/*", {"message": echo, "compression": compression, "max_payload_length": 32 * 1024 * 1024,
                  "max_backpressure": 64 * 1024 * 1024, "idle_timeout": 60})
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
