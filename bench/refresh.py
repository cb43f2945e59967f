"""What a refresh costs beyond its floor.

Times, in one run against the same moto (its server in this process: the functions'
clients speak HTTP, ``infra.devkit.moto.mocked``):

- the whole refresh handler (``POST /auth/refresh``: parsing, rotation, signing,
  cookies/body, Powertools decorators), each call presenting the token the
  previous one returned;
- the session service alone (rotation + signing, no HTTP edge);
- the floor: the session store's rotation alone (its one conditional
  ``UpdateItem``, the store's own code), plus one KMS ``Sign`` of a message the
  size of an access token, through the handler's own clients.

moto answers on loopback, so the figures measure our code, the clients' request
path and moto, not the network: the ratio is the overhead a refresh adds on top
of the two calls it cannot avoid.

    .venv/bin/python -m bench.refresh [--iterations N] [--warmup N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import statistics
import time
from collections.abc import Callable

from bench import round_trips
from infra.devkit import environment, moto
from infra.devkit.context import LambdaContext
from infra.devkit.events import with_body

PASSWORD = "bench-password-long-enough"
HANDLER = "handler: POST /auth/refresh"
SERVICE = "service: rotate + sign (no HTTP edge)"
FLOOR = "floor: 1 UpdateItem + 1 KMS Sign"
ROUND_TRIPS = "DynamoDB requests per handler refresh"


def _time(
    calls: dict[str, Callable[[], object]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Interleaved, one call of each per round: a burst of background load then
    weighs on every row alike instead of on whichever ran at the time."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(iterations):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name:<42}{statistics.median(samples):>9.3f}{p95:>9.3f}{statistics.fmean(samples):>9.3f}"
    )


def run(iterations: int, warmup: int) -> dict[str, list[float]]:
    environment.host_functions({**moto.table_variables(), "POWERTOOLS_METRICS_NAMESPACE": "Bench"})
    from authcore import aws
    from authcore.runtime import signing
    from authcore.sessions.dynamo import DynamoSessionStore
    from authcore.tokens.refresh import RefreshToken
    from functions.login import app as login_app
    from functions.refresh import app as refresh_app
    from infra.admin import Admin

    context = LambdaContext("bench-refresh", 256)
    with moto.mocked() as mocked, contextlib.redirect_stdout(io.StringIO()):
        Admin.connect("users", "sessions", mocked.dynamodb).create_user(
            "bench", PASSWORD, "profile"
        )

        def login() -> str:
            body = {"username": "bench", "password": PASSWORD, "delivery": "body"}
            answer = login_app.lambda_handler(with_body("login.json", body), context)
            token: str = json.loads(answer["body"])["refresh_token"]
            return token

        chain = [login()]  # the handler's token chain
        core_chain = [login()]  # the service's, a session of its own

        def handler() -> None:
            event = with_body("refresh.json", {"refresh_token": chain[0]})
            answer = refresh_app.lambda_handler(event, context)
            assert answer["statusCode"] == 200, answer
            chain[0] = json.loads(answer["body"])["refresh_token"]

        service = signing.session_service(signing=True)
        issuer = "https://abc123.execute-api.us-east-1.amazonaws.com"

        def core() -> None:
            core_chain[0] = str(service.refresh(core_chain[0], issuer=issuer).refresh_token)

        # The floor, on a session item of its own: the store's rotation (its one
        # conditional write), then one signature of a token-sized input, through the
        # handler's own clients (the same wire: HTTP to moto, as to AWS).
        store = DynamoSessionStore(aws.dynamodb(), "sessions")
        kms = aws.kms()
        message = secrets.token_urlsafe(400).encode()
        state = [RefreshToken.parse(login())]

        def floor() -> None:
            presented = state[0]
            successor = presented.successor()
            now = time.time()
            store.rotate(presented, successor, now=now, idle_expires_at=now + 600)
            kms.sign(
                KeyId=mocked.key.ref,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm="ECDSA_SHA_256",
            )
            state[0] = successor

        results = _time(
            {
                HANDLER: handler,
                SERVICE: core,
                FLOOR: floor,
            },
            iterations,
            warmup,
        )
        results[ROUND_TRIPS] = [round_trips(aws.dynamodb(), handler)]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh", description=__doc__)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    results = run(args.iterations, args.warmup)
    round_trips = results.pop(ROUND_TRIPS)[0]
    handler, service, floor = (statistics.median(results[k]) for k in (HANDLER, SERVICE, FLOOR))
    print(
        f"refresh against moto (loopback HTTP): {args.iterations} calls each "
        f"after {args.warmup} warm-up, milliseconds per call"
    )
    print(f"{'':<42}{'median':>9}{'p95':>9}{'mean':>9}")
    for name, samples in results.items():
        print(_row(name, samples))
    print(f"ratio handler / floor (median): {handler / floor:.2f}x")
    print(f"ratio service / floor (median): {service / floor:.2f}x")
    print(f"{ROUND_TRIPS}: {round_trips:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
