"""Continuing a coroutine whose first step already ran.

An async handler's first step runs synchronously inside the engine callback
(corked, with a valid Request). If it suspends, the rest must run as an
asyncio Task; a Task cannot adopt a started coroutine, so this awaitable
hands the already-yielded value to the Task first and then delegates.
"""

import types


@types.coroutine
def continue_coroutine(coro, yielded):
    """Await the rest of coro, which has just yielded `yielded`."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value
