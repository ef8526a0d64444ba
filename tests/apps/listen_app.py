"""app.listen() variants and app.close().

python tests/apps/listen_app.py MODE
  int | dict | options : listen that way on port 0; GET /config returns what
                         the listen callback received; GET /shutdown calls
                         app.close(), after which app.run() must return.
  busy                 : listen (exclusive) on a port already in use
  badhost              : listen on an address this host does not have
The two failure modes print "LISTEN_ERROR <type> <is OSError/RuntimeError>"
and exit 0, or print "LISTEN_OK" and exit 1.
"""

import json
import socket
import sys

from socketify_cy import App, AppListenOptions

TEST_NET = "192.0.2.1"  # RFC 5737 documentation address, never local


def main(mode):
    app = App()
    seen = {}

    def on_listen(config):
        seen["port"] = config.port
        seen["host"] = config.host
        seen["type"] = type(config).__name__
        print("LISTENING %d" % config.port, flush=True)

    def shutdown(res, req):
        res.end("closing", end_connection=True)
        app.close()

    app.get("/config", lambda res, req: res.end(json.dumps(seen)))
    app.get("/shutdown", shutdown)

    if mode in ("busy", "badhost"):
        blocker = None
        if mode == "busy":
            blocker = socket.socket()
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            options = AppListenOptions(port=blocker.getsockname()[1], host="127.0.0.1", options=1)
        else:
            options = AppListenOptions(port=0, host=TEST_NET)
        try:
            app.listen(options, lambda config: None)
        except Exception as e:
            print("LISTEN_ERROR %s %s" % (type(e).__name__, isinstance(e, (OSError, RuntimeError))),
                  flush=True)
            return 0
        print("LISTEN_OK", flush=True)
        return 1

    if mode == "int":
        app.listen(0, on_listen)
    elif mode == "dict":
        app.listen({"port": 0, "host": "127.0.0.1"}, on_listen)
    elif mode == "options":
        app.listen(AppListenOptions(port=0, host="127.0.0.1"), on_listen)
    else:
        raise SystemExit("unknown mode %r" % mode)
    app.run()
    print("RUN_RETURNED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
