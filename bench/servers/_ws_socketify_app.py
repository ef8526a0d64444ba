"""One WebSocket app for socketify (PyPI) and socketify_cy: the same code,
only the imported module differs (see _ws_common.py for the modes).

echo:      app.ws("/echo"): ws.send(message, opcode)
fanout:    app.ws("/sub", open: ws.subscribe("t")); app.ws("/pub", message:
           app.publish("t", PAYLOAD, OpCode.BINARY, False))
fanout_z:  the same with compression=SHARED_COMPRESSOR on both routes and
           app.publish(..., compress=True)
"""
import signal

from _ws_common import (HOST, TOPIC, announce, mode_from_argv, payload, port_from_argv,
                        raise_fd_limit, size_from_argv)


def serve(socketify, name):
    port = port_from_argv()
    mode = mode_from_argv()
    size = size_from_argv()
    raise_fd_limit()
    OpCode, CompressOptions = socketify.OpCode, socketify.CompressOptions

    app = socketify.App()
    if mode == "echo":
        def echo(ws, message, opcode):
            ws.send(message, opcode)

        app.ws("/echo", {"message": echo, "max_payload_length": 64 * 1024})
    else:
        compress = mode == "fanout_z"
        compression = CompressOptions.SHARED_COMPRESSOR if compress else CompressOptions.DISABLED
        data = payload(size)

        def subscribe(ws):
            ws.subscribe(TOPIC)

        def publish(ws, message, opcode):
            app.publish(TOPIC, data, OpCode.BINARY, compress)

        app.ws("/sub", {"open": subscribe, "compression": compression})
        app.ws("/pub", {"message": publish, "compression": compression})

    def on_listen(config=None):
        announce(name, port, mode, size)

    app.listen(socketify.AppListenOptions(port=port, host=HOST), on_listen)
    # The default SIGTERM/SIGINT actions end the process at once, even while
    # the loop is in C (see _socketify_app.py for why).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    app.run()
