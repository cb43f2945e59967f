"""What the token endpoint's client authentication costs: it must be noise.

Times, in one run against the same in-process moto, interleaved (one call of each per
round, no garbage collection inside a timed call):

- the whole OAuth handler (``POST /oauth2/token``, ``client_secret_basic``,
  ``grant_type=client_credentials``): form and Basic parsing, the client's ``GetItem``,
  the secret's HMAC-SHA-256 and comparisons, the hourly quota's conditional
  ``UpdateItem``, the signature, the answer, Powertools' decorators;
- the baseline: one signature by the same signer (the runtime's, a KMS ``Sign`` on
  moto) of a token-sized input, plus one ``GetItem`` of the client's item on the same
  DynamoDB client;
- for the record, what the handler adds to that baseline by design: the quota
  counter's ``UpdateItem`` alone, and the secret check alone (no AWS).

Target: handler / baseline at most 1.3x (median), judged twice: against the baseline
above, and against the baseline plus the quota counter's write (a second round trip
every token makes by design, which the first baseline leaves out). A secret digested
with argon2 or bcrypt would cost tens of milliseconds here and miss both by an order
of magnitude; an HMAC is microseconds (the last line: its share of the handler). moto
answers in process, so the figures measure our code and botocore's request path, not
the network, whose round trips would only shrink the ratios.

    .venv/bin/python -m bench.token [--iterations N] [--warmup N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import io
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlencode

from bench import round_trips
from infra.devkit import environment, moto
from infra.devkit.context import LambdaContext
from infra.devkit.events import load_event

TARGET = 1.3
CLIENT_ID = "bench-job"
# Far above what any run asks for: the counter never refuses.
QUOTA = 10_000_000
PEPPER = "bench-pepper-" + "x" * 40
HANDLER = "handler: POST /oauth2/token (basic)"
BASELINE = "baseline: 1 GetItem + 1 signature"
QUOTA_WRITE = "quota counter: 1 UpdateItem"
SECRET_CHECK = "secret check: HMAC + compare"
ROUND_TRIPS = "DynamoDB requests per token"


def _time(
    calls: dict[str, Callable[[], object]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_number in range(warmup + iterations):
        gc.disable()
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - start) * 1000
            if round_number >= warmup:
                samples[name].append(elapsed)
        gc.enable()
        gc.collect()
    return samples


def _row(name: str, samples: list[float], reference: float) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    median = statistics.median(samples)
    return (
        f"{name:<38}{median:>9.3f}{p95:>9.3f}{statistics.fmean(samples):>9.3f}"
        f"{median / reference:>8.2f}x"
    )


def token_event(client_id: str, secret: str) -> dict[str, Any]:
    event = load_event("login.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/oauth2/token"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /oauth2/token"
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    # RFC 6749 §2.3.1: each part form-encoded, then base64.
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    event["headers"]["authorization"] = "Basic " + base64.b64encode(pair).decode()
    event["body"] = urlencode({"grant_type": "client_credentials"})
    event["isBase64Encoded"] = False
    return event


def run(iterations: int, warmup: int) -> dict[str, list[float]]:
    environment.host_functions(
        {
            **moto.table_variables(),
            "CLIENT_SECRET_PEPPER": PEPPER,
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        }
    )
    from authcore import aws
    from authcore.clients.dynamo import DynamoClientStore
    from authcore.clients.model import Client
    from authcore.runtime import signing
    from functions.oauth import app as oauth_app

    context = LambdaContext("bench-token", 256)
    with moto.mocked() as mocked, contextlib.redirect_stdout(io.StringIO()):
        db = aws.dynamodb()  # the handler's own client (authcore.runtime.clients)
        client, secret = Client(
            CLIENT_ID, frozenset({"reports:read"}), quota_per_hour=QUOTA
        ).with_new_secret(PEPPER.encode(), time.time())
        DynamoClientStore(mocked.dynamodb, "clients").create(client)
        event = token_event(CLIENT_ID, secret)

        def handler() -> None:
            answer = oauth_app.lambda_handler(dict(event), context)
            assert answer["statusCode"] == 200, answer

        # A token's signing input is about this long (header and claims, base64url).
        message = secrets.token_urlsafe(330).encode()
        signer = signing.signer

        def baseline() -> None:
            db.get_item(
                TableName="clients", Key={"client_id": {"S": CLIENT_ID}}, ConsistentRead=True
            )
            signer().sign(message)

        store = DynamoClientStore(db, "clients")
        # A counter of its own (another client id): the handler's hour is not spent.
        hour = int(time.time() // 3600)

        def quota_write() -> None:
            store.count_token("bench-quota-only", hour, QUOTA)

        stored = store.get(CLIENT_ID)
        assert stored is not None
        pepper = PEPPER.encode()

        def secret_check() -> None:
            assert stored.secret_matches(pepper, secret, time.time())

        results = _time(
            {
                HANDLER: handler,
                BASELINE: baseline,
                QUOTA_WRITE: quota_write,
                SECRET_CHECK: secret_check,
            },
            iterations,
            warmup,
        )
        results[ROUND_TRIPS] = [round_trips(db, handler)]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token", description=__doc__)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    results = run(args.iterations, args.warmup)
    round_trips = results.pop(ROUND_TRIPS)[0]
    median = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"token endpoint against moto in-process: {args.iterations} calls each after "
        f"{args.warmup} warm-up, interleaved; milliseconds per call, ratio to the baseline"
    )
    print(f"{'':<38}{'median':>9}{'p95':>9}{'mean':>9}{'ratio':>9}")
    for name, samples in results.items():
        print(_row(name, samples, median[BASELINE]))
    verdicts = [
        (
            "handler / baseline (median)",
            median[HANDLER] / median[BASELINE],
        ),
        (
            # Every token also counts against the client's hour: a second round trip
            # the baseline above leaves out, and no part of the secret check.
            "handler / (baseline + quota counter) (median)",
            median[HANDLER] / (median[BASELINE] + median[QUOTA_WRITE]),
        ),
    ]
    for text, ratio in verdicts:
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"{text}: {ratio:.2f}x  [target at most {TARGET}x: {verdict}]")
    print(f"{ROUND_TRIPS}: {round_trips:g}")
    share = median[SECRET_CHECK] / median[HANDLER]
    print(f"secret check / handler (median): {share:.2%}")
    # A benchmark reports; it never fails a build (timings are not tests).
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
