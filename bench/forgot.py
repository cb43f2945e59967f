"""Forgot-password and sign-up timing: what the clock tells a stranger about who
has an account (contract §7: the same answer for known and unknown accounts).

The whole handler each time (``POST /auth/password/forgot``, ``POST
/auth/signup`` with ``SIGNUP_ENABLED=true``) against in-process moto. The mail
job goes out through the real hand-off (``LambdaJobs``: an asynchronous Lambda
``Invoke``, ``InvocationType=Event``) to a stand-in of Lambda's endpoint on
127.0.0.1 (``AWS_ENDPOINT_URL_LAMBDA``) that answers ``202`` with an empty body
as Lambda does: botocore builds, signs and sends every call over a real
connection, and the job's outcome never reaches the answer, as when deployed.

- forgot: a known account's address against an address nobody has (and the same
  by username). The handler never looks the account up: the medians must agree
  within 10%.
- sign-up: a new account against a taken username and against a taken address.
  Each hashes the password, tries one conditional transaction and hands off one
  job (verification, or a notice to the owner): within 10% of the new account's.

Every answer is also compared byte for byte (status, headers, body, cookies;
request-specific headers aside: there are none today) and every call must have
handed off exactly one job. Calls are interleaved, one of each per round in a
shuffled order (seeded), so background load and the position in the round weigh
on every row alike.

    .venv/bin/python -m bench.forgot [--iterations N] [--warmup N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import interleaved, row
from infra.devkit import environment, moto
from infra.devkit.context import LambdaContext
from infra.devkit.events import with_body

TARGET = 0.10
PASSWORD = "bench passphrase: copper walrus orbit"
# Known and unknown values of the same lengths: the handler's work on them is the same.
KNOWN_USERNAME = "takenusr"
KNOWN_EMAIL = "takenusr@example.org"
UNKNOWN_USERNAME = "strayusr"
UNKNOWN_EMAIL = "strayusr@example.org"

FORGOT_KNOWN_EMAIL = "forgot, known address"
FORGOT_UNKNOWN_EMAIL = "forgot, unknown address"
FORGOT_KNOWN_NAME = "forgot, known username"
FORGOT_UNKNOWN_NAME = "forgot, unknown username"
SIGNUP_NEW = "sign-up, new account"
SIGNUP_TAKEN_NAME = "sign-up, taken username"
SIGNUP_TAKEN_EMAIL = "sign-up, taken address"

# (compared, reference) pairs, each judged against the target.
COMPARISONS = (
    ("forgot", FORGOT_UNKNOWN_EMAIL, FORGOT_KNOWN_EMAIL),
    ("forgot", FORGOT_UNKNOWN_NAME, FORGOT_KNOWN_NAME),
    ("sign-up", SIGNUP_TAKEN_NAME, SIGNUP_NEW),
    ("sign-up", SIGNUP_TAKEN_EMAIL, SIGNUP_NEW),
)
# Headers that may differ between two requests without telling anything (ids, dates).
REQUEST_SPECIFIC = frozenset({"date", "x-amzn-requestid", "x-request-id", "apigw-requestid"})


class LambdaStandIn(ThreadingHTTPServer):
    """Lambda's ``Invoke`` for ``InvocationType=Event``: ``202``, no payload. Keeps
    the jobs it was handed, unread until the end."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Invoke)
        self.jobs: list[tuple[str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[LambdaStandIn]:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()
            thread.join()


class _Invoke(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connection
    server: LambdaStandIn

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.jobs.append((self.path, self.rfile.read(length)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _event(path: str, body: dict[str, str]) -> dict[str, Any]:
    event = with_body("login.json", body)
    route = f"POST {path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    return event


def canonical(answer: dict[str, Any]) -> str:
    """The answer as a client sees it, request-specific headers left out."""
    headers = {
        name: value
        for name, value in (answer.get("headers") or {}).items()
        if name.lower() not in REQUEST_SPECIFIC
    }
    return json.dumps({**answer, "headers": headers}, sort_keys=True)


def run(
    iterations: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, tuple[set[str], int]], str]:
    """Samples per row; per route, its distinct answers and how many calls gave
    them (warm-up included); and a line on the jobs handed off."""
    standin = LambdaStandIn()
    with standin.serving():
        environment.host_functions(
            {
                **moto.table_variables(),
                "POWERTOOLS_METRICS_NAMESPACE": "Bench",
                "MAIL_FUNCTION": "mail",
                "SIGNUP_ENABLED": "true",
                # Set after the isolation (which drops every endpoint): Lambda only.
                "AWS_ENDPOINT_URL_LAMBDA": standin.url,
            }
        )
        from authcore.accounts.users import User
        from authcore.runtime import signing
        from functions.password import app as password_app
        from functions.signup import app as signup_app

        context = LambdaContext("bench-forgot", 256)
        answers: dict[str, set[str]] = {"forgot": set(), "sign-up": set()}
        compared = {"forgot": 0, "sign-up": 0}
        counter = [0]

        def call(module: Any, route: str, body: Callable[[], dict[str, str]]) -> Callable[[], None]:
            path = "/auth/password/forgot" if route == "forgot" else "/auth/signup"

            def request() -> None:
                answer = module.lambda_handler(_event(path, body()), context)
                assert answer["statusCode"] == 202, answer
                answers[route].add(canonical(answer))
                compared[route] += 1

            return request

        def fresh(prefix: str) -> str:
            counter[0] += 1
            return f"{prefix}{counter[0]:07d}"  # as long as the known names

        def new_account() -> dict[str, str]:
            name = fresh("n")
            return {"username": name, "email": f"{name}@example.org", "password": PASSWORD}

        def taken_name() -> dict[str, str]:
            email = f"{fresh('m')}@example.org"
            return {"username": KNOWN_USERNAME, "email": email, "password": PASSWORD}

        def taken_email() -> dict[str, str]:
            return {"username": fresh("m"), "email": KNOWN_EMAIL, "password": PASSWORD}

        calls: dict[str, Callable[[], None]] = {
            FORGOT_KNOWN_EMAIL: call(password_app, "forgot", lambda: {"email": KNOWN_EMAIL}),
            FORGOT_UNKNOWN_EMAIL: call(password_app, "forgot", lambda: {"email": UNKNOWN_EMAIL}),
            FORGOT_KNOWN_NAME: call(password_app, "forgot", lambda: {"username": KNOWN_USERNAME}),
            FORGOT_UNKNOWN_NAME: call(
                password_app, "forgot", lambda: {"username": UNKNOWN_USERNAME}
            ),
            SIGNUP_NEW: call(signup_app, "sign-up", new_account),
            SIGNUP_TAKEN_NAME: call(signup_app, "sign-up", taken_name),
            SIGNUP_TAKEN_EMAIL: call(signup_app, "sign-up", taken_email),
        }
        with moto.mocked(), contextlib.redirect_stdout(io.StringIO()):
            known = User.new(
                KNOWN_USERNAME,
                signing.passwords().hash(PASSWORD),
                "profile",
                email=KNOWN_EMAIL,
                email_verified=True,
            )
            signing.users().create(known, now=time.time())
            # A new order each round, no collection inside one (bench.interleaved).
            samples = interleaved(calls, iterations, warmup)
        requests = (warmup + iterations) * len(calls)
        kinds: dict[str, int] = {}
        for path, payload in standin.jobs:
            assert path == "/2015-03-31/functions/mail/invocations", path
            kind = json.loads(payload)["job"]
            kinds[kind] = kinds.get(kind, 0) + 1
        jobs = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        handed = len(standin.jobs)
        verdict = "one each" if handed == requests else "MISMATCH"
        line = f"mail jobs handed off: {handed} for {requests} requests ({jobs}): {verdict}"
    return (
        samples,
        {route: (distinct, compared[route]) for route, distinct in answers.items()},
        line,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forgot", description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    samples, answers, jobs_line = run(args.iterations, args.warmup)
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(
        "forgot and sign-up against moto in-process, mail jobs through LambdaJobs to a "
        f"stand-in Lambda Invoke endpoint (202): {args.iterations} calls each after "
        f"{args.warmup} warm-up, interleaved; milliseconds"
    )
    print(f"{'':<28}{'median':>9}{'p95':>9}{'mean':>9}{'ratio':>9}")
    references = {
        FORGOT_KNOWN_EMAIL: FORGOT_KNOWN_EMAIL,
        FORGOT_UNKNOWN_EMAIL: FORGOT_KNOWN_EMAIL,
        FORGOT_KNOWN_NAME: FORGOT_KNOWN_NAME,
        FORGOT_UNKNOWN_NAME: FORGOT_KNOWN_NAME,
        SIGNUP_NEW: SIGNUP_NEW,
        SIGNUP_TAKEN_NAME: SIGNUP_NEW,
        SIGNUP_TAKEN_EMAIL: SIGNUP_NEW,
    }
    for name, reference in references.items():
        print(row(name, samples[name], median[reference]))
    for route, compared, reference in COMPARISONS:
        ratio = median[compared] / median[reference]
        paired = statistics.median(
            a / b for a, b in zip(samples[compared], samples[reference], strict=True)
        )
        met = abs(ratio - 1) <= TARGET
        print(
            f"{route}: {compared.split(', ')[1]} / {reference.split(', ')[1]} (median): "
            f"{ratio:.3f}, per-round {paired:.3f}  "
            f"[target within {TARGET:.0%}: {'met' if met else 'MISSED'}]"
        )
    for route, (distinct, calls) in answers.items():
        same = "yes" if len(distinct) == 1 else f"NO, {len(distinct)} different"
        print(
            f"{route}: answers byte-identical (status, headers, body, cookies) "
            f"over all {calls} calls: {same}"
        )
        for answer in sorted(distinct):
            print(f"  {answer}")
    print(jobs_line)
    # A benchmark reports; it never fails a build (timings are not tests).
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
