"""Hello, World! on 127.0.0.1:3000 (PORT and HOST may be set in the environment)."""

import os

from socketify_cy import App, AppListenOptions


def home(res, req):
    res.end("Hello, World!")


app = App()
app.get("/", home)
app.listen(
    AppListenOptions(port=int(os.environ.get("PORT", 3000)), host=os.environ.get("HOST", "127.0.0.1")),
    lambda config: print("Listening on http://%s:%d" % (config.host, config.port), flush=True),
)
app.run()
