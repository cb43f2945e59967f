"""The two authorizer modes over real HTTP against the local stack: after a logout, the
session-checked routes (/auth/sessions) refuse the old access token within
REVOCATION_MAX_LAG_SECONDS, while a stateless route (/api/me) keeps accepting it until
it expires. The stack runs both authorizer functions of template.yaml, each in worker
processes of its own with its own per-process cache, as Lambda would.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from infra.local.gateway import Authorizer, Gateway, Request
from infra.local.stack import LocalStack as Stack
from infra.template import Route
from tests.e2e.conftest import DEMO_PASSWORD, STACK_SETTINGS, LocalStack

pytestmark = pytest.mark.e2e

LAG = float(STACK_SETTINGS["REVOCATION_MAX_LAG_SECONDS"])
JSON = {"Content-Type": "application/json"}
# Enough requests at once to reach every worker of the session authorizer (the pool
# starts up to four), each of which may hold its own cached "live" for the session.
FAN_OUT = 8


def login(stack: LocalStack) -> dict[str, str]:
    response = requests.post(
        f"{stack.base_url}/auth/login",
        json={"username": "sam", "password": DEMO_PASSWORD, "delivery": "body"},
        headers=JSON,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def statuses(url: str, token: str, method: str = "GET") -> list[int]:
    """FAN_OUT concurrent requests with the token: the status of each."""

    def call(_: int) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, url, headers=headers, timeout=20).status_code

    with ThreadPoolExecutor(max_workers=FAN_OUT) as pool:
        return list(pool.map(call, range(FAN_OUT)))


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


def test_the_stack_runs_the_session_checked_authorizer_for_the_session_routes(
    local_stack: LocalStack,
):
    assert "SessionAuthorizerFunction on 8 route(s)" in local_stack.log()


def test_logout_reaches_the_session_routes_within_the_lag_and_api_me_at_exp(
    local_stack: LocalStack,
):
    base = local_stack.base_url
    tokens = login(local_stack)
    access, sid = tokens["access_token"], tokens["refresh_token"].split(".")[0]
    # Every worker of both authorizers has now seen the token and cached "live".
    assert statuses(f"{base}/auth/sessions", access) == [200] * FAN_OUT
    assert statuses(f"{base}/api/me", access) == [200] * FAN_OUT

    logout = requests.post(
        f"{base}/auth/logout", json={"refresh_token": tokens["refresh_token"]}, timeout=30
    )
    assert logout.status_code == 204
    logged_out = time.monotonic()

    # Poll (this is the only tier that waits for real time) until a refusal: its delay
    # is the lag a user sees; no request after LAG may be let through.
    first_refusal = None
    while time.monotonic() - logged_out < LAG:
        answer = requests.get(
            f"{base}/auth/sessions", headers={"Authorization": f"Bearer {access}"}, timeout=20
        )
        assert answer.status_code in (200, 403), answer.text
        if answer.status_code == 403 and first_refusal is None:
            first_refusal = time.monotonic() - logged_out
        time.sleep(0.05)
    assert first_refusal is not None, "still accepted by every worker after the whole lag"
    assert first_refusal <= LAG
    print(f"\nfirst refusal {first_refusal * 1000:.0f} ms after the logout (lag {LAG:.0f} s)")

    # Past the lag, no worker may accept it: GET and DELETE, all of them at once.
    assert statuses(f"{base}/auth/sessions", access) == [403] * FAN_OUT
    assert statuses(f"{base}/auth/sessions/{sid}", access, "DELETE") == [403] * FAN_OUT
    # The stateless route accepts the same token until it expires (documented).
    assert statuses(f"{base}/api/me", access) == [200] * FAN_OUT
