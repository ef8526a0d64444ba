"""App(proxy_protocol=...) for the PROXY protocol tests.

python tests/apps/proxy_app.py on|off
GET /who answers JSON: the proxied address (text and bytes as hex) and the
socket's own peer address.
"""

import json
import sys

from socketify_cy import App


def main(mode):
    app = App(proxy_protocol=(mode == "on"))

    def who(res, req):
        raw = res.get_proxied_remote_address_bytes()
        res.end(json.dumps({
            "proxied": res.get_proxied_remote_address(),
            "proxied_bytes": raw.hex() if raw is not None else None,
            "remote": res.get_remote_address(),
        }))

    app.get("/who", who)
    app.listen({"port": 0, "host": "127.0.0.1"},
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main(sys.argv[1])
