"""Plaintext server on socketify.py from PyPI (the reference peer).

usage: python socketify_plaintext.py PORT [HANDLER]

HANDLER: sync (default), async_cork_end or async_end (also $BENCH_HANDLER);
see _socketify_app.py.
"""
import socketify

from _socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify")
