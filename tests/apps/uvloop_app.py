"""The main test app on uvloop: uvloop.install() before App().run()."""

import uvloop

uvloop.install()

import main_app  # noqa: E402  (tests/apps is sys.path[0])

if __name__ == "__main__":
    main_app.main()
