"""Login timing: what an attacker can learn from the clock, and what a login costs.

Two comparisons, in one run against the same moto (loopback HTTP), the whole login
handler (``POST /auth/login``) each time:

- enumeration: an unknown username, a wrong password for a real account and
  the right password for a disabled one must take the same time (target: the
  medians within 10% of the wrong password's);
- cost: a successful login next to one bare argon2id verification at the
  configured parameters, the floor no login can go below (target: at most
  1.25x). moto answers in this process, so the three AWS calls a login cannot avoid
  (read the account, write the session, KMS Sign) cost CPU here where Lambda
  waits on the network; the target is therefore judged on a second run of the
  same login whose AWS answers are replayed at the HTTP layer (``Replay``): the
  clients still build and parse every call; only the signed HTTP exchange and the
  backend are left out. The login on moto (over HTTP, in this process) is printed too.

Calls are interleaved, one of each per round, so background load weighs on
every row alike. The lockout would turn the failures into cheap 429s after five
tries, so every failing call uses a fresh counter: unknown usernames are new
each time, and the accounts' counters are cleared between rounds, untimed.

    .venv/bin/python -m bench.login [--tries N] [--warmup N]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import row
from infra.devkit import environment, moto
from infra.devkit.context import LambdaContext
from infra.devkit.events import with_body

PASSWORD = "bench-password-long-enough"

UNKNOWN = "unknown username"
WRONG = "wrong password"
DISABLED = "disabled account, right password"
SUCCESS = "successful login (moto)"
REPLAYED = "successful login (AWS replayed)"
VERIFY = "one argon2id verification"

ENUMERATION_TARGET = 0.10
COST_TARGET = 1.25


def _event(username: str, password: str) -> dict[str, Any]:
    return with_body("login.json", {"username": username, "password": password, "delivery": "body"})


class Replay:
    """In front of a client's requests (``infra.devkit.wire``), answering each operation
    with the bytes moto sent for it the first time: the client's cost of a call
    (serialise, parse, retry logic) without the wire's or the backend's."""

    def __init__(self) -> None:
        self._on = False
        self.recorded: dict[str, tuple[int, bytes, Any]] = {}

    def attach(self, client: Any) -> None:
        from infra.devkit.wire import on_exchange

        on_exchange(client, self._exchange)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self._on = True
        try:
            yield
        finally:
            self._on = False

    def _exchange(self, real: Any, operation: str, *request: Any) -> tuple[int, bytes, Any]:
        if not self._on:
            return real(operation, *request)  # type: ignore[no-any-return]
        if operation not in self.recorded:
            answer = real(operation, *request)
            if answer[0] != 200:
                # Replaying an error would time the error path instead.
                raise RuntimeError(f"{operation} failed while recording: {answer[0]}")
            self.recorded[operation] = answer
        return self.recorded[operation]


def run(tries: int, warmup: int) -> tuple[dict[str, list[float]], str]:
    environment.host_functions({**moto.table_variables(), "POWERTOOLS_METRICS_NAMESPACE": "Bench"})
    from authcore import aws
    from authcore.runtime import signing
    from functions.login import app as login_app
    from infra.admin import Admin

    context = LambdaContext("bench-login", 1024)
    with moto.mocked() as mocked, contextlib.redirect_stdout(io.StringIO()):
        admin = Admin.connect("users", "sessions", mocked.dynamodb)
        # One account per row: a success right after a failure on the same account
        # would also pay for resetting its counter.
        admin.create_user("bench", PASSWORD, "profile")
        admin.create_user("alice", PASSWORD, "profile")
        admin.create_user("gone", PASSWORD, "profile")
        admin.set_disabled("gone", True)
        passwords = signing.passwords()
        alice = signing.users().get("alice")
        assert alice is not None
        counter = [0]

        def call(username: str, password: str, status: int) -> Callable[[], None]:
            def login() -> None:
                answer = login_app.lambda_handler(_event(username, password), context)
                assert answer["statusCode"] == status, answer

            return login

        def unknown() -> None:
            counter[0] += 1
            call(f"nobody-{counter[0]}", PASSWORD, 401)()

        def verify() -> None:
            assert passwords.verify(alice.password_hash, PASSWORD)

        replay = Replay()
        replay.attach(aws.dynamodb())
        replay.attach(aws.kms())
        succeed = call("alice", PASSWORD, 200)

        def replayed() -> None:
            with replay.active():
                succeed()

        replayed()  # untimed: records the answers (moto runs in full this once)

        calls = {
            UNKNOWN: unknown,
            WRONG: call("bench", "not-the-password", 401),
            DISABLED: call("gone", PASSWORD, 401),
            SUCCESS: succeed,
            REPLAYED: replayed,
            VERIFY: verify,
        }
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for round_number in range(warmup + tries):
            # As timeit does: no garbage collection inside a timed call; the
            # collector runs between rounds, untimed.
            gc.disable()
            for name, function in calls.items():
                start = time.perf_counter()
                function()
                elapsed = (time.perf_counter() - start) * 1000
                if round_number >= warmup:
                    samples[name].append(elapsed)
            gc.enable()
            gc.collect()
            # Untimed: the next round starts from clean counters, as a first guess would.
            admin.unlock("bench")
            admin.unlock("gone")
        parameters = alice.password_hash.split("$")[3]
    return samples, parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.login", description=__doc__)
    parser.add_argument("--tries", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    samples, parameters = run(args.tries, args.warmup)
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"login against moto (loopback HTTP), argon2id {parameters}: {args.tries} tries each "
        f"after {args.warmup} warm-up, interleaved; milliseconds"
    )
    print(f"{'':<36}{'median':>9}{'p95':>9}{'mean':>9}{'ratio':>9}")
    for name in (WRONG, UNKNOWN, DISABLED):
        print(row(name, samples[name], median[WRONG], width=36, digits=2))
    for name in (VERIFY, REPLAYED, SUCCESS):
        print(row(name, samples[name], median[VERIFY], width=36, digits=2))
    paired = statistics.median(u / w for u, w in zip(samples[UNKNOWN], samples[WRONG], strict=True))
    print(f"unknown / wrong, median of the per-round ratios: {paired:.3f}")
    enumeration = max(abs(median[n] / median[WRONG] - 1) for n in (UNKNOWN, DISABLED))
    cost = median[REPLAYED] / median[VERIFY]
    verdicts = [
        (
            f"unknown user / wrong password (median): {median[UNKNOWN] / median[WRONG]:.3f}; "
            f"disabled / wrong: {median[DISABLED] / median[WRONG]:.3f}",
            f"within {ENUMERATION_TARGET:.0%}",
            enumeration <= ENUMERATION_TARGET,
        ),
        (
            f"successful login, AWS replayed / one argon2id verification (median): {cost:.3f}",
            f"at most {COST_TARGET}x",
            cost <= COST_TARGET,
        ),
    ]
    for text, target, met in verdicts:
        print(f"{text}  [target {target}: {'met' if met else 'MISSED'}]")
    print(
        "successful login on moto / one argon2id verification (median, moto's CPU included): "
        f"{median[SUCCESS] / median[VERIFY]:.3f}"
    )
    # A benchmark reports; it never fails a build (timings are not tests).
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
