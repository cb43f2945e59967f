"""What the token endpoint's client authentication costs: it must be noise.

Times, in one run against the same moto (its server in this process, over loopback HTTP),
interleaved (``bench.interleaved``):

- the whole OAuth handler (``POST /oauth2/token``, ``client_secret_basic``,
  ``grant_type=client_credentials``, the default quota of 1000 tokens an hour): form
  and Basic parsing, the client's ``GetItem``, the secret's HMAC-SHA-256 and
  comparisons, the hourly quota (a conditional ``UpdateItem`` reserving a block of 1 %
  of the hour, so one token in ten), the signature, the answer, Powertools' decorators;
- the baseline: one signature by the same signer (the runtime's, a KMS ``Sign`` on
  moto) of a token-sized input, plus one ``GetItem`` of the client's item on the same
  DynamoDB client;
- for the record: one quota reservation alone, and the secret check alone (no AWS).

Target: handler / baseline at most 1.3x (median). The second verdict adds the
quota's share (a reservation over the block size) to the baseline. A secret digested
with argon2 or bcrypt would cost tens of milliseconds here and miss both by an order
of magnitude; an HMAC is microseconds (the last line: its share of the handler). moto
answers on loopback, so the figures measure our code, the clients' request path and
moto, not the network, whose round trips would only shrink the ratios.

    .venv/bin/python -m bench.token [--iterations N] [--warmup N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import secrets
import statistics
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

from bench import interleaved, round_trips, row
from infra.devkit import environment, moto
from infra.devkit.context import LambdaContext
from infra.devkit.events import load_event

TARGET = 1.3
CLIENT_ID = "bench-job"
DEFAULT_QUOTA = 1000
PEPPER = "bench-pepper-" + "x" * 40
HANDLER = "handler: POST /oauth2/token (basic)"
BASELINE = "baseline: 1 GetItem + 1 signature"
QUOTA_WRITE = "quota: 1 reservation (UpdateItem)"
SECRET_CHECK = "secret check: HMAC + compare"
ROUND_TRIPS = "DynamoDB requests per token"


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


def run(iterations: int, warmup: int) -> tuple[dict[str, list[float]], int, float]:
    """The samples, the quota's block size and the DynamoDB requests per token."""
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
    from authcore.clients.quota import lease_size
    from authcore.runtime import signing
    from functions.oauth import app as oauth_app

    context = LambdaContext("bench-token", 256)
    with moto.mocked() as mocked, contextlib.redirect_stdout(io.StringIO()):
        db = aws.dynamodb()  # the handler's own client (authcore.runtime.clients)
        # The default quota, or more when the run asks for more tokens than it allows.
        quota = max(DEFAULT_QUOTA, warmup + iterations + 100)
        client, secret = Client(
            CLIENT_ID, frozenset({"reports:read"}), quota_per_hour=quota
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
            store.reserve_tokens("bench-quota-only", hour, 10**9, lease_size(quota))

        stored = store.get(CLIENT_ID)
        assert stored is not None
        pepper = PEPPER.encode()

        def secret_check() -> None:
            assert stored.secret_matches(pepper, secret, time.time())

        results = interleaved(
            {
                HANDLER: handler,
                BASELINE: baseline,
                QUOTA_WRITE: quota_write,
                SECRET_CHECK: secret_check,
            },
            iterations,
            warmup,
        )
        per_token = round_trips(db, handler, times=10 * lease_size(quota))
    return results, lease_size(quota), per_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.token", description=__doc__)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    results, block, per_token = run(args.iterations, args.warmup)
    median = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"token endpoint against moto (loopback HTTP): {args.iterations} calls each after "
        f"{args.warmup} warm-up, interleaved; milliseconds per call, ratio to the baseline"
    )
    print(f"{'':<38}{'median':>9}{'p95':>9}{'mean':>9}{'ratio':>9}")
    for name, samples in results.items():
        print(row(name, samples, median[BASELINE], width=38))
    verdicts = [
        (
            "handler / baseline (median)",
            median[HANDLER] / median[BASELINE],
        ),
        (
            # The quota's share: one reservation per block of tokens, which the
            # baseline above leaves out, and no part of the secret check.
            "handler / (baseline + reservation / block) (median)",
            median[HANDLER] / (median[BASELINE] + median[QUOTA_WRITE] / block),
        ),
    ]
    for text, ratio in verdicts:
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"{text}: {ratio:.2f}x  [target at most {TARGET}x: {verdict}]")
    print(f"quota block: {block} tokens per reservation")
    print(f"{ROUND_TRIPS}: {per_token:g}")
    share = median[SECRET_CHECK] / median[HANDLER]
    print(f"secret check / handler (median): {share:.2%}")
    # A benchmark reports; it never fails a build (timings are not tests).
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
