"""The authorizers' ways of hearing of a revocation, over real HTTP against the local stack.

- Session-checked routes (/auth/sessions...): a logout is refused within
  REVOCATION_MAX_LAG_SECONDS (one cached read of the session).
- Routes behind the default authorizer (GET /api/me): with the revocation feed (contract
  §10, on by default), a logout or a logout everywhere is refused within
  REVOCATION_POLL_SECONDS + 1 s: the sessions table's stream -> the publisher function ->
  S3 -> every authorizer worker's own poll.
- The stateless mode without the feed (REVOCATION_POLL_SECONDS=0) honours a logout only
  at exp: that is a frozen clock's business, not a second stack's
  (tests/functional/test_session_checked_authorizer.py,
  test_a_revoked_session_is_refused_once_the_lag_has_passed_stateless_until_exp).

The stack runs both authorizer functions of template.yaml, each in worker processes of
its own with its own per-process state (cache, feed), as Lambda containers would.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
import pytest
import requests

from infra import template
from infra.local.gateway import Authorizer, Gateway, Request
from infra.local.pool import MAX_WORKERS_PER_FUNCTION
from infra.local.stack import LocalStack as Stack
from infra.local.stack import bucket_names
from infra.template import Route
from tests.e2e.conftest import DEMO_PASSWORD, STACK_SETTINGS, USERS, LocalStack

pytestmark = pytest.mark.e2e

LAG = float(STACK_SETTINGS["REVOCATION_MAX_LAG_SECONDS"])
POLL = float(STACK_SETTINGS["REVOCATION_POLL_SECONDS"])
# Contract §10: the bound under test, the lag a user of a stateless route may see.
FEED_BOUND = POLL + 1
JSON = {"Content-Type": "application/json"}
# Enough requests at once to reach every worker of an authorizer (the pool starts up to
# MAX_WORKERS_PER_FUNCTION), each of which holds its own cache and its own feed state.
FAN_OUT = 8
REFUSED = (401, 403)
# Logouts measured, and how many run side by side (so that the test takes seconds, and
# so that the authorizer's pool is busy enough to run all its workers).
TRIALS = 20
AT_ONCE = 4
# Between two fan-outs of one trial: fine enough a grain for a bound of seconds, coarse
# enough that the trials at once leave the machine (and the other tests) to the stream
# and the publisher.
PAUSE_SECONDS = 0.2
# Watched past the bound for one more poll interval: every worker has polled again since,
# so a worker that forgot the revocation (flapping) would show.
WATCH_SECONDS = FEED_BOUND + POLL
DENIAL = re.compile(r'^\[(AuthorizerFunction#\d+)\] .*"reason": "session_revoked"', re.M)


def login(stack: LocalStack, username: str = "sam", password: str = DEMO_PASSWORD) -> dict:
    response = requests.post(
        f"{stack.base_url}/auth/login",
        json={"username": username, "password": password, "delivery": "body"},
        headers=JSON,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def logout(stack: LocalStack, tokens: dict, *, everywhere: bool = False) -> None:
    body: dict = {"refresh_token": tokens["refresh_token"]}
    if everywhere:
        body["all"] = True
    answer = requests.post(f"{stack.base_url}/auth/logout", json=body, timeout=30)
    assert answer.status_code == 204, answer.text


def statuses(url: str, token: str, method: str = "GET") -> list[int]:
    """FAN_OUT concurrent requests with the token: the status of each."""

    def call(_: int) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, url, headers=headers, timeout=20).status_code

    with ThreadPoolExecutor(max_workers=FAN_OUT) as pool:
        return list(pool.map(call, range(FAN_OUT)))


@dataclass
class Watch:
    """The requests of the fan-outs with one token after its session was revoked:
    (sent, answered, status), in seconds since ``revoked_at``."""

    answers: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def first_refusal(self) -> float | None:
        return min((done for _, done, status in self.answers if status in REFUSED), default=None)

    @property
    def refused_from(self) -> float:
        """When the first request left after which every one was refused."""
        accepted = [sent for sent, _, status in self.answers if status == 200]
        return min(
            (sent for sent, _, _ in self.answers if sent > max(accepted, default=0.0)),
            default=float("inf"),
        )

    @property
    def last_acceptance(self) -> float:
        """When the token last worked somewhere (0: never after the revocation)."""
        return max((done for _, done, status in self.answers if status == 200), default=0.0)


def sessions_table(stack: LocalStack) -> Callable[[str], float]:
    """sid -> its ``revoked_at``: the moment the revoking function wrote (its clock read
    before the write, on this machine's clock), which the contract's bound counts from."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.env["AWS_ENDPOINT_URL"],
        region_name=stack.env["AWS_REGION"],
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
    )

    def revoked_at(sid: str) -> float:
        item = dynamodb.get_item(
            TableName=stack.env["SESSIONS_TABLE"], Key={"sid": {"S": sid}}, ConsistentRead=True
        )["Item"]
        return float(item["revoked_at"]["N"])

    return revoked_at


def watch(
    url: str,
    sessions: list[dict],
    revoke: Callable[[], None],
    revoked_at: Callable[[str], float],
    seconds: float = WATCH_SECONDS,
) -> list[Watch]:
    """Fan-outs on ``url`` with each session's access token, from ``revoke()`` until one
    leaves ``seconds`` after the revocation; a Watch per session."""
    revoke()
    ats = [revoked_at(tokens["refresh_token"].split(".")[0]) for tokens in sessions]
    answers: list[list[tuple[float, float, int]]] = [[] for _ in sessions]

    def call(token: str) -> tuple[float, float, int]:
        headers = {"Authorization": f"Bearer {token}"}
        sent = time.time()
        status = requests.get(url, headers=headers, timeout=20).status_code
        return sent, time.time(), status

    with ThreadPoolExecutor(max_workers=FAN_OUT) as pool:
        while True:
            last = time.time() >= min(ats) + seconds
            for tokens, seen in zip(sessions, answers, strict=True):
                seen.extend(pool.map(call, [tokens["access_token"]] * FAN_OUT))
            if last:
                break
            time.sleep(PAUSE_SECONDS)
    return [
        Watch([(sent - at, done - at, status) for sent, done, status in seen])
        for at, seen in zip(ats, answers, strict=True)
    ]


def assert_refused_within(
    seen: Watch, bound: float = FEED_BOUND, watched: float = WATCH_SECONDS
) -> None:
    """No request sent past ``bound`` was let through, and requests were sent past it
    until ``watched``: every worker refuses by then, and none lets the token through again
    (no flapping across workers). Judged by when a request left, the earliest the
    authorizer can have decided it: how long it then waited on a loaded machine is the
    test's, not the authorizer's."""
    assert [a for a in seen.answers if a[2] not in (200, *REFUSED)] == []
    past = [(sent, status) for sent, _, status in seen.answers if sent >= bound]
    assert [a for a in past if a[1] not in REFUSED] == []
    assert max(sent for sent, _ in past) >= watched


class FakePool:
    """Answers every invocation with ``answer`` and records the events."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer
        self.events: list[dict] = []

    def invoke(self, event: dict) -> dict:
        self.events.append(event)
        return self.answer


def test_the_local_gateway_calls_the_authorizer_each_route_names():
    pools = {
        "Fn": FakePool({"statusCode": 200, "body": "ok"}),
        "Stateless": FakePool({"isAuthorized": True, "context": {"sub": "u"}}),
        "Checked": FakePool({"isAuthorized": False}),
    }
    gateway = Gateway(
        [Route("GET", "/open", "Fn", True), Route("GET", "/checked", "Fn", True)],
        pools,  # type: ignore[arg-type]
        Authorizer("Stateless"),
        3000,
        print,
        route_authorizers={("GET", "/checked"): Authorizer("Checked")},
    )

    def get(path: str) -> int:
        return gateway.handle(Request("GET", path, "", [], b"", "127.0.0.1")).status

    assert get("/open") == 200
    assert (len(pools["Stateless"].events), len(pools["Checked"].events)) == (1, 0)
    assert get("/checked") == 403
    assert (len(pools["Stateless"].events), len(pools["Checked"].events)) == (1, 1)


def test_the_stack_reads_each_routes_authorizer_from_the_template():
    found = Stack(3000, print).route_authorizers()
    assert found == {
        ("GET", "/auth/sessions"): Authorizer("SessionAuthorizerFunction"),
        ("DELETE", "/auth/sessions/{sid}"): Authorizer("SessionAuthorizerFunction"),
        ("POST", "/auth/password"): Authorizer("SessionAuthorizerFunction"),
        # Contract §8: the second factor of the caller's own account.
        ("ANY", "/auth/mfa/totp"): Authorizer("SessionAuthorizerFunction"),
        ("ANY", "/auth/mfa/totp/confirm"): Authorizer("SessionAuthorizerFunction"),
        ("ANY", "/auth/mfa/recovery-codes"): Authorizer("SessionAuthorizerFunction"),
        ("POST", "/auth/webauthn/register/options"): Authorizer("SessionAuthorizerFunction"),
        ("POST", "/auth/webauthn/register"): Authorizer("SessionAuthorizerFunction"),
    }


def test_the_poll_interval_reaches_the_default_authorizer_and_the_feed_is_located():
    def environment(environ: dict[str, str]) -> dict[str, str]:
        stack = Stack(3999, lambda _line: None, environ=environ)
        stack.tables = {
            name: f"local-{name}" for name in template.resources("AWS::DynamoDB::Table")
        }
        stack.endpoint = "http://127.0.0.1:9"
        return stack.function_specs()["AuthorizerFunction"].environment

    assert environment({})["REVOCATION_POLL_SECONDS"] == "10"  # the contract's default
    configured = environment(dict(STACK_SETTINGS))
    assert configured["REVOCATION_POLL_SECONDS"] == STACK_SETTINGS["REVOCATION_POLL_SECONDS"]
    # The bucket the stack creates and the publisher writes to.
    assert configured["REVOCATION_FEED_BUCKET"] == bucket_names()["RevocationFeedBucket"]


def test_the_stack_runs_the_session_checked_authorizer_for_the_session_routes(
    local_stack: LocalStack,
):
    assert "SessionAuthorizerFunction on 8 route(s)" in local_stack.log()


def test_logout_reaches_the_session_routes_within_the_max_lag(local_stack: LocalStack):
    base = local_stack.base_url
    tokens = login(local_stack)
    access, sid = tokens["access_token"], tokens["refresh_token"].split(".")[0]
    # Every worker of the session authorizer has now seen the token and cached "live".
    assert statuses(f"{base}/auth/sessions", access) == [200] * FAN_OUT

    # Polled (this is the only tier that waits for real time) for a second past the lag.
    [seen] = watch(
        f"{base}/auth/sessions",
        [tokens],
        lambda: logout(local_stack, tokens),
        sessions_table(local_stack),
        seconds=LAG + 1,
    )

    assert_refused_within(seen, bound=LAG, watched=LAG + 1)
    print(
        f"\nsession routes: first refusal {(seen.first_refusal or 0) * 1000:.0f} ms "
        f"after the logout (lag {LAG:.0f} s)"
    )
    # Past the lag, no worker may accept it on the other session route either.
    assert statuses(f"{base}/auth/sessions/{sid}", access, "DELETE") == [403] * FAN_OUT


def test_logout_reaches_the_default_authorizer_within_the_poll_interval_plus_one_second(
    local_stack: LocalStack,
):
    me = f"{local_stack.base_url}/api/me"
    user = USERS["logout-lag"]
    revoked_at = sessions_table(local_stack)
    log_before = len(local_stack.log())

    def trial(_: int) -> Watch:
        tokens = login(local_stack, user["username"], user["password"])
        access = tokens["access_token"]
        # Live just before the logout, on every worker the fan-out reaches.
        assert statuses(me, access) == [200] * FAN_OUT
        [seen] = watch(me, [tokens], lambda: logout(local_stack, tokens), revoked_at)
        return seen

    with ThreadPoolExecutor(max_workers=AT_ONCE) as trials:
        watches = list(trials.map(trial, range(TRIALS)))

    firsts = [w.first_refusal or float("inf") for w in watches]
    lasts = [w.last_acceptance for w in watches]
    froms = [w.refused_from for w in watches]
    for name, figures in (
        ("first refusal (answered)", firsts),
        ("last acceptance (answered)", lasts),
        ("every request refused from (sent)", froms),
    ):
        print(
            f"\n{name} after the logout over {TRIALS} logouts (bound {FEED_BOUND:.0f} s): "
            f"min {min(figures) * 1000:.0f} ms, median {statistics.median(figures) * 1000:.0f} "
            f"ms, max {max(figures) * 1000:.0f} ms"
        )
    for seen in watches:
        assert_refused_within(seen)
    # The fan-outs reached every worker of the default authorizer, and each of them, with
    # its own feed state, learnt of the revocations.
    refusing = set(DENIAL.findall(local_stack.log()[log_before:]))
    assert len(refusing) >= MAX_WORKERS_PER_FUNCTION, refusing


def test_logout_everywhere_reaches_the_default_authorizer_within_the_bound(
    local_stack: LocalStack,
):
    me = f"{local_stack.base_url}/api/me"
    user = USERS["everywhere"]
    sessions = [login(local_stack, user["username"], user["password"]) for _ in range(2)]
    accesses = [tokens["access_token"] for tokens in sessions]
    for access in accesses:
        assert statuses(me, access) == [200] * FAN_OUT

    # Logged out everywhere from the first session: the second one ends too.
    watches = watch(
        me,
        sessions,
        lambda: logout(local_stack, sessions[0], everywhere=True),
        sessions_table(local_stack),
    )

    for seen in watches:
        assert_refused_within(seen)
    print(
        "\nlogout everywhere, first refusal of each session: "
        + ", ".join(f"{(seen.first_refusal or 0) * 1000:.0f} ms" for seen in watches)
    )
