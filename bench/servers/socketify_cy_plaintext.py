"""Plaintext server on socketify_cy (this repository), same app as the peer.

usage: python socketify_cy_plaintext.py PORT   (or BENCH_PORT=... in env)
"""
import socketify_cy as socketify

from _socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify_cy")
