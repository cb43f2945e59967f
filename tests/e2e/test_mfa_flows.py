"""Contract §8 over real HTTP against the local stack: TOTP enrolled over the API with
codes computed by pyotp on the real clock, then logins with the second factor (body and
cookie delivery), replayed codes, recovery codes, and turning TOTP off.

Each test enrols a user of its own (tests/e2e/totp_users.py). Without waiting for the
clock, an account has two codes to spend: the current step's (which confirms the
enrolment) and the next step's (``code_after``), accepted now because the server allows
one step either side; the server refuses any step not later than the last one used.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e import totp_users
from tests.e2e.conftest import LocalStack
from tests.e2e.totp_users import Enrolled, claims_of, code_after, login, mfa_token_of, post

pytestmark = pytest.mark.e2e

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"


def second_step(stack: LocalStack, mfa_token: str, **proof: str) -> requests.Response:
    return post(stack, "/auth/login/mfa", {"mfa_token": mfa_token, **proof})


def assert_refused_grant(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()
    assert "Set-Cookie" not in response.headers


def me(stack: LocalStack, access_token: str) -> requests.Response:
    return requests.get(
        f"{stack.base_url}/api/me",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


def cookie_values(response: requests.Response) -> dict[str, str]:
    values = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        values[name] = rest.split(";", 1)[0]
    return values


@pytest.fixture
def enrolled(local_stack: LocalStack) -> Enrolled:
    return totp_users.enrolled_user(local_stack)


# ---------------------------------------------------------------- body delivery
def test_password_then_code_logs_in_and_the_code_works_once(
    local_stack: LocalStack, enrolled: Enrolled
):
    stack = local_stack
    # The password alone no longer gives tokens, only the second step's token.
    first = login(stack, enrolled.username, enrolled.password)
    mfa_token = mfa_token_of(first)
    assert first.json()["methods"] == ["totp", "recovery_code"]
    assert "access_token" not in first.json()
    assert "Set-Cookie" not in first.headers
    # A wrong password answers as for anyone: no mfa_token.
    wrong_password = login(stack, enrolled.username, "not-the-password-at-all")
    assert_refused_grant(wrong_password)
    assert "mfa_token" not in wrong_password.json()

    before = time.time()
    code = code_after(enrolled.secret)
    done = second_step(stack, mfa_token, code=code)
    assert done.status_code == 200, done.text
    assert "Set-Cookie" not in done.headers
    tokens = done.json()
    claims = claims_of(tokens["access_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["username"] == enrolled.username
    assert before - 5 <= claims["auth_time"] <= time.time() + 5
    answer = me(stack, tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"] == enrolled.username

    # The same code again, with a new first step: refused (the step is spent).
    replay = second_step(
        stack, mfa_token_of(login(stack, enrolled.username, enrolled.password)), code=code
    )
    assert_refused_grant(replay)
    # The spent mfa_token opens no second session either.
    assert_refused_grant(second_step(stack, mfa_token, code=code))

    # A refresh keeps how and when the user logged in.
    refreshed = post(stack, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    again = claims_of(refreshed.json()["access_token"])
    assert (again["amr"], again["auth_time"]) == (claims["amr"], claims["auth_time"])


# ---------------------------------------------------------------- cookie delivery
def test_the_second_step_delivers_cookies_when_the_login_asked_for_them(
    local_stack: LocalStack, enrolled: Enrolled
):
    stack = local_stack
    first = login(stack, enrolled.username, enrolled.password, delivery="cookie")
    mfa_token = mfa_token_of(first)
    assert "Set-Cookie" not in first.headers  # nothing delivered before the second factor

    done = second_step(stack, mfa_token, code=code_after(enrolled.secret))
    assert done.status_code == 200, done.text
    assert "access_token" not in done.json()
    assert "refresh_token" not in done.json()
    cookies = cookie_values(done)
    assert set(cookies) == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert claims_of(cookies[ACCESS_COOKIE])["amr"] == ["pwd", "otp", "mfa"]
    # The cookie is the credential a browser would send.
    answer = requests.get(
        f"{stack.base_url}/api/me",
        headers={"Cookie": f"{ACCESS_COOKIE}={cookies[ACCESS_COOKIE]}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"] == enrolled.username
    refreshed = requests.post(
        f"{stack.base_url}/auth/refresh",
        headers={"Cookie": f"{REFRESH_COOKIE}={cookies[REFRESH_COOKIE]}"},
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(cookie_values(refreshed)[ACCESS_COOKIE])["amr"] == ["pwd", "otp", "mfa"]


# ---------------------------------------------------------------- recovery codes
def test_a_recovery_code_logs_in_once(local_stack: LocalStack, enrolled: Enrolled):
    stack = local_stack
    assert len(set(enrolled.recovery_codes)) == 10
    code = enrolled.recovery_codes[4]
    # As people type it: upper case, spaces for hyphens.
    done = second_step(
        stack,
        mfa_token_of(login(stack, enrolled.username, enrolled.password)),
        recovery_code=code.upper().replace("-", " "),
    )
    assert done.status_code == 200, done.text
    assert claims_of(done.json()["access_token"])["amr"] == ["pwd", "otp", "mfa"]

    again = second_step(
        stack, mfa_token_of(login(stack, enrolled.username, enrolled.password)), recovery_code=code
    )
    assert_refused_grant(again)
    # Another code of the set still works.
    other = second_step(
        stack,
        mfa_token_of(login(stack, enrolled.username, enrolled.password)),
        recovery_code=enrolled.recovery_codes[5],
    )
    assert other.status_code == 200, other.text


# ---------------------------------------------------------------- turning it off
def test_totp_off_after_a_fresh_mfa_login_then_the_password_alone_logs_in(
    local_stack: LocalStack, enrolled: Enrolled
):
    stack = local_stack
    # The password-only session that enrolled may not turn it off (RFC 9470 step-up).
    refused = totp_users.delete(stack, "/auth/mfa/totp", enrolled.access_token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "insufficient_user_authentication"
    assert refused.headers["WWW-Authenticate"].startswith(
        'Bearer error="insufficient_user_authentication"'
    )
    assert "max_age=300" in refused.headers["WWW-Authenticate"]
    mfa_token_of(login(stack, enrolled.username, enrolled.password))  # still on

    done = second_step(
        stack,
        mfa_token_of(login(stack, enrolled.username, enrolled.password)),
        code=code_after(enrolled.secret),
    )
    assert done.status_code == 200, done.text
    off = totp_users.delete(stack, "/auth/mfa/totp", done.json()["access_token"])
    assert off.status_code == 204, off.text

    plain = login(stack, enrolled.username, enrolled.password)
    assert plain.status_code == 200, plain.text
    assert claims_of(plain.json()["access_token"])["amr"] == ["pwd"]
