"""What the authorizer costs, warm and cold.

Measured in one run, on the same tokens (ES256, the default; RS256 as well):

- warm, a token not seen before: the full handler (HTTP API 2.0 event, and a
  REST TOKEN event), ``jwt.decode`` of PyJWT with a preloaded key, and the raw
  ``cryptography`` verify of the same signature (the floor);
- warm, a token already verified in this container (the cache);
- cold: a fresh process importing the handler, loading the key ring from a
  JWKS served over HTTP by this process, and answering the first event, against
  ``python -c pass``; median of N processes of each, interleaved;
- the top entries of ``python -X importtime`` for the handler;
- a container's first request with the revocation feed on, when each read takes
  ``--read-delay-ms`` (a local server that answers after that long, standing for an
  HTTPS request to an AWS endpoint): the keys and the feed read at once (what the
  runtime does) against one after the other (what it did before), in-process;
- the session-checked mode (``AUTHORIZER_MODE=session``) side by side with the
  stateless one: warm with the session cached, warm with a cache miss (one
  strongly consistent GetItem, signed by hand, over HTTP to a moto server on
  localhost, next to the same GetItem through a botocore client), and cold (the
  first event includes one GetItem against that server; no AWS SDK is imported).

Rounds are interleaved (every variant once per round, in rotating order), so a
burst of background load weighs on every row alike; the figures are medians.

``--route-scopes JSON`` configures every authorizer above (warm, cold, both
modes) with that ``ROUTE_SCOPES``. The HTTP API event's route is ``GET /api/me``
and the tokens' scope ``profile``: ``'{"GET /api/me": "profile", "GET /api/reports":
"reports:read"}'`` makes every HTTP request a scoped route's (its check passes) and
every REST policy carry one Deny (reports).

    .venv/bin/python -m bench.authorizer [--rounds N] [--tokens N] [--processes N]
        [--route-scopes JSON] [--read-delay-ms MS]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import import_times

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
AUDIENCE = "api"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod/GET/orders"

SESSIONS_TABLE = "bench-sessions"
KEYS_TABLE = "bench-keys"
SESSION_ID = "bench-session"
SESSION_USER = "7f0c2d4e-bench"
BENCH_LAG = "5"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

TARGET_RATIO = 1.15
TARGET_HIT_US = 5.0
TARGET_COLD_MS = 100.0

_CHILD = """
import time
start = time.perf_counter()
from functions.authorizer import app
imported = time.perf_counter()
import json, os, sys
answer = app.lambda_handler(json.loads(os.environ["BENCH_EVENT"]), None)
answered = time.perf_counter()
print(json.dumps({
    "import_ms": (imported - start) * 1000,
    "first_event_ms": (answered - imported) * 1000,
    "authorized": answer.get("isAuthorized") is True,
    "boto3": any(m.split(".")[0] in ("boto3", "botocore") for m in sys.modules),
}))
"""


class _Jwks(BaseHTTPRequestHandler):
    """The keys at ``/jwks.json``, 404 anywhere else (an empty revocation feed: nothing
    published), each answered after the server's ``delay`` seconds."""

    def do_GET(self) -> None:
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        if self.path == "/jwks.json":
            body: bytes = self.server.jwks  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(jwks: dict[str, Any], delay_ms: float = 0.0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    server.jwks = json.dumps(jwks).encode()  # type: ignore[attr-defined]
    server.delay = delay_ms / 1000  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def first_request(delay_ms: float, rounds: int) -> dict[str, float]:
    """Median ms of a new container's first ``authorize`` with the feed on, when each
    read takes ``delay_ms``: the runtime's (the feed polled while the keys are read)
    against the same runtime reading them one after the other, as it did before."""
    from authcore.keys.signers import LocalSigner, public_jwk
    from authcore.runtime.verifying import VerifyingRuntime

    class OneAfterTheOther(VerifyingRuntime):
        def _first_feed_poll(self) -> None:
            return None  # authorize() polls the feed after the keys are read

    signer = LocalSigner.generate("bench-first")
    server = _serve({"keys": [public_jwk(signer.public_key(), signer.kid, "ES256")]}, delay_ms)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    env = {
        "ISSUER": ISSUER,
        "AUDIENCE": AUDIENCE,
        "AUTHORIZER_MODE": "stateless",
        "JWKS_URL": f"{base}/jwks.json",
        "KEYS_TABLE": "",
        "REVOCATION_FEED_BUCKET": "",
        "REVOCATION_FEED_URL": f"{base}/revocations",
        "REVOCATION_POLL_SECONDS": "10",
    }
    token = _issue(signer, time.time())
    variants = {"at once": VerifyingRuntime, "one after the other": OneAfterTheOther}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        with _environment(env):
            for r in range(rounds):
                for name in list(variants)[r % 2 :] + list(variants)[: r % 2]:
                    runtime = variants[name]()
                    start = time.perf_counter()
                    runtime.authorize(token, ISSUER)
                    samples[name].append((time.perf_counter() - start) * 1000)
    finally:
        server.shutdown()
    return {name: statistics.median(values) for name, values in samples.items()}


def _per_call_us(calls: Callable[[], int]) -> float:
    """Run a batch; microseconds per call. GC off during the batch, as timeit does."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        count = calls()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / count * 1e6


Batch = Callable[[int], Callable[[], int]]


def _interleave_samples(rounds: int, variants: dict[str, Batch]) -> dict[str, list[float]]:
    """``variants[name](round)`` prepares a batch (untimed) and returns it; µs per call
    of each variant, one figure per round (rounds pair up: bench.revocation_feed takes
    the differences of neighbours)."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(_per_call_us(variants[name](r)))
    return samples


def _interleave(rounds: int, variants: dict[str, Batch]) -> dict[str, float]:
    """Each variant's figure: the median of its rounds, and (``<name>/best``) the
    best round, the one least disturbed by other processes."""
    samples = _interleave_samples(rounds, variants)
    figures = {name: statistics.median(values) for name, values in samples.items()}
    figures.update({f"{name}/best": min(values) for name, values in samples.items()})
    return figures


def _issue(signer: Any, now: float, sid: str = SESSION_ID) -> str:
    from authcore.tokens.issue import Principal, issue_access_token

    return issue_access_token(
        signer,
        Principal(SESSION_USER, "bench", "profile"),
        sid=sid,
        issuer=ISSUER,
        audience=AUDIENCE,
        client_id="web",
        now=now,
        ttl=900,
    )


def _events() -> tuple[Callable[[str], dict[str, Any]], Callable[[str], dict[str, Any]]]:
    """Event builders: HTTP API 2.0 and REST TOKEN, from the sample events."""
    http_event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    rest_event = json.loads((ROOT / "events" / "authorizer_rest_token.json").read_text())
    rest_event["methodArn"] = METHOD_ARN

    def http(token: str) -> dict[str, Any]:
        headers = {**http_event["headers"], "authorization": f"Bearer {token}"}
        return {**http_event, "headers": headers}

    def rest(token: str) -> dict[str, Any]:
        return {**rest_event, "authorizationToken": f"Bearer {token}"}

    return http, rest


def _warm_one(alg: str, signer: Any, rounds: int, per_round: int) -> dict[str, float]:
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from functions.authorizer import app

    handler = app.lambda_handler
    http, rest = _events()
    public = signer.public_key()
    tokens = [[_issue(signer, time.time()) for _ in range(per_round)] for _ in range(rounds + 1)]
    spare = tokens.pop()

    def floor_input(token: str) -> tuple[bytes, bytes]:
        head, payload, sig = token.split(".")
        raw = jwt.utils.base64url_decode(sig)
        if alg == "ES256":
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            raw = encode_dss_signature(r, s)
        return raw, f"{head}.{payload}".encode()

    floors = [[floor_input(t) for t in batch] for batch in tokens]
    ecdsa, pkcs1, sha256 = ec.ECDSA(hashes.SHA256()), padding.PKCS1v15(), hashes.SHA256()

    def new_container() -> None:
        # A fresh container whose ring is loaded, by a token outside the batches.
        app.runtime.reset()
        assert handler(http(spare[0]), None)["isAuthorized"] is True

    def through_handler(make: Callable[[str], dict[str, Any]]) -> Batch:
        def prepare(r: int) -> Callable[[], int]:
            new_container()  # every token of the batch is new to it
            events = [make(t) for t in tokens[r]]

            def run() -> int:
                for event in events:
                    handler(event, None)
                return len(events)

            return run

        return prepare

    def repeated(make: Callable[[str], dict[str, Any]]) -> Batch:
        def prepare(r: int) -> Callable[[], int]:
            event = make(tokens[r][0])
            handler(event, None)  # verified once: from now on a cache hit
            n = 20 * per_round

            def run() -> int:
                for _ in range(n):
                    handler(event, None)
                return n

            return run

        return prepare

    def pyjwt(r: int) -> Callable[[], int]:
        batch = tokens[r]

        def run() -> int:
            for token in batch:
                jwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
            return len(batch)

        return run

    def floor(r: int) -> Callable[[], int]:
        batch = floors[r]

        def run() -> int:
            if alg == "ES256":
                for signature, message in batch:
                    public.verify(signature, message, ecdsa)
            else:
                for signature, message in batch:
                    public.verify(signature, message, pkcs1, sha256)
            return len(batch)

        return run

    # Outside the timing: every variant accepts these tokens.
    new_container()
    assert handler(http(spare[1]), None)["isAuthorized"] is True
    allow = handler(rest(spare[2]), None)["policyDocument"]["Statement"][0]
    assert allow["Effect"] == "Allow"
    jwt.decode(spare[3], public, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)

    new_tokens: dict[str, Batch] = {
        "handler_http": through_handler(http),
        "handler_rest": through_handler(rest),
        "pyjwt": pyjwt,
        "floor": floor,
    }
    for prepare in new_tokens.values():
        prepare(0)()  # warm every code path once
    results = _interleave(rounds, new_tokens)
    new_container()
    results.update(_interleave(rounds, {"hit_http": repeated(http), "hit_rest": repeated(rest)}))
    return results


def warm(rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    from authcore.keys.signers import LocalSigner, public_jwk
    from functions.authorizer import app

    signers = {
        "ES256": LocalSigner.generate("bench-es"),
        "RS256": LocalSigner.generate("bench-rs", "RS256"),
    }
    server = _serve(
        {"keys": [public_jwk(s.public_key(), s.kid, alg) for alg, s in signers.items()]}
    )
    os.environ.update(
        {
            "ISSUER": ISSUER,
            "JWKS_URL": f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
            # The stateless baseline: bench.revocation_feed measures what the feed adds.
            "REVOCATION_POLL_SECONDS": "0",
        }
    )
    try:
        return {alg: _warm_one(alg, signer, rounds, per_round) for alg, signer in signers.items()}
    finally:
        server.shutdown()
        app.runtime.reset()


def cold(processes: int) -> dict[str, Any]:
    from authcore.keys.signers import LocalSigner, public_jwk

    signer = LocalSigner.generate("bench-cold")
    server = _serve({"keys": [public_jwk(signer.public_key(), signer.kid, "ES256")]})
    token = _issue(signer, time.time())
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    event["headers"]["authorization"] = f"Bearer {token}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)]),
        "ISSUER": ISSUER,
        "JWKS_URL": f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
        "BENCH_EVENT": json.dumps(event),
        "REVOCATION_POLL_SECONDS": "0",  # stateless; bench.revocation_feed measures the feed
    }
    if os.environ.get("ROUTE_SCOPES"):  # --route-scopes: the children too
        env["ROUTE_SCOPES"] = os.environ["ROUTE_SCOPES"]

    def run(code: str, child_env: dict[str, str] | None = None) -> tuple[float, float, str]:
        """Wall-clock ms, CPU ms (user + system) of the child, its stdout."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=child_env or env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = (time.perf_counter() - start) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        return wall, cpu, done.stdout

    bare: list[tuple[float, float, str]] = []
    full: list[tuple[float, float, str]] = []
    checked: list[tuple[float, float, str]] = []
    from_table: list[tuple[float, float, str]] = []
    moto = _moto_server_with_a_session()
    _keys_table(moto[2], public_jwk(signer.public_key(), signer.kid, "ES256"))
    # The deployed path: no JWKS_URL, the keys table read with one hand-signed Query.
    table_env = {k: v for k, v in env.items() if k != "JWKS_URL"}
    table_env.update(FAKE_AWS, KEYS_TABLE=KEYS_TABLE, AWS_ENDPOINT_URL=moto[1])
    session_env = {
        **env,
        **FAKE_AWS,
        "AUTHORIZER_MODE": "session",
        "SESSIONS_TABLE": SESSIONS_TABLE,
        "AWS_ENDPOINT_URL": moto[1],
    }
    try:
        run("pass")
        run(_CHILD)  # fill the OS page cache: measure processes, not the disk
        run(_CHILD, session_env)
        run(_CHILD, table_env)
        for _ in range(processes):
            bare.append(run("pass"))
            full.append(run(_CHILD))
            checked.append(run(_CHILD, session_env))
            from_table.append(run(_CHILD, table_env))
    finally:
        server.shutdown()
        moto[0].stop()
    inside_checked = [json.loads(out) for _, _, out in checked]
    assert all(r["authorized"] for r in inside_checked), "a session-checked cold start refused"
    session_cold = {
        "session_ms": statistics.median(wall for wall, _, _ in checked),
        "session_best_ms": min(wall for wall, _, _ in checked),
        "session_cpu_ms": statistics.median(cpu for _, cpu, _ in checked),
        "session_import_ms": statistics.median(r["import_ms"] for r in inside_checked),
        "session_first_event_ms": statistics.median(r["first_event_ms"] for r in inside_checked),
        "session_boto3": all(r["boto3"] for r in inside_checked),
    }
    inside = [json.loads(out) for _, _, out in full]
    assert all(report["authorized"] for report in inside), "a cold start refused the token"
    inside_table = [json.loads(out) for _, _, out in from_table]
    assert all(r["authorized"] for r in inside_table), "a keys-table cold start refused"
    return {
        **session_cold,
        "table_ms": statistics.median(wall for wall, _, _ in from_table),
        "table_best_ms": min(wall for wall, _, _ in from_table),
        "table_cpu_ms": statistics.median(cpu for _, cpu, _ in from_table),
        "table_first_event_ms": statistics.median(r["first_event_ms"] for r in inside_table),
        "table_boto3": any(r["boto3"] for r in inside_table),
        "bare_ms": statistics.median(wall for wall, _, _ in bare),
        "full_ms": statistics.median(wall for wall, _, _ in full),
        "bare_best_ms": min(wall for wall, _, _ in bare),
        "full_best_ms": min(wall for wall, _, _ in full),
        "bare_cpu_ms": statistics.median(cpu for _, cpu, _ in bare),
        "full_cpu_ms": statistics.median(cpu for _, cpu, _ in full),
        "import_ms": statistics.median(r["import_ms"] for r in inside),
        "first_event_ms": statistics.median(r["first_event_ms"] for r in inside),
        "boto3": any(r["boto3"] for r in inside),
        "processes": processes,
    }


# ---------------------------------------------------------------- session-checked mode
def _session_item(client: Any, table: str, now: float, sid: str = SESSION_ID) -> None:
    """The session the bench tokens name, written as login writes it."""
    from authcore.sessions.dynamo import DynamoSessionStore
    from authcore.sessions.model import Session
    from authcore.tokens.issue import Principal

    DynamoSessionStore(client, table).create(
        Session(
            sid=sid,
            principal=Principal(SESSION_USER, "bench", "profile"),
            created_at=now,
            last_used_at=now,
            absolute_expires_at=now + 86_400,
            idle_expires_at=now + 86_400,
            user_agent="bench",
            token_digest=b"\0" * 32,
            family_digest=b"\1" * 32,
        )
    )


def _moto_server_with_a_session() -> tuple[Any, str, Any]:
    """A moto server on localhost (a child process cannot share in-process moto)
    holding the sessions table and the bench session; its DynamoDB client."""
    from infra.devkit.moto import MotoServer, create_tables

    server = MotoServer().start()
    db = server.client("dynamodb")
    create_tables(db, {"SessionsTable": SESSIONS_TABLE})
    _session_item(db, SESSIONS_TABLE, time.time())
    return server, server.url, db


def _keys_table(db: Any, jwk: dict[str, Any]) -> None:
    """The keys table on the moto server, holding one current key: what the deployed
    authorizers read at cold start."""
    from infra.devkit.moto import create_tables

    create_tables(db, {"KeysTable": KEYS_TABLE})
    db.put_item(
        TableName=KEYS_TABLE,
        Item={
            "pk": {"S": "ring"},
            "kid": {"S": jwk["kid"]},
            "state": {"S": "current"},
            "public_jwk": {"S": json.dumps(jwk)},
        },
    )


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
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


_copies = iter(range(1_000_000))


def _container(env: dict[str, str]) -> ModuleType:
    """A fresh copy of the handler module, configured by ``env`` at its cold start:
    one more Lambda function with the same code (module state of its own)."""
    import importlib.util

    path = ROOT / "functions" / "authorizer" / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_authorizer_{next(_copies)}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with _environment(env):
        module.runtime.reset()
        module.runtime.settings()
    return module


class WarmContainers:
    """Fresh authorizer containers of several configurations (one module copy each), and
    the timed batches over them: each batch starts a new container whose ring is loaded
    (and, in session mode, whose session is cached "live"; with the feed on, whose snapshot
    is loaded) by a spare token outside the timing."""

    def __init__(
        self,
        envs: dict[str, dict[str, str]],
        http: Callable[[str], dict[str, Any]],
        spare: str,
    ) -> None:
        self.envs = envs
        self.modules = {name: _container(env) for name, env in envs.items()}
        self.http = http
        self.spare = spare

    def new(self, name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        module = self.modules[name]
        module.runtime.reset()
        with _environment(self.envs[name]):
            module.runtime.settings()
            module.runtime.session_checker()  # its reader fixes its endpoint when built
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.lambda_handler
        assert handler(self.http(self.spare), None)["isAuthorized"] is True
        return lambda event: handler(event, None)

    def fresh_tokens(self, name: str, tokens: list[list[str]]) -> Batch:
        """Round ``r`` verifies ``tokens[r]``, each new to the container."""

        def prepare(r: int) -> Callable[[], int]:
            call = self.new(name)
            events = [self.http(t) for t in tokens[r]]

            def run() -> int:
                for event in events:
                    call(event)
                return len(events)

            return run

        return prepare

    def repeated(self, name: str, tokens: list[list[str]], n: int) -> Batch:
        """Round ``r`` verifies ``tokens[r][0]`` ``n`` times, after a first time untimed."""

        def prepare(r: int) -> Callable[[], int]:
            call = self.new(name)
            event = self.http(tokens[r][0])
            assert call(event)["isAuthorized"] is True

            def run() -> int:
                for _ in range(n):
                    call(event)
                return n

            return run

        return prepare


def warm_session(rounds: int, per_round: int) -> dict[str, float]:
    """Stateless and session-checked containers on the same tokens, interleaved. The
    session reads are real HTTP to a moto server (the reader signs its own requests);
    the baseline is the same GetItem through a botocore client, to the same server."""
    from authcore.keys.signers import LocalSigner, public_jwk
    from authcore.sessions.check import PROJECTION

    signer = LocalSigner.generate("bench-session-es")
    server = _serve({"keys": [public_jwk(signer.public_key(), signer.kid, "ES256")]})
    base = {
        **FAKE_AWS,
        "ISSUER": ISSUER,
        "JWKS_URL": f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
    }
    http, _ = _events()
    misses = max(10, per_round // 10)
    moto, endpoint, db = _moto_server_with_a_session()
    session = {
        **base,
        "AUTHORIZER_MODE": "session",
        "SESSIONS_TABLE": SESSIONS_TABLE,
        "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        with _environment(FAKE_AWS):
            envs = {
                "stateless": base,
                "session": {**session, "REVOCATION_MAX_LAG_SECONDS": BENCH_LAG},
                # Lag 0: "live" is never reused, every request reads (a miss each time).
                "miss": {**session, "REVOCATION_MAX_LAG_SECONDS": "0"},
            }
            now = time.time()
            tokens = [[_issue(signer, now) for _ in range(per_round)] for _ in range(rounds)]
            warm = WarmContainers(envs, http, _issue(signer, time.time()))

            def bare_get_item(r: int) -> Callable[[], int]:
                def run() -> int:
                    for _ in range(misses):
                        db.get_item(
                            TableName=SESSIONS_TABLE,
                            Key={"sid": {"S": SESSION_ID}},
                            ConsistentRead=True,
                            ProjectionExpression=PROJECTION,
                        )
                    return misses

                return run

            variants: dict[str, Batch] = {
                "stateless_new": warm.fresh_tokens("stateless", tokens),
                "session_new": warm.fresh_tokens("session", tokens),
                "stateless_hit": warm.repeated("stateless", tokens, 20 * per_round),
                "session_hit": warm.repeated("session", tokens, 20 * per_round),
                "session_miss": warm.repeated("miss", tokens, misses),
                "bare_get_item": bare_get_item,
            }
            for prepare in variants.values():
                prepare(0)()  # warm every code path once
            return _interleave(rounds, variants)
    finally:
        server.shutdown()
        moto.stop()


def importtime(runs: int = 5, top: int = 12) -> list[tuple[str, int, float, float]]:
    """(module, depth, self ms, cumulative ms), median over runs, by cumulative time."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)])}
    per_module: dict[str, tuple[int, list[int], list[int]]] = {}
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import functions.authorizer.app"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        for name, depth, own, cumulative in import_times(stderr):
            entry = per_module.setdefault(name, (depth, [], []))
            entry[1].append(own)
            entry[2].append(cumulative)
    rows = [
        (name, depth, statistics.median(own) / 1000, statistics.median(cum) / 1000)
        for name, (depth, own, cum) in per_module.items()
        if len(cum) == runs
    ]
    rows.sort(key=lambda row: -row[3])
    return rows[:top]


def _mark(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _us(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def report(
    warm_results: dict[str, dict[str, float]],
    cold_results: dict[str, Any],
    imports: list[tuple[str, int, float, float]],
    args: argparse.Namespace,
    load: tuple[float, float],
    session_results: dict[str, float] | None = None,
) -> str:
    import cryptography
    import jwt

    scoped = f" --route-scopes '{args.route_scopes}'" if args.route_scopes else ""
    lines = [
        f"`.venv/bin/python -m bench.authorizer --rounds {args.rounds} --tokens {args.tokens} "
        f"--processes {args.processes}{scoped}`  ",
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"PyJWT {jwt.__version__}, {platform.machine()}, {os.cpu_count()} CPU(s), "
        f"load average {load[0]:.1f} before / {load[1]:.1f} after",
        "",
        f"Warm, µs per call: median of {args.rounds} interleaved rounds of {args.tokens} "
        "tokens (best round in brackets); ratios of the medians",
        "",
        "| | ES256 (default) | ratio to PyJWT | RS256 | ratio to PyJWT |",
        "|---|---:|---:|---:|---:|",
    ]
    names = [
        ("handler, HTTP API 2.0 event, new token", "handler_http"),
        ("handler, REST TOKEN event, new token", "handler_rest"),
        ("PyJWT `jwt.decode`, preloaded key", "pyjwt"),
        ("floor: raw `cryptography` verify", "floor"),
        ("handler, HTTP API 2.0 event, repeated token", "hit_http"),
        ("handler, REST TOKEN event, repeated token", "hit_rest"),
    ]
    for label, key in names:
        cells = []
        for alg in ("ES256", "RS256"):
            figures = warm_results[alg]
            ratio = figures[key] / figures["pyjwt"]
            cells += [f"{_us(figures[key])} ({_us(figures[key + '/best'])})", f"{ratio:.2f}x"]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    es = warm_results["ES256"]
    ratio = es["handler_http"] / es["pyjwt"]
    over = cold_results["full_ms"] - cold_results["bare_ms"]
    over_cpu = cold_results["full_cpu_ms"] - cold_results["bare_cpu_ms"]
    lines += [
        "",
        f"Cold start, median of {cold_results['processes']} fresh processes of each, interleaved:",
        "",
        "| | wall ms, median | wall ms, best | CPU ms, median |",
        "|---|---:|---:|---:|",
        f"| `python -c pass` | {cold_results['bare_ms']:.1f} | {cold_results['bare_best_ms']:.1f} "
        f"| {cold_results['bare_cpu_ms']:.1f} |",
        "| import handler + load key ring over HTTP + answer first event | "
        f"{cold_results['full_ms']:.1f} | {cold_results['full_best_ms']:.1f} "
        f"| {cold_results['full_cpu_ms']:.1f} |",
        f"| **over a bare interpreter** | **{over:.1f}** | "
        f"**{cold_results['full_best_ms'] - cold_results['bare_best_ms']:.1f}** | "
        f"**{over_cpu:.1f}** |",
        f"| of which: the import (timed inside the process) | {cold_results['import_ms']:.1f} "
        "| | |",
        f"| of which: the first event, JWKS fetch included | "
        f"{cold_results['first_event_ms']:.1f} | | |",
        "| import handler + load key ring from the keys table (the deployed path: one "
        "hand-signed Query on a localhost moto server) + answer first event | "
        f"{cold_results['table_ms']:.1f} | {cold_results['table_best_ms']:.1f} "
        f"| {cold_results['table_cpu_ms']:.1f} |",
        f"| **keys table over a bare interpreter** | "
        f"**{cold_results['table_ms'] - cold_results['bare_ms']:.1f}** | "
        f"**{cold_results['table_best_ms'] - cold_results['bare_best_ms']:.1f}** | "
        f"**{cold_results['table_cpu_ms'] - cold_results['bare_cpu_ms']:.1f}** |",
        f"| of which: the first event, the Query included (boto3 imported: "
        f"{'yes' if cold_results['table_boto3'] else 'no'}) | "
        f"{cold_results['table_first_event_ms']:.1f} | | |",
        "",
        "(CPU time, user + system, is what a busy machine inflates least: wall time also "
        "counts the waits for a CPU.)",
        "",
        "Targets:",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| new token: handler <= {TARGET_RATIO:.2f}x PyJWT (ES256, HTTP API event) | "
        f"{ratio:.2f}x | {_mark(ratio <= TARGET_RATIO)} |",
        f"| repeated token <= {TARGET_HIT_US:.0f} µs (HTTP API event) | "
        f"{es['hit_http']:.2f} µs | {_mark(es['hit_http'] <= TARGET_HIT_US)} |",
        f"| cold start <= {TARGET_COLD_MS:.0f} ms over `python -c pass` (wall) | {over:.1f} ms | "
        f"{_mark(over <= TARGET_COLD_MS)} |",
        "| no boto3 on the authorizer's path | "
        f"{'imported' if cold_results['boto3'] else 'not imported'} | "
        f"{_mark(not cold_results['boto3'])} |",
        "",
        "`python -X importtime -c 'import functions.authorizer.app'`, top entries by "
        "cumulative time (median of 5 runs, ms):",
        "",
        "| module | self | cumulative |",
        "|---|---:|---:|",
    ]
    for name, depth, own, cumulative in imports:
        lines.append(f"| {'&nbsp;' * 2 * depth}`{name}` | {own:.1f} | {cumulative:.1f} |")
    if session_results is not None:
        lines += session_report(session_results, cold_results, args)
    return "\n".join(lines)


def first_request_report(figures: dict[str, float], args: argparse.Namespace) -> str:
    at_once, before = figures["at once"], figures["one after the other"]
    return (
        f"A container's first request with the revocation feed on, each read answered "
        f"after {args.read_delay_ms:g} ms (median of {args.processes}, ms): keys and feed "
        f"read at once {at_once:.1f}, one after the other (before) {before:.1f}: "
        f"{at_once / before:.2f}x"
    )


def session_report(
    figures: dict[str, float], cold_results: dict[str, Any], args: argparse.Namespace
) -> list[str]:
    def cell(key: str) -> str:
        return f"{_us(figures[key])} ({_us(figures[key + '/best'])})"

    def cost(key: str, base: str) -> str:
        return f"{figures[key] - figures[base]:+.2f}"

    miss_to_read = figures["session_miss"] / figures["bare_get_item"]
    c = cold_results
    return [
        "",
        "Session-checked mode (`AUTHORIZER_MODE=session`) side by side with stateless, "
        f"ES256, HTTP API 2.0 event, µs per call (median of {args.rounds} interleaved "
        f"rounds, best in brackets; `REVOCATION_MAX_LAG_SECONDS={BENCH_LAG}`):",
        "",
        "| | stateless | session-checked | the session check costs |",
        "|---|---:|---:|---:|",
        f"| new token, session cached | {cell('stateless_new')} | {cell('session_new')} | "
        f"{cost('session_new', 'stateless_new')} |",
        f"| repeated token, session cached | {cell('stateless_hit')} | {cell('session_hit')} | "
        f"{cost('session_hit', 'stateless_hit')} |",
        f"| repeated token, session cache miss: one GetItem (moto server, localhost) | | "
        f"{cell('session_miss')} | {cost('session_miss', 'stateless_hit')} |",
        f"| a bare GetItem, botocore client, same moto server | | {cell('bare_get_item')} | |",
        f"| **a miss, as a multiple of its bare GetItem** | | | **{miss_to_read:.2f}x** |",
        "",
        "(A miss is one GetItem and nothing else worth measuring; most of it is moto's "
        "emulation, in this process's server thread. DynamoDB inside a region answers a "
        "GetItem in a few ms, mostly waiting. A miss happens at most once per session per "
        "container per lag.)",
        "",
        f"Cold start, median of {c['processes']} fresh processes of each, interleaved "
        "with the runs above:",
        "",
        "| | wall ms, median | wall ms, best | CPU ms, median | import ms | first event ms "
        "| AWS SDK imported |",
        "|---|---:|---:|---:|---:|---:|:---:|",
        f"| `python -c pass` | {c['bare_ms']:.1f} | {c['bare_best_ms']:.1f} "
        f"| {c['bare_cpu_ms']:.1f} | | | |",
        f"| stateless | {c['full_ms']:.1f} | {c['full_best_ms']:.1f} | {c['full_cpu_ms']:.1f} "
        f"| {c['import_ms']:.1f} | {c['first_event_ms']:.1f} | {'yes' if c['boto3'] else 'no'} |",
        "| session-checked (first event: one GetItem on a localhost moto server) "
        f"| {c['session_ms']:.1f} | {c['session_best_ms']:.1f} "
        f"| {c['session_cpu_ms']:.1f} | {c['session_import_ms']:.1f} "
        f"| {c['session_first_event_ms']:.1f} | {'yes' if c['session_boto3'] else 'no'} |",
        f"| **session over stateless** | **{c['session_ms'] - c['full_ms']:.1f}** | "
        f"**{c['session_best_ms'] - c['full_best_ms']:.1f}** | "
        f"**{c['session_cpu_ms'] - c['full_cpu_ms']:.1f}** | | | |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.authorizer", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (warm)")
    parser.add_argument("--tokens", type=int, default=200, help="new tokens per round")
    parser.add_argument("--processes", type=int, default=21, help="processes each (cold)")
    parser.add_argument(
        "--read-delay-ms",
        type=float,
        default=20.0,
        help="how long each read of a container's first request takes (first request)",
    )
    parser.add_argument(
        "--route-scopes",
        default="",
        metavar="JSON",
        help="ROUTE_SCOPES of every authorizer measured (the HTTP event's route: GET /api/me)",
    )
    args = parser.parse_args(argv)
    if args.processes < 15:
        parser.error("--processes must be at least 15")
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))  # where Lambda puts the layer's content
    os.environ.pop("ROUTE_SCOPES", None)  # only what the command line says
    if args.route_scopes:
        from authcore.config import Settings
        from authcore.errors import ConfigError

        try:
            Settings.from_env({"ROUTE_SCOPES": args.route_scopes})
        except ConfigError as error:
            parser.error(str(error))
        os.environ["ROUTE_SCOPES"] = args.route_scopes
    load_before = os.getloadavg()[0]
    warm_results = warm(args.rounds, args.tokens)
    session_results = warm_session(args.rounds, args.tokens)
    cold_results = cold(args.processes)
    first = first_request(args.read_delay_ms, args.processes)
    imports = importtime()
    load = (load_before, os.getloadavg()[0])
    print(report(warm_results, cold_results, imports, args, load, session_results))
    print()
    print(first_request_report(first, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
