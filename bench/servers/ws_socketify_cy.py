"""WebSocket server on socketify_cy (this repository), same app as the peer.

usage: python ws_socketify_cy.py PORT MODE [SIZE]     MODE: echo | fanout | fanout_z
"""
import socketify_cy as socketify

from _ws_socketify_app import serve

if __name__ == "__main__":
    serve(socketify, "socketify_cy")
