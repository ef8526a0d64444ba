"""One-send property: a whole small response leaves in ONE send/writev
syscall, also when written piecewise after an await (outside cork).

Measurement, on one keep-alive socket:  GET /stats -> n1, GET <target>,
GET /stats -> n2. Between the two counter reads the server sent exactly the
first /stats response and the target response, so n2 - n1 must be 2. A
response split over two syscalls gives 3; a counter that does not count gives
0. A control route that writes in three pieces separated by awaits must give
more than 2, proving the counter sees separate sends.
"""

import pytest


def measure(server, path):
    with server.raw() as c:
        c.request("GET", "/stats")
        first = c.read_response()
        assert first.status == 200
        n1 = int(first.body)
        c.request("GET", path)
        target = c.read_response()
        c.request("GET", "/stats")
        n2 = int(c.read_response().body)
    return n2 - n1, target


def test_stats_counter_is_an_int_and_grows(main_server):
    a = int(main_server.get("/stats").text)
    b = int(main_server.get("/stats").text)
    assert a >= 0 and b > a


@pytest.mark.parametrize("repeat", range(3))
def test_sync_static_one_send(main_server, repeat):
    delta, r = measure(main_server, "/static")
    assert (r.status, r.body) == (200, b"static")
    assert delta == 2


@pytest.mark.parametrize("repeat", range(3))
def test_sync_status_and_three_headers_one_send(main_server, repeat):
    delta, r = measure(main_server, "/sync-many")
    assert (r.status, r.body) == (200, b"sync-many-body")
    assert (r.header("X-One"), r.header("X-Two"), r.header("X-Three")) == ("1", "2", "3")
    assert delta == 2, "sync status+3 headers+body took %d send syscalls" % (delta - 1)


@pytest.mark.parametrize("repeat", range(3))
def test_async_status_header_end_one_send(main_server, repeat):
    delta, r = measure(main_server, "/async-end")
    assert (r.status, r.body, r.header("X-A")) == (201, b"hello", "1")
    assert delta == 2, "async write_status+write_header+end took %d send syscalls" % (delta - 1)


@pytest.mark.parametrize("repeat", range(3))
def test_async_cork_end_one_send(main_server, repeat):
    delta, r = measure(main_server, "/async-cork-end")
    assert (r.status, r.body) == (200, b"corked-after-await")
    assert delta == 2, "async cork_end took %d send syscalls" % (delta - 1)


def test_async_404_and_500_one_send(main_server):
    delta, r = measure(main_server, "/no/such/route")
    assert r.status == 404
    assert delta == 2
    delta, r = measure(main_server, "/raise-async")
    assert (r.status, r.body) == (500, b"Internal Server Error")
    assert delta == 2


def test_control_separate_writes_are_counted(main_server):
    delta, r = measure(main_server, "/async-writes")
    assert (r.status, r.body) == (200, b"abc")
    assert delta >= 3, "three writes separated by awaits counted as %d sends" % (delta - 1)


def test_streamed_writes_one_send_each(main_server):
    """Each res.write() outside cork is one syscall: the head with the first
    chunk, a chunk with its framing, the last chunk with the terminator."""
    delta, r = measure(main_server, "/async-writes")
    assert (r.status, r.body) == (200, b"abc")
    assert delta - 1 == 3, "write(a), write(b), end(c) took %d send syscalls" % (delta - 1)


@pytest.mark.parametrize("repeat", range(3))
def test_hundred_writes_after_an_await_leave_in_one_send(main_server, repeat):
    delta, r = measure(main_server, "/async-100-writes")
    assert (r.status, r.body) == (200, "".join("w%d," % i for i in range(100)).encode() + b"end")
    assert delta == 2, "100 writes + end after an await took %d send syscalls" % (delta - 1)
