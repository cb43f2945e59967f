"""HTTP/1.1 client connections: what every AWS call, key read and feed poll sends through.

Why not ``http.client``: importing it costs ~9 ms of a cold start here (``bench.coldstart``),
most of it the ``email`` package it parses headers with, paid by every function on its
first AWS call, and by the authorizer on every cold start, a sixth of its budget (issue #20).
Lambda's own runtime client imports it lazily for the same reason. What these connections
need is narrow: requests to AWS endpoints (and to this machine, for local runs) over
verified TLS, kept alive, answers bounded in size and time. So this module speaks that
subset of HTTP/1.1 (RFC 9112) and refuses the rest:

- the request line, headers and targets are checked for what could split a request
  (CR, LF, NUL, spaces in a target; names that are not tokens), as ``http.client`` checks;
- an answer is framed by ``Content-Length``, by ``Transfer-Encoding: chunked``, or by the
  connection's close (RFC 9112 section 6.3). Any other transfer coding, both framings at
  once, conflicting lengths, more than ``MAX_HEADERS`` header lines or a line longer than
  ``MAX_LINE``: refused (``errors.BadResponse``), the connection closed. Interim ``1xx`` answers
  are skipped;
- every read is bounded by the request's deadline, not per read: an answer trickled one
  byte at a time cannot hold a function past its timeout;
- host names reach the resolver and TLS as ASCII bytes, so that neither imports the IDNA
  codec (~1 ms); every AWS endpoint's name is ASCII, and a name that is not is refused;
- URLs are read by one strict pattern (``connect``), not ``urllib.parse`` (~3 ms of a cold
  start, with the ``ipaddress`` module it imports).
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from authcore.errors import BadResponse, RemoteClosed, UnsafeRequest

# http.client's bounds: a longer line or more headers is not an AWS answer.
MAX_LINE = 65536
MAX_HEADERS = 100
# Interim answers (100 Continue, 103 Early Hints) skipped before the final one.
MAX_INTERIM = 8

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Request splitting: a CR or LF in a header value or a target would start a new line.
_UNSAFE_VALUE = re.compile(r"[\r\n\0]")
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")  # and nothing outside ASCII, as http.client
# A header value as received: a bare CR, a NUL or another control character (but a tab) is
# invalid (RFC 9112 2.2, RFC 9110 5.5); kept, it would be refused when sent back (an ETag).
_BAD_FIELD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# The URLs configuration gives (AWS endpoints, a JWKS, a feed's mirror): a scheme, an ASCII
# host name or a bracketed IPv6 literal, a port, a path with its query. No user information,
# no fragment, nothing urllib.parse would repair or ignore: a URL not read whole is refused.
_URL = re.compile(
    r"(?i:(https?))://(?:([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)|\[([0-9A-Fa-f:.]+)\])"
    r"(?::([0-9]{1,5}))?(/[^\s#]*)?"
)


class Response(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "


def _too_large(status: int) -> Exception:
    return BadResponse("response too large")


class Connection:
    """One connection to one origin, opened at its first request and kept alive between
    requests while the far end allows it. Not for two threads at once."""

    def __init__(
        self,
        host: str,
        port: int | None,
        timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port or (443 if tls is not None else 80)
        self.timeout = timeout
        self.tls = tls
        literal = f"[{host}]" if ":" in host else host
        self.authority = literal if port is None else f"{literal}:{port}"
        self.sock: socket.socket | None = None
        self._buffer = b""  # what was received and not yet read

    def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        limit: int,
        too_large: Callable[[int], Exception] = _too_large,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read its whole answer, of at most ``limit`` bytes of body
        (else ``too_large(status)`` is raised), all within ``timeout`` seconds of the call
        (the connection's own if None; else ``TimeoutError``). Any failure closes the
        connection: its state is unknown."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        head = _request_head(method, target, headers, body, self.authority)
        try:
            sock = self.sock or self._open(deadline)
            sock.settimeout(_left(deadline))
            sock.sendall(head + body)
            response, keep = self._answer(method, deadline, limit, too_large)
        except BaseException:
            self.close()
            raise
        # Bytes past the answer's end (a body a HEAD or 304 answer should not have had, a
        # stray line) would be read as the next request's answer: that connection is done.
        if not keep or self._buffer or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            self.close()
        return response

    def close(self) -> None:
        sock, self.sock, self._buffer = self.sock, None, b""
        if sock is not None:
            sock.close()

    # ------------------------------------------------------------------ the answer
    def _open(self, deadline: float) -> socket.socket:
        # ASCII bytes: a str host would make getaddrinfo and ssl encode it with the IDNA
        # codec, whose import (with stringprep and unicodedata) is ~1 ms of a cold start.
        # A name that is not ASCII raises UnicodeEncodeError (a ValueError), never sent.
        name = self.host.encode("ascii")
        # typeshed types the host as str; getaddrinfo, under create_connection, takes bytes.
        # The deadline bounds the connection and the TLS handshake too (the name's lookup is
        # the resolver's: getaddrinfo takes no timeout).
        sock = socket.create_connection((name, self.port), _left(deadline))  # type: ignore[arg-type]
        if self.tls is not None:
            try:
                sock.settimeout(_left(deadline))
                sock = self.tls.wrap_socket(sock, server_hostname=name)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        return sock

    def _answer(
        self,
        method: str,
        deadline: float,
        limit: int,
        too_large: Callable[[int], Exception],
    ) -> tuple[Response, bool]:
        first = True
        for _ in range(MAX_INTERIM + 1):
            version, status = self._status_line(deadline, first)
            first = False
            headers = self._headers(deadline)
            if 100 <= status < 200:
                if status == 101:
                    raise BadResponse("unasked protocol switch")
                continue
            break
        else:
            raise BadResponse("too many interim answers")
        keep = version == "HTTP/1.1" and "close" not in _tokens(headers.get("connection", ""))
        if method == "HEAD" or status in (204, 304):
            return Response(status, b"", headers), keep
        coding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if coding is not None:
            # Both framings at once is how requests are smuggled: never guess which wins.
            if length is not None or _tokens(coding) != ["chunked"]:
                raise BadResponse("unsupported transfer coding")
            body = self._chunked(deadline, limit, status, too_large)
        elif length is not None:
            size = _content_length(length)
            if size > limit:
                raise too_large(status)
            body = self._exactly(size, deadline)
        else:
            body, keep = self._until_close(deadline, limit, status, too_large), False
        return Response(status, body, headers), keep

    def _status_line(self, deadline: float, first: bool) -> tuple[str, int]:
        line = self._line_or_end(deadline)
        if line is None:
            if first:
                raise RemoteClosed("closed before an answer")
            raise BadResponse("incomplete answer")
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if (
            version not in (b"HTTP/1.1", b"HTTP/1.0")
            or len(code) != 3
            or not code.isdigit()
            or code < b"100"
            or rest[3:4] not in (b"", b" ")
        ):
            raise BadResponse("bad status line")
        return version.decode(), int(code)

    def _headers(self, deadline: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        last = ""
        for _ in range(MAX_HEADERS + 1):
            line = self._line(deadline, eof=BadResponse("incomplete headers"))
            if not line:
                return headers
            if _BAD_FIELD_VALUE.search(line):
                raise BadResponse("control character in a header")
            if line[:1] in (b" ", b"\t"):
                # An obsolete folded line continues the previous header (RFC 9112 5.2).
                if not last:
                    raise BadResponse("bad header")
                headers[last] += " " + line.strip().decode("latin-1")
                continue
            name, colon, value = line.partition(b":")
            text = name.decode("latin-1")
            if not colon or not _TOKEN.fullmatch(text):
                # Includes a space before the colon, which RFC 9112 5.1 says to reject.
                raise BadResponse("bad header")
            last = text.lower()
            decoded = value.strip(b" \t").decode("latin-1")
            headers[last] = f"{headers[last]}, {decoded}" if last in headers else decoded
        raise BadResponse("too many headers")

    def _chunked(
        self, deadline: float, limit: int, status: int, too_large: Callable[[int], Exception]
    ) -> bytes:
        body = bytearray()
        while True:
            line = self._line(deadline, eof=BadResponse("incomplete chunk"))
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise BadResponse("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > limit:
                raise too_large(status)
            body += self._exactly(size, deadline)
            if self._line(deadline, eof=BadResponse("incomplete chunk")):
                raise BadResponse("chunk longer than its size")
        # Trailer fields, read and dropped: nothing here is carried in one.
        self._headers(deadline)
        return bytes(body)

    def _until_close(
        self, deadline: float, limit: int, status: int, too_large: Callable[[int], Exception]
    ) -> bytes:
        body = bytearray(self._take(len(self._buffer)))
        while len(body) <= limit:
            chunk = self._recv(deadline)
            if not chunk:
                return bytes(body)
            body += chunk
        raise too_large(status)

    # ------------------------------------------------------------------ reading
    def _line(self, deadline: float, eof: Exception) -> bytes:
        """The next line without its ending; ``eof`` is raised at the end of the stream."""
        line = self._line_or_end(deadline)
        if line is None:
            raise eof
        return line

    def _line_or_end(self, deadline: float) -> bytes | None:
        """The next line without its ending (CRLF, or a bare LF: RFC 9112 2.2); None at the
        end of the stream, told apart from an empty line."""
        while True:
            end = self._buffer.find(b"\n", 0, MAX_LINE + 1)
            if end >= 0:
                line = self._take(end + 1)
                return line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if len(self._buffer) > MAX_LINE:
                raise BadResponse("line too long")
            chunk = self._recv(deadline)
            if not chunk:
                if self._buffer:
                    raise BadResponse("incomplete line")
                return None
            self._buffer += chunk

    def _exactly(self, size: int, deadline: float) -> bytes:
        parts = [self._take(min(size, len(self._buffer)))]
        missing = size - len(parts[0])
        while missing:
            chunk = self._recv(deadline, missing)
            if not chunk:
                raise BadResponse("incomplete body")
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    def _take(self, size: int) -> bytes:
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return taken

    def _recv(self, deadline: float, most: int = 65536) -> bytes:
        sock = self.sock
        if sock is None:  # closed by another thread: never shared, so never here
            raise RemoteClosed("connection closed")
        sock.settimeout(_left(deadline))
        return sock.recv(min(most, 65536))


def _left(deadline: float) -> float:
    """The seconds left before ``deadline`` (monotonic), for a socket's timeout."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("response too slow")
    return left


def _request_head(
    method: str, target: str, headers: Mapping[str, str], body: bytes, authority: str
) -> bytes:
    if not _TOKEN.fullmatch(method) or not target or _UNSAFE_TARGET.search(target):
        raise UnsafeRequest("unsafe request line")
    names = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {authority}")
    if "accept-encoding" not in names:
        # An encoded answer would be bytes nobody here decodes.
        lines.append("Accept-Encoding: identity")
    for name, value in headers.items():
        if not (isinstance(value, str) and _TOKEN.fullmatch(name)) or _UNSAFE_VALUE.search(value):
            raise UnsafeRequest("unsafe header")
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    # Latin-1, as HTTP's header octets; a character outside it raises UnicodeEncodeError,
    # a ValueError like the other refusals of what cannot be sent.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def _content_length(value: str) -> int:
    # A repeated header arrives joined ("5, 5"): equal copies are one length (RFC 9110
    # 8.6); different ones are a framing attack or a broken peer.
    lengths = {part.strip() for part in value.split(",")}
    if len(lengths) != 1:
        raise BadResponse("conflicting lengths")
    (length,) = lengths
    if not length.isdigit() or not length.isascii() or len(length) > 18:
        raise BadResponse("bad length")
    return int(length)


# ---------------------------------------------------------------------- TLS and origins
_tls_context: ssl.SSLContext | None = None
_tls_context_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """The container's one TLS client context: verified certificates and host names
    (``ssl.create_default_context()``), shared by every connection and thread.

    Made once, because making one loads and parses the whole CA bundle: ~20 ms of CPU here
    with OpenSSL 3 (``bench.coldstart`` prints it), paid at every new connection when each
    made its own (``http.client``'s default) - twice in an authorizer's first event (its
    keys, the revocation feed), and again at every feed poll. Under a lock: those two
    connect at once (``authcore.runtime.verifying``), and would each make one."""
    global _tls_context
    context = _tls_context
    if context is None:
        with _tls_context_lock:
            if _tls_context is None:
                _tls_context = ssl.create_default_context()
            context = _tls_context
    return context


def forget_tls_context() -> None:
    """The next connection makes a new context (SnapStart's restore, tests)."""
    global _tls_context
    _tls_context = None


def connect(url: str, timeout: float) -> tuple[Connection, str] | None:
    """A connection for ``url``'s origin and the request target ``url`` names (its path and
    query, ``/`` if none): verified TLS anywhere (``tls_context``), plain HTTP only to this
    machine (local runs), None for anything else, including any URL ``_URL`` does not read
    whole. Not opened yet: its first request opens it."""
    # Surrounding spaces and a final newline, as configuration files leave them (urlsplit
    # dropped them too); nothing else is repaired.
    match = _URL.fullmatch(url.strip())
    if match is None:
        return None
    scheme, name, literal, port, target = match.groups()
    number = int(port) if port else None
    if number is not None and not 0 < number < 65536:
        return None
    host = name or literal
    if scheme.lower() == "https":
        return Connection(host, number, timeout, tls_context()), target or "/"
    if host.lower() in ("localhost", "127.0.0.1"):
        return Connection(host, number, timeout), target or "/"
    return None


def dropped(connection: Connection | None) -> bool:
    """A kept-alive connection the far end has closed (idle timeouts; a container thawed
    after minutes): its socket reads as ready, at end of file. Checked before each reuse,
    as urllib3's pool does for botocore, so that it costs neither an attempt nor a pause."""
    sock = connection.sock if connection is not None else None
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
