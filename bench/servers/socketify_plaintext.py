"""Plaintext server on socketify.py from PyPI (the reference peer).

usage: python socketify_plaintext.py PORT     (or BENCH_PORT=... in env)
"""
import socketify

from _socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify")
