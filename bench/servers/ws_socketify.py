"""WebSocket server on socketify.py from PyPI (the reference peer).

usage: python ws_socketify.py PORT MODE [SIZE]     MODE: echo | fanout | fanout_z
"""
import socketify

from _ws_socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify")
