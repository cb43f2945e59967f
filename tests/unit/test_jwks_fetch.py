"""fetch_jwks: the authorizer's one HTTP request, against raw local servers."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authcore.keys.ring import MAX_JWKS_BYTES, fetch_jwks

JWKS = {"keys": [{"kty": "EC", "kid": "k1"}]}
BODY = json.dumps(JWKS).encode()


class RawServer:
    """Answers every connection with ``answer`` (bytes, or a callable writing to
    the socket) and records the request it read."""

    def __init__(self, answer, tls_context=None):
        self.answer = answer
        self.requests = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._tls = tls_context
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                if self._tls is not None:
                    conn = self._tls.wrap_socket(conn, server_side=True)
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        break
                    request += data
                self.requests.append(request)
                if callable(self.answer):
                    self.answer(conn)
                else:
                    conn.sendall(self.answer)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self):
        self._listener.close()


@pytest.fixture
def serve():
    servers = []

    def start(answer, tls_context=None):
        server = RawServer(answer, tls_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def response(body=BODY, status=b"200 OK", headers=None):
    lines = [b"HTTP/1.1 " + status]
    if headers is None:
        headers = {b"Content-Type": b"application/json", b"Content-Length": str(len(body)).encode()}
    lines += [name + b": " + value for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body, size=7, extension=b""):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += f"{len(piece):x}".encode() + extension + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: 1\r\n\r\n"


def test_a_plain_response_with_content_length(serve):
    server = serve(response())
    assert fetch_jwks(f"http://127.0.0.1:{server.port}/.well-known/jwks.json?v=1") == JWKS
    request = server.requests[0]
    assert request.startswith(b"GET /.well-known/jwks.json?v=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"Accept-Encoding: identity\r\n" in request


@pytest.mark.parametrize("extension", [b"", b";name=value"])
def test_a_chunked_response(serve, extension):
    headers = {b"Transfer-Encoding": b"chunked"}
    server = serve(response(chunked(BODY, extension=extension), headers=headers))
    assert fetch_jwks(f"http://localhost:{server.port}/jwks") == JWKS


def test_a_body_delimited_by_the_connection_close(serve):
    server = serve(response(headers={b"Content-Type": b"application/json"}))
    assert fetch_jwks(f"http://127.0.0.1:{server.port}/jwks") == JWKS


def test_content_length_ignores_anything_after_the_body(serve):
    server = serve(response() + b"garbage")
    assert fetch_jwks(f"http://127.0.0.1:{server.port}/jwks") == JWKS


@pytest.mark.parametrize(
    "status", [b"404 Not Found", b"500 Internal Server Error", b"302 Found", b"204 No Content"]
)
def test_anything_but_200_fails(serve, status):
    server = serve(response(status=status))
    with pytest.raises(OSError, match="answered"):
        fetch_jwks(f"http://127.0.0.1:{server.port}/jwks")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",  # head never ends
        response()[:-5],  # shorter than its Content-Length
        response(chunked(BODY), headers={b"Transfer-Encoding": b"chunked"})[:-20],
        response(b"5\r\nabc\r\n0\r\n\r\n", headers={b"Transfer-Encoding": b"chunked"}),
        response(b"zz\r\n", headers={b"Transfer-Encoding": b"chunked"}),
        b"SSH-2.0-OpenSSH\r\n\r\n",
        response(b"<html>not json</html>"),
        response(BODY, headers={b"Content-Encoding": b"gzip"}),
    ],
)
def test_malformed_responses_fail(serve, raw):
    server = serve(raw)
    # The transport's refusals are OSErrors (BadResponse, RemoteClosed); the parser's
    # and the encoding check's, ValueErrors.
    with pytest.raises((ValueError, OSError)):
        fetch_jwks(f"http://127.0.0.1:{server.port}/jwks")


def test_an_oversized_jwks_fails(serve):
    big = json.dumps({"keys": [], "pad": "x" * MAX_JWKS_BYTES}).encode()
    for raw in (
        response(big),
        response(chunked(big, size=4096), headers={b"Transfer-Encoding": b"chunked"}),
        response(big, headers={}),
    ):
        server = serve(raw)
        with pytest.raises(ValueError, match="too large"):
            fetch_jwks(f"http://127.0.0.1:{server.port}/jwks")


def test_a_slow_drip_is_cut_at_the_timeout(serve):
    def drip(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(20):
            conn.sendall(b"X: y\r\n")
            time.sleep(0.1)

    server = serve(drip)
    # The drip never completes a response: the fetch fails (and the ring keeps its last
    # good keys) instead of handing half a JWKS to the parser. It fails on the timeout,
    # which bounds the whole answer: each header line comes well within it, and the drip
    # would otherwise end in 2 s on an incomplete answer (BadResponse).
    with pytest.raises(TimeoutError):
        fetch_jwks(f"http://127.0.0.1:{server.port}/jwks", timeout=0.5)


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.com/.well-known/jwks.json",
        "http://localhost.evil.example/jwks",
        "http://127.0.0.1.evil.example/jwks",
        "ftp://auth.example.com/jwks",
        "file:///etc/passwd",
        "https:///jwks",
        "jwks.json",
        "",
    ],
)
def test_only_https_or_this_machine(url):
    with pytest.raises(ValueError, match="https"):
        fetch_jwks(url)


def _self_signed():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _tls_server_context(tmp_path):
    key, cert = _self_signed()
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert


def test_https_verifies_the_certificate(serve, tmp_path):
    context, _ = _tls_server_context(tmp_path)
    server = serve(response(), tls_context=context)
    # A certificate nobody vouches for: refused, as urllib would refuse it.
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch_jwks(f"https://localhost:{server.port}/jwks")
    assert server.requests == []  # nothing was sent over the untrusted connection


def test_https_verifies_the_host_name(serve, tmp_path, monkeypatch):
    """The connection hands TLS its host name as ASCII bytes (no IDNA codec): the name is
    still checked. A certificate trusted for ``localhost`` serves ``localhost``, and is
    refused at ``127.0.0.1``, the same server under a name it does not hold."""
    from authcore import transport

    context, cert = _tls_server_context(tmp_path)
    server = serve(response(), tls_context=context)
    trusting = ssl.create_default_context(
        cadata=cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    monkeypatch.setattr(transport, "_tls_context", trusting)
    assert fetch_jwks(f"https://localhost:{server.port}/jwks") == JWKS
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        fetch_jwks(f"https://127.0.0.1:{server.port}/jwks")
    assert len(server.requests) == 1


def test_every_tls_connection_shares_one_context(monkeypatch):
    """Making a TLS context loads the whole CA bundle (~20 ms with OpenSSL 3): the
    container makes one, not one per connection or per feed poll, and it still verifies
    certificates and host names."""
    from authcore import transport

    made = []

    def counting() -> ssl.SSLContext:
        made.append(1)
        return real()

    real = ssl.create_default_context
    transport.forget_tls_context()
    monkeypatch.setattr(transport.ssl, "create_default_context", counting)
    try:
        opened = [
            transport.connect(url, 1.0)
            for url in (
                "https://dynamodb.eu-west-1.amazonaws.com/",
                "https://feed.s3.eu-west-1.amazonaws.com/revocations/snapshot.json",
                "https://feed.s3.eu-west-1.amazonaws.com/revocations/delta.json",
            )
        ]
        contexts = {id(connection.tls) for connection, _ in filter(None, opened)}
        assert len(made) == 1
        assert contexts == {id(transport.tls_context())}
        assert transport.tls_context().verify_mode == ssl.CERT_REQUIRED
        assert transport.tls_context().check_hostname
    finally:
        transport.forget_tls_context()


def test_connections_opened_at_once_by_two_threads_share_one_context(monkeypatch):
    """The authorizer's first request connects for its keys and for the revocation feed
    at once (authcore.runtime.verifying): the second must wait for the first's context,
    not load the CA bundle again beside it."""
    import threading
    import time

    from authcore import transport

    made = []
    real = ssl.create_default_context

    def slow() -> ssl.SSLContext:
        made.append(1)
        time.sleep(0.2)  # both threads are past their first look by then
        return real()

    transport.forget_tls_context()
    monkeypatch.setattr(transport.ssl, "create_default_context", slow)
    start = threading.Barrier(2)
    got: list[ssl.SSLContext] = []

    def connect() -> None:
        start.wait()
        got.append(transport.tls_context())

    threads = [threading.Thread(target=connect) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(made) == 1
        assert got[0] is got[1]
    finally:
        transport.forget_tls_context()
