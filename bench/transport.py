"""What ``authcore.transport`` costs against ``http.client``, which it replaced (issue #20),
both measured in the same run.

    .venv/bin/python -m bench.transport [--requests N] [--rounds N] [--processes N]

1. A warm request: one signed-size POST (a DynamoDB ``GetItem``'s headers and body) and its
   answer (a ``GetItem`` item, DynamoDB's headers), over a kept-alive connection to a local
   server that answers from memory, through each client, in interleaved rounds
   (``bench.interleaved``); the median per request, and the ratio to ``http.client``. The
   server's share (a Python thread on this machine) is in both rows alike.
2. The import: fresh processes importing each (``authcore.transport``, ``http.client``)
   next to a bare ``python -c pass``, interleaved; the medians over bare, wall and CPU.
3. What a kept connection saves: the same request over HTTPS through ``authcore.transport``,
   on a kept-alive connection and on a new one each time (TCP connect, TLS handshake with
   the certificate chain and host name verified, as against AWS: an RSA-2048 leaf under an
   RSA-2048 CA, ``localhost``), interleaved; the medians of wall time and of the calling
   thread's CPU (the server's handshake work runs in its own thread). This is what each
   client sharing its endpoint's connection (``authcore.awsjson``) saves per connection not
   opened; in a Region, the handshake's round trips come on top.

Targets: a warm request no slower than through ``http.client`` (ratio at most 1.0), and an
import that costs less.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import sys
import time
from pathlib import Path

from bench import fresh_process, interleaved
from infra.devkit.rawhttp import RawServer
from infra.devkit.rawhttp import requests as requests_of

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
sys.path.insert(0, str(LAYER))

from authcore import transport  # noqa: E402 - the layer is put on the path just above

# A GetItem answer: DynamoDB's headers, an item of a few attributes.
BODY = (
    b'{"Item":{"pk":{"S":"SESSION#0f5b8a8e3c2d4b1a9e7f6d5c4b3a2918"},"sk":{"S":"META"},'
    b'"sub":{"S":"f421a7de-980e-45e8-974d-fd52f108b0e2"},"revoked_at":{"N":"0"},'
    b'"expires_at":{"N":"1798761600"},"generation":{"N":"3"},"family":'
    b'{"S":"a1b2c3d4e5f60718293a4b5c6d7e8f90"},"created_at":{"N":"1798675200"}}}'
)
ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: Server\r\n"
    b"Date: Sun, 29 Nov 2026 15:00:00 GMT\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\n"
    + f"Content-Length: {len(BODY)}\r\n".encode()
    + b"Connection: keep-alive\r\n"
    b"x-amzn-RequestId: 6KLEQ2N4M0B7V9RS1PQ8T3U5W6X7Y8Z9AABBCCDDEEFFGGHH\r\n"
    b"x-amz-crc32: 3254913893\r\n\r\n" + BODY
)
REQUEST_BODY = (
    b'{"TableName":"auth-sessions","Key":{"pk":{"S":"SESSION#0f5b8a8e3c2d4b1a9e7f6d5c4b3a2918"},'
    b'"sk":{"S":"META"}},"ConsistentRead":true}'
)
HEADERS = {
    "content-type": "application/x-amz-json-1.0",
    "x-amz-target": "DynamoDB_20120810.GetItem",
    "x-amz-date": "20261129T150000Z",
    "x-amz-security-token": "IQoJb3JpZ2luX2VjEJr" + "A" * 380,
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE12/20261129/eu-west-1/dynamodb/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
        "x-amz-target, Signature=" + "0f" * 32
    ),
}
WARMUP = 2  # rounds run before the measured ones
IMPORTS = {
    "python -c pass": "pass",
    "authcore.transport": "import authcore.transport",
    "http.client": "import http.client",
}


def _answer_every_request(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in requests_of(conn):
        conn.sendall(ANSWER)


def warm(requests: int, rounds: int) -> dict[str, float]:
    """Microseconds per kept-alive request through each client (median of rounds)."""
    import http.client

    server = RawServer(_answer_every_request)
    ours = transport.Connection("127.0.0.1", server.port, 5.0)
    theirs = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5.0)

    def through_transport() -> None:
        for _ in range(requests):
            answer = ours.request("POST", "/", HEADERS, REQUEST_BODY, limit=1 << 20)
            assert answer.status == 200
            assert len(answer.body) == len(BODY)

    def through_http_client() -> None:
        for _ in range(requests):
            theirs.request("POST", "/", body=REQUEST_BODY, headers=HEADERS)
            response = theirs.getresponse()
            body = response.read()
            headers = {name.lower(): value for name, value in response.getheaders()}
            assert response.status == 200
            assert len(body) == len(BODY)
            assert headers

    try:
        samples = interleaved(
            {"authcore.transport": through_transport, "http.client": through_http_client},
            rounds,
            warmup=WARMUP,
        )
    finally:
        ours.close()
        theirs.close()
        server.close()
    return {name: statistics.median(values) * 1000 / requests for name, values in samples.items()}


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a ``localhost`` leaf it signed (RSA-2048 both, as AWS's endpoints serve):
    the CA's file, and the leaf's chain and key files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issued(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, signer: rsa.RSAPrivateKey,
               ca: bool) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = issued("bench CA", ca_key, ca_name, ca_key, True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = issued("localhost", leaf_key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    files = folder / "ca.pem", folder / "chain.pem", folder / "key.pem"
    files[0].write_bytes(ca.public_bytes(pem))
    files[1].write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    files[2].write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def connections(requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    """(wall, thread CPU) µs per HTTPS request on a kept-alive connection and on a new one."""
    import ssl
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        ca_file, chain_file, key_file = _certificates(Path(folder))
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(chain_file, key_file)
        client_context = ssl.create_default_context(cafile=str(ca_file))

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        secure = server_context.wrap_socket(conn, server_side=True)
        for _ in requests_of(secure):
            secure.sendall(ANSWER)

    server = RawServer(serve)
    kept = transport.Connection("localhost", server.port, 5.0, client_context)
    cpu: dict[str, float] = {"kept": 0.0, "new": 0.0}

    def over(connection: transport.Connection) -> None:
        answer = connection.request("POST", "/", HEADERS, REQUEST_BODY, limit=1 << 20)
        assert answer.status == 200
        assert len(answer.body) == len(BODY)

    def on_kept() -> None:
        started = time.thread_time()
        for _ in range(requests):
            over(kept)
        cpu["kept"] += time.thread_time() - started

    def on_new() -> None:
        started = time.thread_time()
        for _ in range(requests):
            fresh = transport.Connection("localhost", server.port, 5.0, client_context)
            over(fresh)
            fresh.close()
        cpu["new"] += time.thread_time() - started

    try:
        samples = interleaved({"kept": on_kept, "new": on_new}, rounds, warmup=WARMUP)
    finally:
        kept.close()
        server.close()
    calls = requests * (rounds + WARMUP)  # the CPU sums include the warm-up rounds
    return {
        name: (statistics.median(values) * 1000 / requests, cpu[name] * 1e6 / calls)
        for name, values in samples.items()
    }


def imports(processes: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) ms over bare of importing each, medians of interleaved fresh processes."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(LAYER)}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in IMPORTS}
    order = list(IMPORTS.items())
    shuffler = random.Random(0)
    for _ in range(processes):
        shuffler.shuffle(order)
        for name, code in order:
            done = fresh_process([sys.executable, "-c", code], env, ROOT)
            assert done.returncode == 0, done.stderr
            samples[name].append((done.wall_ms, done.cpu_ms))
    bare_wall = statistics.median(wall for wall, _ in samples["python -c pass"])
    bare_cpu = statistics.median(cpu for _, cpu in samples["python -c pass"])
    return {
        name: (
            statistics.median(wall for wall, _ in values) - bare_wall,
            statistics.median(cpu for _, cpu in values) - bare_cpu,
        )
        for name, values in samples.items()
        if name != "python -c pass"
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds")
    parser.add_argument("--processes", type=int, default=21, help="fresh processes of each")
    args = parser.parse_args(argv)
    per_request = warm(args.requests, args.rounds)
    imported = imports(args.processes)
    ratio = per_request["authcore.transport"] / per_request["http.client"]
    command = " ".join([".venv/bin/python -m bench.transport", *(argv or sys.argv[1:])])
    print(f"`{command}`")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s); {args.rounds} rounds of "
        f"{args.requests} kept-alive requests, {args.processes} fresh processes of each import\n"
    )
    print("| client | warm request µs (median) | ratio | import ms over bare (wall / CPU) |")
    print("|---|---:|---:|---:|")
    for name in ("authcore.transport", "http.client"):
        wall, cpu = imported[name]
        print(
            f"| `{name}` | {per_request[name]:.1f} | "
            f"{per_request[name] / per_request['http.client']:.2f}x | {wall:.1f} / {cpu:.1f} |"
        )
    tls = connections(max(1, args.requests // 10), args.rounds)
    (kept_wall, kept_cpu), (new_wall, new_cpu) = tls["kept"], tls["new"]
    print(
        "\n| HTTPS request (authcore.transport) | wall µs (median) | CPU µs (this thread) |\n"
        "|---|---:|---:|\n"
        f"| on a kept-alive connection | {kept_wall:.0f} | {kept_cpu:.0f} |\n"
        f"| on a new one (connect, verified TLS handshake) | {new_wall:.0f} | {new_cpu:.0f} |\n"
        f"| **a connection not opened saves** | **{new_wall - kept_wall:.0f}** | "
        f"**{new_cpu - kept_cpu:.0f}** |"
    )
    saved = imported["http.client"][1] - imported["authcore.transport"][1]
    print(
        f"\nverdict: a warm request no slower than through http.client: {ratio:.2f}x "
        f"{'yes' if ratio <= 1.0 else 'NO'}"
    )
    print(
        f"verdict: an import that costs less: {saved:+.1f} ms of CPU saved "
        f"{'yes' if saved > 0 else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
