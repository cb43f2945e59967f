"""The revocation feed's kept-alive connection (authcore.revocation.source), against a raw
local server that answers, closes or stays silent as each test plans, request by request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from authcore import transport
from authcore.revocation.document import DELTA_KEY, SNAPSHOT_KEY
from authcore.revocation.source import FeedUnavailable, HttpFeedSource
from infra.devkit.rawhttp import RawServer, requests

# What the server does with request ``r`` of connection ``c``: answer and keep the
# connection; close it without an answer; never answer; answer, then close it silently;
# answer 503 saying "Connection: close" (S3's SlowDown), then close it.
ANSWER, CLOSE, SILENT, ANSWER_THEN_CLOSE = "answer", "close", "silent", "answer then close"
SLOW_DOWN = "503, connection: close"
Plan = Callable[[int, int], str]
WAIT_SECONDS = 5.0


def _answer(request: bytes) -> bytes:
    """The snapshot (ETag "e1"), 304 to a request naming "e1", 404 for anything else."""
    line = request.split(b"\r\n", 1)[0]
    if b'if-none-match: "e1"' in request.lower():
        return b'HTTP/1.1 304 Not Modified\r\nETag: "e1"\r\n\r\n'
    if SNAPSHOT_KEY.encode() in line:
        body = b'{"feed":"f"}'
        head = f'HTTP/1.1 200 OK\r\nETag: "e1"\r\nContent-Length: {len(body)}\r\n\r\n'
        return head.encode() + body
    body = b"<Error>NoSuchKey</Error>"
    return f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


SLOW_DOWN_ANSWER = b"HTTP/1.1 503 Slow Down\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class Server(RawServer):
    """Records, per accepted connection, the request lines it read."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.connections: list[list[bytes]] = []
        self.closed = threading.Semaphore(0)  # released as each connection is closed
        self._lock = threading.Lock()
        super().__init__(self._serve)

    def wait_closed(self) -> None:
        """Until this end has closed one more connection (its FIN sent)."""
        assert self.closed.acquire(timeout=WAIT_SECONDS)

    def _serve(self, conn: socket.socket) -> None:
        lines: list[bytes] = []
        with self._lock:
            self.connections.append(lines)
            index = len(self.connections) - 1
        try:
            self._converse(conn, index, lines)
        finally:
            conn.close()
            self.closed.release()

    def _converse(self, conn: socket.socket, index: int, lines: list[bytes]) -> None:
        for request in requests(conn):
            lines.append(request.split(b"\r\n", 1)[0])
            action = self.plan(index, len(lines) - 1)
            if action == CLOSE:
                return
            if action == SILENT:
                while conn.recv(4096):  # until the client gives up and closes
                    pass
                return
            if action == SLOW_DOWN:
                conn.sendall(SLOW_DOWN_ANSWER)
                return
            conn.sendall(_answer(request))
            if action == ANSWER_THEN_CLOSE:
                return


@pytest.fixture
def serve() -> Iterator[Callable[[Plan], Server]]:
    servers: list[Server] = []

    def start(plan: Plan) -> Server:
        server = Server(plan)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_every_poll_of_a_source_uses_one_kept_connection(serve):
    server = serve(lambda c, r: ANSWER)
    source = HttpFeedSource(server.base)
    first = source.fetch(SNAPSHOT_KEY, None)
    assert (first.status, first.body, first.etag) == (200, b'{"feed":"f"}', '"e1"')
    assert source.fetch(SNAPSHOT_KEY, '"e1"').status == 304
    # A 404's body is read to its end: the connection is still good for the next poll.
    assert source.fetch(DELTA_KEY, None).status == 404
    assert source.fetch(SNAPSHOT_KEY, None).status == 200
    ((*requests,),) = server.connections
    assert len(requests) == 4


def test_a_connection_the_host_closed_while_idle_is_replaced_before_a_request(serve, monkeypatch):
    """Seen closed before reuse (its socket reads at end of file): the request goes out on
    a new connection at once, never first onto the dead one."""
    sent = []
    send = transport.Connection.request

    def counting(self, *args, **kwargs):
        sent.append(args[1])
        return send(self, *args, **kwargs)

    monkeypatch.setattr(transport.Connection, "request", counting)
    server = serve(lambda c, r: ANSWER_THEN_CLOSE)
    source = HttpFeedSource(server.base)
    for _ in range(3):
        assert source.fetch(SNAPSHOT_KEY, None).status == 200
        server.wait_closed()  # the host closes while the container idles
        time.sleep(0.01)  # and its FIN crosses the loopback
    assert [len(requests) for requests in server.connections] == [1, 1, 1]
    assert len(sent) == 3


def test_a_kept_connection_closed_under_a_request_is_retried_once_on_a_new_one(serve):
    """The host's idle timeout racing the poll: the request left on a connection the
    host was closing. A GET changes nothing: it is sent again, on a new connection."""
    server = serve(lambda c, r: CLOSE if (c, r) == (0, 1) else ANSWER)
    source = HttpFeedSource(server.base)
    assert source.fetch(SNAPSHOT_KEY, None).status == 200
    assert source.fetch(SNAPSHOT_KEY, None).status == 200
    assert [len(requests) for requests in server.connections] == [2, 1]


def test_a_new_connection_closed_under_its_request_is_a_failed_poll_not_retried(serve):
    server = serve(lambda c, r: CLOSE)
    with pytest.raises(FeedUnavailable) as raised:
        HttpFeedSource(server.base).fetch(SNAPSHOT_KEY, None)
    assert raised.value.cause == "RemoteClosed"
    server.wait_closed()
    assert not server.closed.acquire(timeout=0.2)  # no second connection came
    assert [len(requests) for requests in server.connections] == [1]


def test_a_new_connection_after_a_connection_close_answer_is_not_retried(serve):
    """After an answer saying "Connection: close" the transport has closed the socket: the
    next request's connection is a new one, whose failure is the poll's, not retried."""
    server = serve(lambda c, r: SLOW_DOWN if c == 0 else CLOSE)
    source = HttpFeedSource(server.base)
    with pytest.raises(FeedUnavailable) as raised:
        source.fetch(SNAPSHOT_KEY, None)
    assert raised.value.cause == "status_503"
    with pytest.raises(FeedUnavailable) as raised:
        source.fetch(SNAPSHOT_KEY, None)
    assert raised.value.cause == "RemoteClosed"
    for _ in range(2):
        server.wait_closed()
    assert not server.closed.acquire(timeout=0.2)  # no third connection came
    assert [len(requests) for requests in server.connections] == [1, 1]


def test_a_timeout_on_a_kept_connection_is_not_retried(serve):
    """A second wait would hold the request that polls for twice the timeout."""
    server = serve(lambda c, r: SILENT if r == 1 else ANSWER)
    source = HttpFeedSource(server.base, timeout=1.0)  # a loaded machine answers well within
    assert source.fetch(SNAPSHOT_KEY, None).status == 200
    with pytest.raises(FeedUnavailable) as raised:
        source.fetch(SNAPSHOT_KEY, None)
    assert raised.value.cause == "TimeoutError"
    # The next poll starts afresh, on a new connection.
    assert source.fetch(SNAPSHOT_KEY, None).status == 200
    assert [len(requests) for requests in server.connections] == [2, 1]
