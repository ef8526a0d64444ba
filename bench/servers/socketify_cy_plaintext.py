"""Plaintext server on socketify_cy (this repository), same app as the peer.

usage: python socketify_cy_plaintext.py PORT [HANDLER]

HANDLER: sync (default), async_cork_end or async_end (also $BENCH_HANDLER);
see _socketify_app.py.
"""
import socketify_cy as socketify

from _socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify_cy")
