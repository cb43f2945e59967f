"""authcore.transport's HTTP/1.1 against a raw local server that sends, byte for byte, the
answers each test scripts: framing, keep-alive, bounds, and what it refuses to send or
read. (The key ring's JWKS reads add chunked, malformed and TLS cases: test_jwks_fetch.)"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from support import ROOT

from authcore import transport
from authcore.errors import BadResponse, RemoteClosed, UnsafeRequest
from infra.devkit.rawhttp import RawServer, requests

Answer = bytes | Callable[[socket.socket], None]


def ok(body: bytes = b"hello", *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Server(RawServer):
    """Answers the n-th request it reads (over all connections) with ``answers[n]``, and
    records each connection's requests (head and body)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.connections: list[list[bytes]] = []
        self._served = 0
        super().__init__(self._converse)

    def _converse(self, conn: socket.socket) -> None:
        recorded: list[bytes] = []
        self.connections.append(recorded)
        for request in requests(conn):
            recorded.append(request)
            answer = self.answers[self._served]
            self._served += 1
            if callable(answer):
                answer(conn)
                return
            conn.sendall(answer)

    def connection(self, timeout: float = 2.0) -> transport.Connection:
        return transport.Connection("127.0.0.1", self.port, timeout)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*answers: Answer) -> Server:
        server = Server(list(answers))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def get(connection: transport.Connection, limit: int = 1024, **kwargs) -> transport.Response:
    return connection.request("GET", "/thing", {}, limit=limit, **kwargs)


# ------------------------------------------------------------------ requests
def test_a_request_names_its_host_asks_for_no_encoding_and_frames_its_body(serve):
    server = serve(ok(), ok())
    connection = server.connection()
    connection.request("POST", "/", {"x-amz-target": "DynamoDB_20120810.GetItem"}, b"{}", limit=9)
    connection.request("GET", "/a?b=c", {"Host": "elsewhere", "accept-encoding": "gzip"}, limit=9)
    first, second = server.connections[0]
    assert first == (
        b"POST / HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Accept-Encoding: identity\r\n"
        b"x-amz-target: DynamoDB_20120810.GetItem\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    # The caller's own Host (signed by SigV4) and Accept-Encoding are not doubled; a GET
    # without a body says no length.
    assert second == b"GET /a?b=c HTTP/1.1\r\nHost: elsewhere\r\naccept-encoding: gzip\r\n\r\n"


def test_the_host_header_leaves_out_a_default_port_and_brackets_ipv6():
    assert transport.Connection("example.com", None, 1.0).authority == "example.com"
    assert transport.Connection("example.com", 8443, 1.0).authority == "example.com:8443"
    assert transport.Connection("::1", 5000, 1.0).authority == "[::1]:5000"
    assert transport.Connection("example.com", None, 1.0).port == 80
    assert transport.Connection("example.com", None, 1.0, transport.tls_context()).port == 443


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/a\r\nX-Injected: 1", {}),
        ("GET", "/a b", {}),
        ("GET", "", {}),
        ("GET /x", "/", {}),
        ("GET", "/", {"x-amz-date": "now\r\nX-Injected: 1"}),
        ("GET", "/", {"if-none-match": '"e1"\nX-Injected: 1'}),
        ("GET", "/", {"bad name": "v"}),
        ("GET", "/", {"x": "nul\0"}),
        ("GET", "/", {"x": "snowman \u2603"}),
        ("GET", "/caf\u00e9", {}),  # a target outside ASCII
        ("GET", "/", {"x-number": 1}),  # not text
    ],
)
def test_what_could_split_a_request_is_never_sent(serve, method, target, headers):
    server = serve(ok())
    connection = server.connection()
    # UnsafeRequest, or the header encoding's own refusal (UnicodeEncodeError).
    with pytest.raises(ValueError, match=r"unsafe|codec"):
        connection.request(method, target, headers, limit=9)
    assert connection.sock is None  # refused before connecting
    assert server.connections == []


def test_an_unsafe_request_is_a_value_error_of_the_core():
    with pytest.raises(UnsafeRequest):
        transport.Connection("127.0.0.1", 1, 1.0).request("GET", "/ x", {}, limit=1)


# ------------------------------------------------------------------ keep-alive
def test_a_connection_is_kept_alive_across_requests(serve):
    server = serve(ok(b"one"), ok(b"two"), ok(b"three"))
    connection = server.connection()
    assert [get(connection).body for _ in range(3)] == [b"one", b"two", b"three"]
    assert [len(requests) for requests in server.connections] == [3]
    assert connection.sock is not None


@pytest.mark.parametrize(
    "answer",
    [
        ok(b"bye", "Connection: close"),
        ok(b"bye", "Connection: Keep-Alive, Close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nbye"),  # delimited by its close
    ],
    ids=["close", "close among tokens", "HTTP/1.0", "until close"],
)
def test_an_answer_that_ends_the_connection_closes_it(serve, answer):
    server = serve(answer, ok(b"again"))
    connection = server.connection()
    assert get(connection).body == b"bye"
    assert connection.sock is None
    assert get(connection).body == b"again"  # on a new connection
    assert [len(requests) for requests in server.connections] == [1, 1]


@pytest.mark.parametrize(
    ("status", "method"),
    [("204 No Content", "GET"), ("304 Not Modified", "GET"), ("200 OK", "HEAD")],
)
def test_answers_without_a_body_are_not_waited_for(serve, status, method):
    """A 304 or a HEAD answer names the length it would have had; reading it would wait
    for bytes that never come, and the connection would then be misread."""
    server = serve(f"HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n".encode(), ok(b"next"))
    connection = server.connection(timeout=5.0)
    answer = connection.request(method, "/", {}, limit=99)
    assert (answer.status, answer.body) == (int(status[:3]), b"")
    assert get(connection).body == b"next"
    assert [len(requests) for requests in server.connections] == [2]


def test_interim_answers_are_skipped(serve):
    server = serve(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok()
    )
    assert get(server.connection()).body == b"hello"


# ------------------------------------------------------------------ answers read
def test_headers_are_lower_cased_repeats_joined_and_folded_lines_continued(serve):
    answer = ok(b"x", 'ETag: "e1"', "X-Amz-Meta: a", "x-amz-meta: b", "X-Long: one", "\ttwo")
    headers = get(serve(answer).connection()).headers
    assert headers["etag"] == '"e1"'
    assert headers["x-amz-meta"] == "a, b"
    assert headers["x-long"] == "one two"
    assert headers["content-length"] == "1"


def test_equal_repeated_lengths_are_one_length(serve):
    assert (
        get(serve(ok(b"abc", "Content-Length: 3", "Content-Length: 3")).connection()).body == b"abc"
    )


def test_a_chunked_answer_with_extensions_and_trailers(serve):
    body = b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n"
    server = serve(ok(body, "Transfer-Encoding: chunked"), ok(b"next"))
    connection = server.connection()
    assert get(connection).body == b"abcde"
    assert get(connection).body == b"next"  # the trailers were read to their end


def test_a_bare_lf_ends_a_line(serve):
    """RFC 9112 2.2: a recipient may take LF alone as a line's end."""
    assert get(serve(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi").connection()).body == b"hi"


@pytest.mark.parametrize(
    "answer",
    [
        ok(b"abc", "Content-Length: 3", "Transfer-Encoding: chunked"),  # smuggling's shape
        ok(b"abc", "Transfer-Encoding: gzip"),
        ok(b"abc", "Transfer-Encoding: gzip, chunked"),
        ok(b"abc", "Content-Length: 3", "Content-Length: 4"),
        ok(b"abc", "Content-Length: +3"),
        ok(b"abc", "Content-Length: -1"),
        ok(b"abc", "Content-Length: 0x3"),
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab",  # a digit to str, not to int
        ok(b"abc", "Bad Name: x"),
        ok(b"abc", "Name : x"),
        ok(b"abc", "no colon"),
        ok(b"abc", *[f"X-{n}: {n}" for n in range(transport.MAX_HEADERS + 1)]),
        ok(b"abc", "X-Long: " + "a" * transport.MAX_LINE),
        ok(b"4\r\nabcdef\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),  # longer than its size
        ok(b"-4\r\nabcd\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        ok(b"1" * 17 + b"\r\n", "Transfer-Encoding: chunked"),
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        b"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",  # a blank line first
        ok(b"abc", 'ETag: "a\rb"'),  # a bare CR, which would be refused when sent back
        ok(b"abc", "X-Nul: a\0b"),
        ok(b"abc", " folded: before any header"),
        b"HTTP/1.1 100 Continue\r\n\r\n" * (transport.MAX_INTERIM + 1) + ok(),
    ],
)
def test_what_is_not_http_of_the_subset_read_here_is_refused(serve, answer):
    connection = serve(answer).connection()
    with pytest.raises(BadResponse):
        get(connection, limit=1 << 20)
    assert connection.sock is None  # its state is unknown: closed


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",  # headers never end
        ok(b"abc")[:-1],  # body shorter than its length
        ok(b"3\r\nabc\r\n", "Transfer-Encoding: chunked"),  # no last chunk
        b"HTTP/1.1 200",  # status line cut
        b"HTTP/1.1 100 Continue\r\n\r\n",  # the end after an interim answer
        ok(b"0123456789")[:-4],  # body cut
    ],
)
def test_an_answer_cut_short_is_a_bad_response(serve, answer):
    def then_close(conn: socket.socket) -> None:
        conn.sendall(answer)

    with pytest.raises(BadResponse):
        get(serve(then_close).connection())


def test_bytes_past_an_answers_end_never_become_the_next_answer(serve):
    """A second answer smuggled after the first's body, or a body a HEAD answer should not
    have had: the connection is closed, and the next request gets its own answer."""
    smuggled = ok(b"abc") + ok(b"fake")
    server = serve(smuggled, ok(b"real"), ok(b"head body", status="200 OK"), ok(b"after"))
    connection = server.connection()
    assert get(connection).body == b"abc"
    assert connection.sock is None
    assert get(connection).body == b"real"
    assert connection.request("HEAD", "/", {}, limit=99).body == b""
    assert get(connection).body == b"after"
    assert [len(requests) for requests in server.connections] == [1, 2, 1]


def test_a_chunked_coding_is_named_in_any_case(serve):
    assert (
        get(serve(ok(b"2\r\nhi\r\n0\r\n\r\n", "Transfer-Encoding: Chunked")).connection()).body
        == b"hi"
    )


def test_a_close_before_any_answer_is_remote_closed(serve):
    """The one failure a kept-alive connection's caller may retry: the request raced the
    far end's idle close (a ConnectionError, as a reset is)."""
    with pytest.raises(RemoteClosed) as raised:
        get(serve(lambda conn: None).connection())
    assert isinstance(raised.value, ConnectionError)


@pytest.mark.parametrize(
    "answer",
    [
        ok(b"x" * 11),
        b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n",  # refused unread
        ok(b"6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11,
    ],
    ids=["length", "length named", "chunked", "until close"],
)
def test_a_body_over_the_limit_raises_the_callers_refusal(serve, answer):
    class Refused(Exception):
        pass

    statuses = []

    def too_large(status: int) -> Exception:
        statuses.append(status)
        return Refused()

    connection = serve(answer).connection()
    with pytest.raises(Refused):
        get(connection, limit=10, too_large=too_large)
    assert statuses == [200]
    assert connection.sock is None


def test_a_body_at_the_limit_is_read(serve):
    assert get(serve(ok(b"x" * 10)).connection(), limit=10).body == b"x" * 10


@pytest.mark.parametrize(
    ("head", "piece"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X: y\r\n"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n", b"x"),
    ],
    ids=["headers", "body"],
)
def test_the_timeout_bounds_the_whole_answer_not_each_read(serve, head, piece):
    """A peer that trickles its answer (each piece well within the timeout) is cut at the
    timeout: it cannot hold a function for the length of its trickle. Were each read
    bounded alone, the trickle would end after 3 s on an incomplete answer instead."""

    def trickle(conn: socket.socket) -> None:
        conn.sendall(head)
        for _ in range(60):
            conn.sendall(piece)
            threading.Event().wait(0.05)

    with pytest.raises(TimeoutError):
        get(serve(trickle).connection(timeout=0.5), limit=1 << 20)


# ------------------------------------------------------------------ origins
def test_dropped_sees_a_connection_the_far_end_closed(serve):
    server = serve(lambda conn: conn.sendall(ok(b"bye")))  # then closes
    connection = server.connection()
    assert not transport.dropped(connection)  # never opened
    get(connection)
    for _ in range(200):
        if transport.dropped(connection):
            break
        threading.Event().wait(0.01)
    assert transport.dropped(connection)
    assert not transport.dropped(None)


def test_host_names_never_load_the_idna_codec(serve):
    """In a fresh interpreter: a request to ``localhost`` (resolved, as AWS endpoints are)
    leaves ``encodings.idna`` unloaded, which a host name given as text would load."""
    server = serve(ok(b"fine"))
    code = (
        "import sys; from authcore import transport; "
        f"c = transport.Connection('localhost', {server.port}, 5.0); "
        "assert c.request('GET', '/', {}, limit=9).body == b'fine'; "
        "print('encodings.idna' in sys.modules, 'http.client' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "layers" / "common")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("url", "tls", "authority", "port", "target"),
    [
        (
            "https://dynamodb.eu-west-1.amazonaws.com",
            True,
            "dynamodb.eu-west-1.amazonaws.com",
            443,
            "/",
        ),
        (
            "HTTPS://Feed.s3.amazonaws.com/revocations/",
            True,
            "Feed.s3.amazonaws.com",
            443,
            "/revocations/",
        ),
        (
            "https://auth.example.com:8443/jwks.json?v=1",
            True,
            "auth.example.com:8443",
            8443,
            "/jwks.json?v=1",
        ),
        ("https://[2001:db8::1]/keys", True, "[2001:db8::1]", 443, "/keys"),
        ("http://127.0.0.1:5000/", False, "127.0.0.1:5000", 5000, "/"),
        ("http://localhost:4566", False, "localhost:4566", 4566, "/"),
        ("http://LOCALHOST:4566\n", False, "LOCALHOST:4566", 4566, "/"),  # as a file left it
    ],
)
def test_connect_reads_an_origin_and_a_target(url, tls, authority, port, target):
    connection, sent = transport.connect(url, 1.0)
    assert (connection.tls is not None, connection.authority, connection.port) == (
        tls,
        authority,
        port,
    )
    assert sent == target
    assert connection.sock is None  # not opened before its first request


@pytest.mark.parametrize(
    "url",
    [
        "http://dynamodb.eu-west-1.amazonaws.com",  # plain HTTP beyond this machine
        "http://localhost.evil.example/",
        "http://127.0.0.1.evil.example/",
        "https://user:pass@auth.example.com/",  # user information: never sent anywhere
        "https://auth.example.com/jwks#fragment",
        "https://auth.example.com?v=1",
        "https://auth.example.com:0/",
        "https://auth.example.com:65536/",
        "https://auth.example.com:/",
        "https://-auth.example.com/",
        "https://auth example.com/",
        "https://b\u00fccher.example/",  # not ASCII: never IDNA-encoded here
        "https:///jwks",
        "ftp://auth.example.com/",
        "auth.example.com/jwks",
        "",
    ],
)
def test_connect_refuses_what_it_does_not_read_whole(url):
    assert transport.connect(url, 1.0) is None
