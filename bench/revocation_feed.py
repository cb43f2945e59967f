"""What the revocation feed (contract §10) costs and how fast it bites, against the
stateless authorizer measured in the same run.

    .venv/bin/python -m bench.revocation_feed            # the issue's sizes (~5 minutes)
    .venv/bin/python -m bench.revocation_feed --fast     # tiny sizes, 1 s interval (smoke)

Everything runs against one moto server on localhost (S3 and DynamoDB with its stream),
through the real code: the authorizer's handler (``functions/authorizer/app.py``), the
feed's reader (``authcore.revocation.feed`` / ``.source``), the publisher's handler
(``functions/revocation_feed/app.py``) and ``authcore.revocation.publisher``.

1. Warm: the handler on a new and on a repeated token, feed on (the default interval,
   a realistic set in memory) against stateless (``REVOCATION_POLL_SECONDS=0``), in
   interleaved rounds (``bench.authorizer``'s helpers); the feed's check alone.
2. Cold: fresh processes importing the handler and answering a first event, with the
   feed in S3 (moto server) holding a realistic snapshot; whether boto3 or botocore was
   imported (``sys.modules`` in the child) and how many requests reached S3 (counted
   on the wire by a relay in front of moto).
3. Bytes per poll: request and answer bytes on the wire, headers included, for the
   snapshot, the first delta and a poll with nothing new, signed S3 (moto) and a plain
   HTTP feed.
4. Size: the publisher's snapshot and delta for N sessions revoked within the window
   (built by the real ``Publisher``: the bulk, then a publication a second for the last
   minute), raw and gzip; a cold container's parse + apply time and memory; the purge;
   the capacity ceiling (entries that make the snapshot exceed ``MAX_OBJECT_BYTES``).
5. Lag: logout (the sessions table's ``revoked_at`` write, as logout makes it) to the
   first refusal by a warm authorizer answering a steady stream of requests, over
   ``--trials`` trials, with the stream polled every 0.25 s as Lambda does and the
   publisher invoked in this process: real time, real S3 requests, no frozen clock.
6. Cost per million requests: stateless, feed and session-checked, from the figures
   above and the list prices below.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import io
import json
import math
import os
import platform
import random
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.authorizer import (
    FAKE_AWS,
    ISSUER,
    LAYER,
    ROOT,
    Batch,
    WarmContainers,
    _container,
    _events,
    _interleave_samples,
    _issue,
    _serve,
    _session_item,
)

BUCKET = "bench-revocation-feed"
SESSIONS_TABLE = "bench-feed-sessions"
# The window a revoked session stays in the feed with the defaults: the access token's
# lifetime (900 s) + the verifiers' leeway (60 s) + the publisher's SLACK_SECONDS (60 s).
WINDOW_SECONDS = 900 + 60 + 60
STREAM_POLL_SECONDS = 0.25  # Lambda polls a shard about four times a second
DEFAULT_POLL = 10

TARGET_NEW_US = 2.0
TARGET_HIT_US = 0.5
TARGET_POLL_BYTES = 200
TARGET_LAG_SLACK = 1.0

# Prices: us-east-1 list prices (Lambda and DynamoDB as docs/revocation.md already uses
# them), as of the date below; not fetched by this script, re-check them before quoting.
PRICES_AS_OF = "2026-11-28"
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_ARM_GB_SECOND = 0.0000133334
MEMORY_GB = 256 / 1024
S3_GET = 0.0004 / 1000  # S3 Standard GET (a 304 is billed as a GET)
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on-demand; a strongly consistent GetItem of < 4 KB: 1
# Not measurable here (no region): what an in-region request adds to a billed invocation.
# The conditional GET's wait on S3: the polls keep their connection alive, a new TLS one only
# after S3 has closed an idle one (bench.transport: ~3 ms more over loopback).
ASSUMED_S3_MS = 15.0
ASSUMED_GETITEM_MS = 5.0  # the session check's strongly consistent GetItem, SDK included

_CHILD = """
import time
start = time.perf_counter()
from functions.authorizer import app
imported = time.perf_counter()
import json, os, sys
answer = app.lambda_handler(json.loads(os.environ["BENCH_EVENT"]), None)
answered = time.perf_counter()
feed = app.runtime.revocation_feed()
print(json.dumps({
    "import_ms": (imported - start) * 1000,
    "first_event_ms": (answered - imported) * 1000,
    "authorized": answer.get("isAuthorized") is True,
    "sdk": sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "s3transfer"}),
    "polls": feed.polls if feed else 0,
    "entries": len(feed.revoked) if feed else 0,
}))
"""


# ---------------------------------------------------------------- counting on the wire
@dataclass
class Exchange:
    request_line: str = ""
    status: str = "?"
    sent: int = 0  # bytes from the reader, headers included
    received: int = 0  # bytes of the answer, status line and headers included


class WireCounter:
    """A TCP relay in front of a server. The feed's sources open a connection per GET
    and close it after the answer, so a connection is one request; its bytes are
    counted both ways as they cross the relay."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.exchanges: list[Exchange] = []
        self._open = 0
        self._idle = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._idle:
                self._open += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        exchange = Exchange()
        upstream = socket.create_connection(("127.0.0.1", self._upstream))

        def answers() -> None:
            while data := _recv(upstream):
                if not exchange.received:
                    exchange.status = data.split(b" ", 2)[1].decode("latin-1")
                exchange.received += len(data)
                with contextlib.suppress(OSError):
                    client.sendall(data)

        back = threading.Thread(target=answers, daemon=True)
        back.start()
        while data := _recv(client):
            if not exchange.request_line:
                exchange.request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
            exchange.sent += len(data)
            upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)
        back.join(5)
        upstream.close()
        client.close()
        with self._idle:
            self.exchanges.append(exchange)
            self._open -= 1
            self._idle.notify_all()

    def take(self) -> list[Exchange]:
        """The exchanges completed since the last call, once every connection is closed."""
        with self._idle:
            self._idle.wait_for(lambda: self._open == 0, timeout=5)
            taken, self.exchanges = self.exchanges, []
        return taken

    def close(self) -> None:
        self._listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


class _StaticFeed(BaseHTTPRequestHandler):
    """A plain HTTP mirror of the feed (``REVOCATION_FEED_URL``): ETag, ``If-None-Match``
    and ``304``, as any static file server or CDN answers."""

    def do_GET(self) -> None:
        objects: dict[str, tuple[bytes, str]] = self.server.objects  # type: ignore[attr-defined]
        stored = objects.get(self.path.lstrip("/"))
        if stored is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, etag = stored
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


# ---------------------------------------------------------------- a realistic feed
class MemoryStore:
    """The publisher's ``FeedStore`` in memory, with S3's conditional writes."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._writes = 0

    def read(self, key: str) -> tuple[bytes, str] | None:
        return self.objects.get(key)

    def write(self, key: str, body: bytes, *, if_match: str | None) -> str:
        from authcore.revocation.publisher import FeedConflict

        current = self.objects.get(key)
        if (current[1] if current else None) != if_match:
            raise FeedConflict
        self._writes += 1
        etag = f'"{self._writes}"'
        self.objects[key] = (body, etag)
        return etag


class MemorySource:
    """The reader's ``FeedSource`` over a ``MemoryStore`` (S3's answers, no socket)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def fetch(self, key: str, etag: str | None) -> Any:
        from authcore.revocation.source import Fetched

        stored = self._store.objects.get(key)
        if stored is None:
            return Fetched(404, b"", None)
        if etag == stored[1]:
            return Fetched(304, b"", etag)
        return Fetched(200, stored[0], stored[1])


def steady_feed(sessions: int, now: float) -> tuple[MemoryStore, list[float]]:
    """The feed as the real publisher leaves it when ``sessions`` sessions were revoked
    evenly over the window ending at ``now``: one publication of everything older than a
    minute, then one a second (the stream's batches) for the last minute, so the
    snapshot's ``recent`` and the delta hold a minute of publications, as in steady
    state. Session ids as the service makes them (22 characters, base64url). The
    seconds each of the last minute's publications took (the publisher's CPU)."""
    from authcore.revocation.document import expiry_group
    from authcore.revocation.publisher import Publisher

    rng = random.Random(0)
    revoked: list[tuple[float, str, int]] = []
    for i in range(sessions):
        at = now - WINDOW_SECONDS * (i + 0.5) / sessions
        sid = _sid(rng)
        revoked.append((at, sid, expiry_group(at + WINDOW_SECONDS)))
    store = MemoryStore()
    publisher = Publisher(store)
    older = {sid: until for at, sid, until in revoked if at < now - 60}
    publisher.publish(older, now=now - 60.5)
    timings = []
    for second in range(60):
        start, end = now - 60 + second, now - 59 + second
        batch = {sid: until for at, sid, until in revoked if start <= at < end}
        began = time.perf_counter()
        publisher.publish(batch, now=end)
        timings.append(time.perf_counter() - began)
    return store, timings


def publish_to_s3(s3: Any, store: MemoryStore) -> None:
    from authcore.revocation.s3 import CACHE_CONTROL

    for key, (body, _) in store.objects.items():
        s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=body,
            ContentType="application/json",
            CacheControl=CACHE_CONTROL,
        )


# ---------------------------------------------------------------- results
@dataclass
class Results:
    args: argparse.Namespace
    warm: dict[str, list[float]] = field(default_factory=dict)
    check_us: float = 0.0
    cold: dict[str, Any] = field(default_factory=dict)
    wire: dict[str, list[Exchange]] = field(default_factory=dict)
    size: dict[str, float] = field(default_factory=dict)
    lag: dict[str, list[float]] = field(default_factory=dict)
    poll_ms: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- 1. warm
def warm(
    results: Results, signer: Any, feed_env: dict[str, str], stateless_env: dict[str, str]
) -> None:
    """New and repeated tokens through two containers of the handler, stateless and fed,
    interleaved round by round (``bench.authorizer``'s ``_interleave``). Each batch starts
    in a new container whose snapshot is loaded outside the timing, so no poll falls in a
    timed batch (a batch lasts well under the interval): the poll is costed apart."""
    args = results.args
    http, _ = _events()
    now = time.time()
    tokens = [[_issue(signer, now) for _ in range(args.tokens)] for _ in range(args.rounds)]
    containers = WarmContainers(
        {"stateless": stateless_env, "feed": feed_env}, http, _issue(signer, now)
    )
    n = int(20 * args.tokens)

    variants: dict[str, Batch] = {
        "stateless_new": containers.fresh_tokens("stateless", tokens),
        "feed_new": containers.fresh_tokens("feed", tokens),
        "stateless_hit": containers.repeated("stateless", tokens, n),
        "feed_hit": containers.repeated("feed", tokens, n),
    }
    for prepare in variants.values():
        prepare(0)()  # warm every code path once
    results.warm = _interleave_samples(args.rounds, variants)

    # What the feed adds to a request, alone: ``VerifyingRuntime.authorize`` asks its
    # cached ``revocation_feed()`` and, when there is one, checks the claims (a clock read
    # and a dict lookup on the sid, in a set it holds). The stateless container asks too
    # and gets None: the difference is the feed's whole per-request cost.
    containers.new("feed")
    containers.new("stateless")
    fed, stateless = (containers.modules[name].runtime for name in ("feed", "stateless"))
    feed = fed.revocation_feed()
    assert feed is not None
    assert stateless.revocation_feed() is None
    claims = {"sid": "bench-session", "sub": "7f0c2d4e-bench"}
    n = int(200 * args.tokens)

    def added(runtime: Any) -> Batch:
        def prepare(r: int) -> Callable[[], int]:
            def run() -> int:
                lookup = runtime.revocation_feed
                for _ in range(n):
                    found = lookup()
                    if found is not None:
                        found.check(claims)
                return n

            return run

        return prepare

    check = _interleave_samples(args.rounds, {"feed": added(fed), "stateless": added(stateless)})
    results.check_us = _median(check["feed"]) - _median(check["stateless"])
    results.size["warm_set_entries"] = len(feed.revoked)
    for module in containers.modules.values():
        module.runtime.reset()


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------- 2. cold
def cold(results: Results, signer: Any, jwks_url: str, relay: WireCounter) -> None:
    """Fresh processes, interleaved: ``python -c pass``, the stateless handler, the fed
    handler (its S3 endpoint is the relay in front of moto, which counts the requests)."""
    http, _ = _events()
    event = http(_issue(signer, time.time()))
    base = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)]),
        "ISSUER": ISSUER,
        "JWKS_URL": jwks_url,
        "BENCH_EVENT": json.dumps(event),
        **FAKE_AWS,
    }
    envs = {
        "bare": base,
        "stateless": {**base, "REVOCATION_POLL_SECONDS": "0"},
        "feed": {**base, "REVOCATION_FEED_BUCKET": BUCKET, "AWS_ENDPOINT_URL_S3": relay.url},
    }
    codes = {"bare": "pass", "stateless": _CHILD, "feed": _CHILD}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in envs}
    relay.take()
    for _ in range(results.args.processes):
        for name in envs:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", codes[name]],
                env=envs[name],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            wall = (time.perf_counter() - start) * 1000
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
            run: dict[str, Any] = {"wall": wall, "cpu": cpu}
            if name != "bare":
                # The JSON line (a handler may log lines of its own around it).
                line = next(x for x in done.stdout.splitlines() if '"import_ms"' in x)
                run.update(json.loads(line))
                assert run["authorized"], done.stdout + done.stderr
            if name == "feed":
                run["requests"] = [e.request_line for e in relay.take()]
            runs[name].append(run)
    cold_figures: dict[str, Any] = {}
    for name, each in runs.items():
        cold_figures[name] = {
            "wall": _median([r["wall"] for r in each]),
            "best": min(r["wall"] for r in each),
            "cpu": _median([r["cpu"] for r in each]),
        }
        if name != "bare":
            cold_figures[name]["import"] = _median([r["import_ms"] for r in each])
            cold_figures[name]["first_event"] = _median([r["first_event_ms"] for r in each])
            cold_figures[name]["sdk"] = sorted({m for r in each for m in r["sdk"]})
    feed_runs = runs["feed"]
    cold_figures["requests"] = sorted({len(r["requests"]) for r in feed_runs})
    cold_figures["request_lines"] = feed_runs[0]["requests"]
    cold_figures["polls"] = sorted({r["polls"] for r in feed_runs})
    cold_figures["entries"] = feed_runs[0]["entries"]
    results.cold = cold_figures


# ---------------------------------------------------------------- 3. bytes per poll
def wire(results: Results, moto_relay: WireCounter, store: MemoryStore) -> None:
    """The reader's three kinds of poll, counted on the wire: a cold container's
    snapshot, the delta read whole once, then the delta with ``If-None-Match``."""
    from authcore.revocation.feed import RevocationFeed
    from authcore.revocation.source import HttpFeedSource, S3FeedSource

    server = ThreadingHTTPServer(("127.0.0.1", 0), _StaticFeed)
    server.objects = store.objects  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    static_relay = WireCounter(server.server_address[1])
    s3_env = {**FAKE_AWS, "AWS_ENDPOINT_URL_S3": moto_relay.url}
    sources: dict[str, tuple[Any, WireCounter]] = {
        "s3": (S3FeedSource(BUCKET, env=s3_env), moto_relay),
        "http": (HttpFeedSource(static_relay.url), static_relay),
    }
    try:
        for name, (source, relay) in sources.items():
            feed = RevocationFeed(source, interval=DEFAULT_POLL)
            now = time.time()
            relay.take()
            for step in ("snapshot", "delta", "unchanged"):
                assert feed.poll(now), name
                results.wire[f"{name}_{step}"] = relay.take()
                now += DEFAULT_POLL
        # The poll with nothing new, timed against the same moto (no relay): its CPU and
        # loopback cost, what a container pays once per interval.
        direct = S3FeedSource(BUCKET)
        feed = RevocationFeed(direct, interval=DEFAULT_POLL)
        now = time.time()
        feed.poll(now)
        feed.poll(now + DEFAULT_POLL)
        samples = []
        for i in range(max(5, results.args.rounds)):
            start = time.perf_counter()
            assert feed.poll(now + (i + 2) * DEFAULT_POLL)
            samples.append((time.perf_counter() - start) * 1000)
        results.poll_ms = _median(samples)
    finally:
        server.shutdown()
        static_relay.close()


# ---------------------------------------------------------------- 4. size
def size(results: Results) -> MemoryStore:
    from authcore.revocation.document import (
        DELTA_KEY,
        SNAPSHOT_KEY,
        FeedDocument,
        expiry_group,
        group,
    )
    from authcore.revocation.feed import PURGE_SECONDS, RevocationFeed
    from authcore.revocation.source import MAX_OBJECT_BYTES

    args = results.args
    now = float(int(time.time()))
    store, publish_times = steady_feed(args.sessions, now)
    snapshot, delta = store.objects[SNAPSHOT_KEY][0], store.objects[DELTA_KEY][0]
    figures = results.size
    figures.update(
        sessions=args.sessions,
        snapshot=len(snapshot),
        snapshot_gzip=len(gzip.compress(snapshot)),
        delta=len(delta),
        delta_gzip=len(gzip.compress(delta)),
        delta_entries=sum(1 for _ in _entries(delta)),
        groups=len(json.loads(snapshot)["revoked"]),
        publish_ms=_median(publish_times) * 1000,
    )

    # A cold container's first poll: fetch (from memory), parse, apply.
    source = MemorySource(store)
    loads = []
    for _ in range(5):
        feed = RevocationFeed(source, interval=DEFAULT_POLL)
        gc.collect()
        start = time.perf_counter()
        assert feed.poll(now)
        loads.append((time.perf_counter() - start) * 1000)
    figures["load_ms"] = _median(loads)
    assert len(feed.revoked) == args.sessions
    gc.collect()
    tracemalloc.start()
    feed = RevocationFeed(source, interval=DEFAULT_POLL)
    feed.poll(now)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures["load_peak_mb"] = peak / 2**20
    figures["set_mb"] = retained / 2**20

    # The purge: a poll (nothing new) when one is due, against one when none is. Each
    # due one drops the entries expired in the last minute (about 6 %), as in service.
    feed.poll(now + DEFAULT_POLL)  # the delta, read whole once
    purge: list[float] = []
    plain: list[float] = []
    for k in range(1, 6):
        for at, bucket in ((now + k * PURGE_SECONDS, purge), (now + k * PURGE_SECONDS + 10, plain)):
            gc.collect()
            start = time.perf_counter()
            assert feed.poll(at)
            bucket.append((time.perf_counter() - start) * 1000)
    figures["purge_ms"] = _median(purge) - _median(plain)
    figures["purge_entries"] = len(feed.revoked)

    # The capacity ceiling: the snapshot is linear in its entries (each a 22-character
    # sid, its quotes and a comma, plus its share of ``recent``); two sizes of the same
    # shape fix the line, a third at the ceiling checks it.
    def shaped(n: int) -> int:
        rng = random.Random(n)
        per_second = n / WINDOW_SECONDS
        sids = [_sid(rng) for _ in range(n)]
        untils = [expiry_group(now + WINDOW_SECONDS * (i + 0.5) / n) for i in range(n)]
        entries = dict(zip(sids, untils, strict=True))
        recent_n = int(per_second * 60)
        recent = []
        for second in range(60):
            chunk = sids[int(second * per_second) : int((second + 1) * per_second)][:recent_n]
            recent.append((second + 1, now - 60 + second, group({s: entries[s] for s in chunk})))
        document = FeedDocument("0123456789abcdef", 61, 0, now, group(entries), recent)
        return len(document.encode(with_recent=True))

    small, large = max(1000, args.sessions // 4), args.sessions
    per_entry = (shaped(large) - shaped(small)) / (large - small)
    fixed = shaped(large) - per_entry * large
    ceiling = int((MAX_OBJECT_BYTES - fixed) / per_entry)
    figures.update(per_entry=per_entry, ceiling=ceiling)
    if args.check_ceiling:
        figures["ceiling_below"] = shaped(ceiling - 2000)
        figures["ceiling_above"] = shaped(ceiling + 2000)
    return store


def _sid(rng: random.Random) -> str:
    import base64

    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def _entries(body: bytes) -> Iterator[str]:
    for sids in json.loads(body)["revoked"].values():
        yield from sids


# ---------------------------------------------------------------- 5. lag
def lag(results: Results, server: Any, signer: Any, feed_env: dict[str, str]) -> None:
    """Logout to first refusal, real time. The authorizer answers a request every few ms
    (steady traffic, so its polls fall where the interval puts them); at a random moment
    of the interval the session is revoked as logout revokes it; the stream is polled
    every 0.25 s and its batches handed to the publisher's handler, which writes S3."""
    from authcore.runtime import revocation
    from authcore.sessions.dynamo import DynamoSessionStore
    from functions.revocation_feed import app as publisher_app
    from infra.devkit import streams
    from infra.devkit.context import LambdaContext

    args = results.args
    http, _ = _events()
    db = server.client("dynamodb")
    (mapping,) = [m for m in streams.mappings() if m["table"] == "SessionsTable"]
    published: list[float] = []

    def deliver(event: dict[str, Any]) -> Any:
        answer = publisher_app.lambda_handler(event, LambdaContext("RevocationFeedFunction"))
        if answer["published"]:
            published.append(time.perf_counter())
        return answer

    revocation.reset()
    pump = streams.StreamPump(
        db,
        server.client("dynamodbstreams"),
        SESSIONS_TABLE,
        deliver,
        filters=mapping["filters"],
        batch_size=mapping["batch_size"],
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=pump.run, args=(stop, STREAM_POLL_SECONDS, lambda _: None), daemon=True
    )
    thread.start()
    sessions = DynamoSessionStore(db, SESSIONS_TABLE)
    container = _container(feed_env)
    handler = container.lambda_handler
    rng = random.Random(1)
    lags: list[float] = []
    publish_delays: list[float] = []
    never = 0
    try:
        for _ in range(args.trials):
            sid = secrets.token_urlsafe(16)
            _session_item(db, SESSIONS_TABLE, time.time(), sid)
            event = http(_issue(signer, time.time(), sid))
            assert handler(event, None)["isAuthorized"] is True
            revoke_at = time.perf_counter() + rng.uniform(0, args.poll)
            while time.perf_counter() < revoke_at:
                assert handler(event, None)["isAuthorized"] is True
                time.sleep(0.005)
            published.clear()
            sessions.revoke(sid, now=time.time(), reason="logout")
            revoked = time.perf_counter()
            deadline = revoked + 3 * (args.poll + TARGET_LAG_SLACK)
            while handler(event, None)["isAuthorized"] is True:
                if time.perf_counter() > deadline:
                    never += 1
                    break
                time.sleep(0.005)
            else:
                lags.append(time.perf_counter() - revoked)
                if published:
                    publish_delays.append(published[0] - revoked)
    finally:
        stop.set()
        thread.join(2)
    results.lag = {"lag": lags, "publish": publish_delays, "never": [float(never)]}


# ---------------------------------------------------------------- 6. cost
def _billed_ms(ms: float) -> int:
    """Lambda bills a duration rounded up to the millisecond."""
    return max(1, math.ceil(ms - 1e-9))


def costs(results: Results) -> list[tuple[str, float]]:
    per_ms = LAMBDA_ARM_GB_SECOND * MEMORY_GB / 1000
    handler_ms = _median(results.warm["feed_new"]) / 1000
    base_ms = _billed_ms(handler_ms)
    base = 1e6 * (LAMBDA_PER_REQUEST + base_ms * per_ms)
    # A poll makes its invocation longer by its own time; over plain loopback that is
    # results.poll_ms, in a region ASSUMED_S3_MS more.
    poll_extra_ms = _billed_ms(handler_ms + results.poll_ms + ASSUMED_S3_MS) - base_ms
    per_poll = S3_GET + poll_extra_ms * per_ms
    miss_extra_ms = _billed_ms(handler_ms + ASSUMED_GETITEM_MS) - base_ms
    per_miss = DYNAMODB_READ_UNIT + miss_extra_ms * per_ms
    rows = [("stateless", base)]
    for rps in (1, 10, 100):
        polls = 1e6 / (DEFAULT_POLL * rps)
        rows.append((f"revocation feed, {rps} rps per container", base + polls * per_poll))
    rows += [
        ("session-checked, session cached", base),
        ("session-checked, 1 request in 10 misses", base + 1e5 * per_miss),
        ("session-checked, every request misses", base + 1e6 * per_miss),
    ]
    return rows


# ---------------------------------------------------------------- report
def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT MET**"


def _us(value: float) -> str:
    return f"{value:.2f}"


def report(results: Results) -> str:
    args = results.args
    w = results.warm
    fast = " --fast" if args.fast else ""
    lines = [
        f"`.venv/bin/python -m bench.revocation_feed{fast} --rounds {args.rounds} --tokens "
        f"{args.tokens} --processes {args.processes} --sessions {args.sessions} --trials "
        f"{args.trials} --poll {args.poll}`  ",
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s), "
        f"load average {results.load[0]:.1f} before / {results.load[1]:.1f} after",
        "",
    ]

    # 1. warm
    new_diff = [f - s for f, s in zip(w["feed_new"], w["stateless_new"], strict=True)]
    hit_diff = [f - s for f, s in zip(w["feed_hit"], w["stateless_hit"], strict=True)]
    new_cost, hit_cost = _median(new_diff), _median(hit_diff)
    entries = int(results.size.get("warm_set_entries", 0))
    lines += [
        f"Warm, HTTP API 2.0 event, ES256, µs per call: median of {args.rounds} interleaved "
        f"rounds of {args.tokens} tokens (repeated: {20 * args.tokens} calls); the feed's "
        f"container holds {entries:,} revoked sessions; no poll falls in a timed batch "
        "(the poll is costed below)",
        "",
        "| | stateless | feed on | feed over stateless (median of the rounds' differences) |",
        "|---|---:|---:|---:|",
        f"| new token | {_us(_median(w['stateless_new']))} | {_us(_median(w['feed_new']))} "
        f"| {new_cost:+.2f} |",
        f"| repeated token | {_us(_median(w['stateless_hit']))} | "
        f"{_us(_median(w['feed_hit']))} | {hit_cost:+.2f} |",
        "| what the feed adds alone (`revocation_feed()` + `RevocationFeed.check`: a clock "
        f"read and a dict lookup) | | | {results.check_us:+.3f} |",
        "",
        f"(Ratios: new token {_median(w['feed_new']) / _median(w['stateless_new']):.3f}x, "
        f"repeated {_median(w['feed_hit']) / _median(w['stateless_hit']):.3f}x stateless. "
        "Spread of the rounds' differences, interquartile: new token "
        f"{_iqr(new_diff)}, repeated {_iqr(hit_diff)} µs; where it is wider than the target, "
        "the added path alone is the figure that resolves it.)",
        "",
    ]

    # 2. cold
    c = results.cold
    bare, stateless, feed = c["bare"], c["stateless"], c["feed"]
    one_request = c["requests"] == [1]
    lines += [
        f"Cold start, median of {args.processes} fresh processes of each, interleaved; the "
        f"feed's S3 (moto server) holds a snapshot of {c['entries']:,} sessions:",
        "",
        "| | wall ms | best | CPU ms | import ms | first event ms | boto3/botocore imported |",
        "|---|---:|---:|---:|---:|---:|:---:|",
        f"| `python -c pass` | {bare['wall']:.1f} | {bare['best']:.1f} | {bare['cpu']:.1f} | | | |",
        f"| stateless | {stateless['wall']:.1f} | {stateless['best']:.1f} | "
        f"{stateless['cpu']:.1f} | {stateless['import']:.1f} | {stateless['first_event']:.1f} "
        f"| {', '.join(stateless['sdk']) or 'no'} |",
        f"| feed on (first event: JWKS + one signed GET of the snapshot) | {feed['wall']:.1f} "
        f"| {feed['best']:.1f} | {feed['cpu']:.1f} | {feed['import']:.1f} | "
        f"{feed['first_event']:.1f} | {', '.join(feed['sdk']) or 'no'} |",
        f"| **feed over stateless** | **{feed['wall'] - stateless['wall']:+.1f}** | "
        f"**{feed['best'] - stateless['best']:+.1f}** | **{feed['cpu'] - stateless['cpu']:+.1f}** "
        "| | | |",
        "",
        f"S3 requests per cold start, counted at the server: {c['requests']} "
        f"({'; '.join(c['request_lines'])}); polls: {c['polls']}. (Over plain HTTP to "
        "localhost: in a region the GET is HTTPS, a TLS handshake more.)",
        "",
    ]

    # 3. bytes per poll
    lines += [
        "Bytes per poll on the wire (request / answer, status line and headers included):",
        "",
        "| poll | S3 (moto, SigV4-signed) | plain HTTP feed |",
        "|---|---|---|",
    ]
    for step, label in (
        ("snapshot", "cold container: the snapshot"),
        ("delta", "first warm poll: the delta, whole"),
        ("unchanged", "**nothing new: the delta with If-None-Match**"),
    ):
        cells = []
        for name in ("s3", "http"):
            exchanges = results.wire[f"{name}_{step}"]
            status = "+".join(_status(e) for e in exchanges)
            sent = sum(e.sent for e in exchanges)
            received = sum(e.received for e in exchanges)
            cells.append(f"{len(exchanges)} request(s), {sent:,} B / {received:,} B ({status})")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    unchanged = {n: results.wire[f"{n}_unchanged"] for n in ("s3", "http")}
    poll_ok = {
        n: len(ex) == 1 and (_status(ex[0]) == "304" or ex[0].received < TARGET_POLL_BYTES)
        for n, ex in unchanged.items()
    }
    lines += [
        "",
        f"A poll with nothing new, against the same moto without the relay: {results.poll_ms:.2f} "
        "ms (signing, one loopback connection, the 304). Real S3 adds its own headers to the "
        "304 (x-amz-id-2, x-amz-request-id, Server, Date, Last-Modified: a few hundred bytes, "
        "still no body).",
        "",
    ]

    # 4. size
    s = results.size
    lines += [
        f"Size, {int(s['sessions']):,} sessions revoked evenly within the {WINDOW_SECONDS} s "
        "window, as the real publisher leaves the feed (the bulk, then one publication a "
        "second for the last minute):",
        "",
        "| | measured |",
        "|---|---:|",
        f"| snapshot, raw (with the publisher's `recent`) | {s['snapshot']:,} B "
        f"({s['snapshot'] / 2**20:.2f} MiB; {s['snapshot'] / s['sessions']:.1f} B per session) |",
        f"| snapshot, gzip | {s['snapshot_gzip']:,} B ({s['snapshot_gzip'] / s['snapshot']:.2f}x; "
        "not served: the reader asks for identity) |",
        f"| delta (the last minute: {int(s['delta_entries']):,} sessions) | {s['delta']:,} B "
        f"(gzip {s['delta_gzip']:,} B) |",
        f"| expiry groups in the snapshot | {int(s['groups'])} |",
        f"| one publication at this size (publisher CPU: read, parse, merge, two writes in "
        f"memory), median | {s['publish_ms']:.1f} ms |",
        f"| cold container: parse + apply the snapshot, median of 5 | {s['load_ms']:.1f} ms |",
        f"| memory: peak during the load / the set kept | {s['load_peak_mb']:.1f} MiB / "
        f"{s['set_mb']:.1f} MiB |",
        f"| purge (once a minute, inside a poll; set of ~{int(s['purge_entries']):,}) | "
        f"{s['purge_ms']:.1f} ms |",
        f"| **capacity ceiling: sessions revoked within the window for a snapshot over "
        f"{16} MiB** | **{int(s['ceiling']):,}** ({s['per_entry']:.2f} B per session; "
        f"{int(s['ceiling']) / (WINDOW_SECONDS / 60):,.0f} revocations a minute) |",
    ]
    if "ceiling_below" in s:
        lines.append(
            f"| check: {int(s['ceiling']) - 2000:,} / {int(s['ceiling']) + 2000:,} sessions | "
            f"{int(s['ceiling_below']):,} B / {int(s['ceiling_above']):,} B |"
        )
    lines.append("")

    # 5. lag
    lag_values = results.lag["lag"]
    never = int(results.lag["never"][0])
    max_lag = max(lag_values) if lag_values else float("inf")
    publish = results.lag["publish"]
    lines += [
        f"Lag, logout to first refusal, {args.trials} trials, REVOCATION_POLL_SECONDS="
        f"{args.poll}, real time, in process: the sessions table's `revoked_at` write (what "
        "logout makes), the stream read every 0.25 s (moto server), the publisher's handler "
        "writing S3 (moto server), the authorizer's handler answering a request every ~5 ms "
        "and polling S3 with its signed conditional GET. (The local stack's HTTP hops and "
        "worker processes add milliseconds, not seconds; this keeps the bench to a few "
        "minutes and makes every step the real code.)",
        "",
        "| | min | median | max |",
        "|---|---:|---:|---:|",
        f"| logout → first refusal (s) | {min(lag_values, default=float('nan')):.2f} | "
        f"{_median(lag_values):.2f} | {max_lag:.2f} |",
        f"| of which: logout → published to S3 (s) | {min(publish, default=float('nan')):.2f} | "
        f"{_median(publish):.2f} | {max(publish, default=float('nan')):.2f} |",
        f"| trials never refused within 3x the bound | {never} | | |",
        "",
    ]

    # 6. cost
    rows = costs(results)
    stateless_cost = rows[0][1]
    lines += [
        f"Cost per million requests (us-east-1, arm64, {int(MEMORY_GB * 1024)} MB; list prices "
        f"as of {PRICES_AS_OF}: Lambda $0.20/M requests + ${LAMBDA_ARM_GB_SECOND}/GB-s, S3 GET "
        f"$0.0004/1,000 (a 304 is a GET), DynamoDB on-demand $0.125/M read units). Billed "
        f"duration: the measured warm handler ({_median(w['feed_new']):.0f} µs) rounded up to "
        f"1 ms; a poll adds its measured {results.poll_ms:.1f} ms + an assumed "
        f"{ASSUMED_S3_MS:.0f} ms in-region (S3 answering the GET); a session miss an "
        f"assumed {ASSUMED_GETITEM_MS:.0f} ms (one strongly consistent GetItem); one poll per "
        f"container per {DEFAULT_POLL} s:",
        "",
        "| mode | $ per million requests | over stateless |",
        "|---|---:|---:|",
    ]
    for label, value in rows:
        lines.append(f"| {label} | {value:.4f} | {value - stateless_cost:+.4f} |")
    lines += [
        "",
        "(The publisher is paid per revocation, not per request: one stream invocation per "
        "batch, 2 S3 GETs + 2 PUTs per publication, $0.0000108 in requests.)",
        "",
    ]

    # Targets
    lag_bound = args.poll + TARGET_LAG_SLACK
    lines += [
        "Targets:",
        "",
        "| target | measured | verdict |",
        "|---|---:|:---:|",
        f"| warm, new token: feed within {TARGET_NEW_US:.0f} µs of stateless | "
        f"{new_cost:+.2f} µs (the added path alone {results.check_us:+.3f} µs) | "
        f"{_verdict(new_cost <= TARGET_NEW_US)} |",
        f"| warm, repeated token: feed within {TARGET_HIT_US} µs of stateless | "
        f"{hit_cost:+.2f} µs | {_verdict(hit_cost <= TARGET_HIT_US)} |",
        f"| cold start: no boto3/botocore on the authorizer's path | "
        f"{', '.join(feed['sdk']) or 'none imported'} | {_verdict(not feed['sdk'])} |",
        f"| cold start: the first poll costs one request | {c['requests']} | "
        f"{_verdict(one_request)} |",
        f"| bytes per poll with nothing new, S3: a 304 or under {TARGET_POLL_BYTES} B | "
        f"{_describe(unchanged['s3'])} | {_verdict(poll_ok['s3'])} |",
        f"| bytes per poll with nothing new, plain HTTP: a 304 or under {TARGET_POLL_BYTES} B | "
        f"{_describe(unchanged['http'])} | {_verdict(poll_ok['http'])} |",
        f"| snapshot for {int(s['sessions']):,} sessions revoked in the window (no target; "
        f"under the reader's {16} MiB bound) | {s['snapshot'] / 2**20:.2f} MiB | "
        f"{_verdict(s['snapshot'] <= 16 * 2**20)} |",
        f"| lag, logout → first refusal, max of {args.trials}: ≤ POLL + 1 s = {lag_bound:.0f} s "
        f"| {max_lag:.2f} s | {_verdict(max_lag <= lag_bound and not never)} |",
    ]
    return "\n".join(lines)


def _iqr(values: list[float]) -> str:
    if len(values) < 4:
        return f"{min(values):+.2f} to {max(values):+.2f}"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:+.2f} to {q[2]:+.2f}"


def _status(exchange: Exchange) -> str:
    return exchange.status


def _describe(exchanges: list[Exchange]) -> str:
    return ", ".join(f"{_status(e)}: {e.sent} B sent, {e.received} B received" for e in exchanges)


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revocation_feed", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="tiny sizes, a 1 s interval (smoke)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (warm)")
    parser.add_argument("--tokens", type=int, help="new tokens per round (warm)")
    parser.add_argument("--processes", type=int, help="fresh processes of each (cold)")
    parser.add_argument("--sessions", type=int, help="sessions revoked within the window (size)")
    parser.add_argument("--warm-sessions", type=int, help="sessions in the S3 feed (warm, cold)")
    parser.add_argument("--trials", type=int, help="logouts (lag)")
    parser.add_argument("--poll", type=int, help="REVOCATION_POLL_SECONDS (lag)")
    args = parser.parse_args(argv)
    defaults = (
        {
            "rounds": 3,
            "tokens": 20,
            "processes": 2,
            "sessions": 2000,
            "warm_sessions": 500,
            "trials": 3,
            "poll": 1,
        }
        if args.fast
        else {
            "rounds": 15,
            "tokens": 200,
            "processes": 15,
            "sessions": 100_000,
            "warm_sessions": 17_000,
            "trials": 20,
            "poll": DEFAULT_POLL,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.check_ceiling = not args.fast
    return run(args)


def run(args: argparse.Namespace) -> int:
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))  # where Lambda puts the layer's content
    from authcore.keys.signers import LocalSigner, public_jwk
    from infra.devkit.moto import MotoServer, create_tables

    results = Results(args)
    load_before = os.getloadavg()[0]
    signer = LocalSigner.generate("bench-feed")
    jwks = _serve({"keys": [public_jwk(signer.public_key(), signer.kid, "ES256")]})
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    server = MotoServer().start()
    relay = WireCounter(server.port)
    os.environ.update(
        {
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": server.url,  # the publisher's boto3 and the reader's GET
            "ISSUER": ISSUER,
            "JWKS_URL": jwks_url,
            "REVOCATION_FEED_BUCKET": BUCKET,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("ROUTE_SCOPES", None)
    stateless_env = {"REVOCATION_POLL_SECONDS": "0"}
    feed_env = {"REVOCATION_POLL_SECONDS": str(DEFAULT_POLL)}
    captured = io.StringIO()
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        create_tables(server.client("dynamodb"), {"SessionsTable": SESSIONS_TABLE})
        realistic, _ = steady_feed(args.warm_sessions, float(int(time.time())))
        publish_to_s3(s3, realistic)
        with contextlib.redirect_stdout(captured):  # the functions' own log lines
            warm(results, signer, feed_env, stateless_env)
            cold(results, signer, jwks_url, relay)
            wire(results, relay, realistic)
            size(results)
            lag(results, server, signer, {"REVOCATION_POLL_SECONDS": str(args.poll)})
    finally:
        relay.close()
        server.stop()
        jwks.shutdown()
    results.load = (load_before, os.getloadavg()[0])
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
