"""Contract §8, TOTP and recovery codes, through the real handlers over moto (KMS
included): enrolment, the second step of a login, replay, back-off, recovery codes,
step-up (RFC 9470), and what a refresh keeps. Every time-dependent case runs on a
frozen clock (time-machine)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
import pyotp
import pytest
import time_machine
from support import DEMO_PASSWORD, Answer, invoke, with_body

from authcore.mfa import totp
from authcore.runtime import signing
from functions.login import app as login_app
from functions.mfa import app as mfa_app
from functions.refresh import app as refresh_app
from infra import template
from infra.devkit import moto

T0 = 1_800_000_010.0  # 10 s into a 30-second step


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def route(method: str, path: str, claims: dict[str, Any] | None, body: Any = None) -> Answer:
    """The MFA function's event for ``method path``, with the authorizer's context for
    the token whose ``claims`` are given (as the session-checked authorizer writes it)."""
    event = with_body("password_change.json", body if body is not None else "")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["requestContext"]["http"]["method"] = method
    if body is None:
        event["headers"].pop("content-type", None)
    if claims is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {
            "lambda": {
                **{k: claims[k] for k in ("sub", "sid", "username", "scope", "client_id")},
                "exp": claims["exp"],
                "amr": " ".join(claims.get("amr", [])),
                "auth_time": claims.get("auth_time", 0),
            }
        }
    return invoke(mfa_app, event)


def login(password: str = DEMO_PASSWORD, delivery: str = "body", username: str = "sam") -> Answer:
    body = {"username": username, "password": password, "delivery": delivery}
    return invoke(login_app, with_body("login.json", body))


def second_step(mfa_token: str, **proof: str) -> Answer:
    event = with_body("login.json", {"mfa_token": mfa_token, **proof})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/auth/login/mfa"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /auth/login/mfa"
    return invoke(login_app, event)


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


class Enrolled:
    """The demo user with TOTP on: its secret and recovery codes."""

    def __init__(self, secret: str, codes: list[str]) -> None:
        self.secret = secret
        self.codes = codes


def enrol(clock: Any) -> Enrolled:
    claims = claims_of(login().body["access_token"])
    started = route("POST", "/auth/mfa/totp", claims)
    assert started.status == 200, started.body
    secret = started.body["secret"]
    confirmed = route(
        "POST", "/auth/mfa/totp/confirm", claims, {"code": code_at(secret, clock.time())}
    )
    assert confirmed.status == 200, confirmed.body
    return Enrolled(secret, confirmed.body["recovery_codes"])


@pytest.fixture
def clock(stack, demo_user):
    with time_machine.travel(T0, tick=False) as traveller:

        class Clock:
            def time(self) -> float:
                return T0 + elapsed[0]

            def shift(self, seconds: float) -> None:
                elapsed[0] += seconds
                traveller.shift(seconds)

        elapsed = [0.0]
        yield Clock()


@pytest.fixture
def enrolled(clock) -> Enrolled:
    return enrol(clock)


def mfa_token_of(answer: Answer) -> str:
    assert (answer.status, answer.body["error"]) == (401, "mfa_required"), answer.body
    return str(answer.body["mfa_token"])


# ------------------------------------------------------------------ enrolment
def test_enrolment_gives_a_160_bit_secret_an_otpauth_uri_and_a_qr(clock):
    claims = claims_of(login().body["access_token"])
    started = route("POST", "/auth/mfa/totp", claims)
    assert started.status == 200
    secret = started.body["secret"]
    assert len(base64.b32decode(secret)) == 20
    uri = started.body["otpauth_uri"]
    assert uri.startswith("otpauth://totp/authcore:sam?")
    assert f"secret={secret}" in uri
    assert started.body["otpauth_qr"].startswith("data:image/svg+xml;base64,")
    assert started.headers["Cache-Control"] == "no-store"
    # Pending until confirmed: the login does not ask for it yet.
    assert login().status == 200


def test_the_secret_is_stored_sealed_never_in_clear(clock, stack):
    enrolled = enrol(clock)
    item = stack.dynamodb.get_item(TableName="users", Key={"username": {"S": "sam"}})["Item"]
    dump = json.dumps({k: str(v) for k, v in item.items()})
    assert enrolled.secret not in dump
    assert "totp_pending" not in item
    assert len(item["recovery_codes"]["SS"]) == 10
    for code in enrolled.codes:
        assert code not in dump
        assert code.replace("-", "") not in dump


def test_a_wrong_first_code_leaves_totp_off(clock):
    claims = claims_of(login().body["access_token"])
    secret = route("POST", "/auth/mfa/totp", claims).body["secret"]
    wrong = f"{(int(code_at(secret, clock.time())) + 1) % 1_000_000:06d}"
    refused = route("POST", "/auth/mfa/totp/confirm", claims, {"code": wrong})
    assert (refused.status, refused.body["error"]) == (401, "invalid_grant")
    assert login().status == 200


def test_confirming_without_enrolment_is_a_400(clock):
    claims = claims_of(login().body["access_token"])
    answer = route("POST", "/auth/mfa/totp/confirm", claims, {"code": "123456"})
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


def test_enrolment_needs_a_recent_login(clock):
    claims = claims_of(login().body["access_token"])
    clock.shift(301)
    # A token refreshed since keeps the login's time: still too old.
    answer = route("POST", "/auth/mfa/totp", claims)
    assert answer.status == 401
    assert answer.body["error"] == "insufficient_user_authentication"
    assert answer.headers["WWW-Authenticate"].startswith(
        'Bearer error="insufficient_user_authentication"'
    )
    assert "max_age=300" in answer.headers["WWW-Authenticate"]


def test_a_machine_client_token_cannot_enrol(clock):
    claims = {
        "sub": "reporting-client",
        "sid": "",
        "username": "",
        "scope": "",
        "client_id": "reporting-client",
        "exp": T0 + 900,
    }
    assert route("POST", "/auth/mfa/totp", claims).status == 403


# ------------------------------------------------------------------ the second step
def test_the_right_password_answers_mfa_required_and_a_wrong_one_as_always(enrolled, clock):
    required = login()
    token = mfa_token_of(required)
    assert required.body["methods"] == ["totp", "recovery_code"]
    assert required.headers["WWW-Authenticate"] == 'Bearer error="mfa_required"'
    assert len(token) >= 43
    assert "access_token" not in required.body
    assert required.cookies == []
    wrong = login("not-the-password")
    assert (wrong.status, wrong.body) == (
        401,
        {"error": "invalid_grant", "error_description": "Invalid username or password."},
    )


def test_the_second_step_gives_tokens_with_amr_and_auth_time(enrolled, clock):
    token = mfa_token_of(login())
    clock.shift(30)
    done = second_step(token, code=code_at(enrolled.secret, clock.time()))
    assert done.status == 200, done.body
    claims = claims_of(done.body["access_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["auth_time"] == int(clock.time())
    # A refresh keeps how and when the user logged in.
    clock.shift(60)
    refreshed = invoke(
        refresh_app, with_body("refresh.json", {"refresh_token": done.body["refresh_token"]})
    )
    again = claims_of(refreshed.body["access_token"])
    assert (again["amr"], again["auth_time"]) == (claims["amr"], claims["auth_time"])
    assert again["iat"] > claims["iat"]


def test_the_confirming_code_cannot_log_in(enrolled, clock):
    used = code_at(enrolled.secret, clock.time())
    answer = second_step(mfa_token_of(login()), code=used)
    assert (answer.status, answer.body["error"]) == (401, "invalid_grant")


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_a_code_is_accepted_within_one_step_either_side(enrolled, clock, offset, accepted):
    clock.shift(90)  # past the confirming code's step and its neighbours
    code = code_at(enrolled.secret, clock.time() + offset * totp.PERIOD)
    answer = second_step(mfa_token_of(login()), code=code)
    assert (answer.status == 200) is accepted, answer.body


def test_a_code_works_once(enrolled, clock):
    clock.shift(60)
    code = code_at(enrolled.secret, clock.time())
    assert second_step(mfa_token_of(login()), code=code).status == 200
    replay = second_step(mfa_token_of(login()), code=code)
    assert (replay.status, replay.body["error"]) == (401, "invalid_grant")
    # An earlier step than the last used is refused too (within the window).
    earlier = code_at(enrolled.secret, clock.time() - totp.PERIOD)
    assert second_step(mfa_token_of(login()), code=earlier).status == 401


def test_an_mfa_token_gives_one_session_and_expires_after_5_minutes(enrolled, clock):
    clock.shift(60)
    token = mfa_token_of(login())
    assert second_step(token, code=code_at(enrolled.secret, clock.time())).status == 200
    clock.shift(30)
    spent = second_step(token, code=code_at(enrolled.secret, clock.time()))
    assert (spent.status, spent.body["error"]) == (401, "invalid_grant")
    late = mfa_token_of(login())
    clock.shift(301)
    expired = second_step(late, code=code_at(enrolled.secret, clock.time()))
    assert (expired.status, expired.body["error"]) == (401, "invalid_grant")


def test_the_mfa_token_is_no_credential_elsewhere(enrolled, clock, stack):
    token = mfa_token_of(login())
    refreshed = invoke(refresh_app, with_body("refresh.json", {"refresh_token": token}))
    assert refreshed.status == 401
    # Only its digest is stored.
    dump = json.dumps(stack.dynamodb.scan(TableName="users")["Items"], default=str)
    assert token not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_the_answer_goes_the_way_the_login_asked(enrolled, clock):
    clock.shift(60)
    token = mfa_token_of(login(delivery="cookie"))
    done = second_step(token, code=code_at(enrolled.secret, clock.time()))
    assert done.status == 200
    assert "access_token" not in done.body
    assert done.cookie("__Host-access_token")
    assert done.cookie("__Secure-refresh_token")


def test_five_wrong_codes_lock_the_second_step_with_the_password_back_off(enrolled, clock):
    clock.shift(60)
    token = mfa_token_of(login())
    right = code_at(enrolled.secret, clock.time())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    statuses = [second_step(token, code=wrong).status for _ in range(5)]
    assert statuses == [401] * 5
    locked = second_step(token, code=right)
    assert (locked.status, locked.body["error"]) == (429, "too_many_requests")
    assert locked.headers["Retry-After"] == "60"
    clock.shift(61)
    assert second_step(token, code=code_at(enrolled.secret, clock.time())).status == 200


def test_the_password_changed_since_the_first_step_voids_it(enrolled, clock, stack):
    token = mfa_token_of(login())
    stack.admin.set_password("sam", "a-completely-new-passphrase")
    clock.shift(60)
    answer = second_step(token, code=code_at(enrolled.secret, clock.time()))
    assert (answer.status, answer.body["error"]) == (401, "invalid_grant")


@pytest.mark.parametrize(
    "body",
    [
        {"mfa_token": "x"},
        {"mfa_token": "x", "code": "123456", "recovery_code": "abcd"},
        {"code": "123456"},
        {"mfa_token": 7, "code": "123456"},
        {"mfa_token": "x", "code": "1" * 65},
    ],
)
def test_malformed_second_steps_are_400(body, clock):
    event = with_body("login.json", body)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/auth/login/mfa"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /auth/login/mfa"
    answer = invoke(login_app, event)
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


# ------------------------------------------------------------------ recovery codes
def test_a_recovery_code_logs_in_once(enrolled, clock, stack, capfd, caplog):
    code = enrolled.codes[3]
    capfd.readouterr()
    done = second_step(mfa_token_of(login()), recovery_code=code.upper().replace("-", " "))
    assert done.status == 200, done.body
    # A security event: the metric and a WARNING line naming the codes left, never the code.
    printed = capfd.readouterr().out
    assert '"RecoveryCodeUsed":[1.0]' in printed
    (event,) = [
        r for r in caplog.records if getattr(r, "security_event", "") == "recovery_code_used"
    ]
    assert (event.levelname, event.codes_left) == ("WARNING", 9)
    assert code not in printed + caplog.text
    assert claims_of(done.body["access_token"])["amr"] == ["pwd", "otp", "mfa"]
    again = second_step(mfa_token_of(login()), recovery_code=code)
    assert (again.status, again.body["error"]) == (401, "invalid_grant")
    item = stack.dynamodb.get_item(TableName="users", Key={"username": {"S": "sam"}})["Item"]
    assert len(item["recovery_codes"]["SS"]) == 9


def test_new_recovery_codes_void_the_old_ones(enrolled, clock):
    clock.shift(60)
    done = second_step(mfa_token_of(login()), code=code_at(enrolled.secret, clock.time()))
    with_factor = claims_of(done.body["access_token"])
    fresh = route("POST", "/auth/mfa/recovery-codes", with_factor)
    assert fresh.status == 200
    assert len(set(fresh.body["recovery_codes"])) == 10
    assert not set(fresh.body["recovery_codes"]) & set(enrolled.codes)
    old = second_step(mfa_token_of(login()), recovery_code=enrolled.codes[0])
    assert old.status == 401
    new = fresh.body["recovery_codes"][0]
    assert second_step(mfa_token_of(login()), recovery_code=new).status == 200


# ------------------------------------------------------------------ turning it off
def test_turning_totp_off_needs_a_second_factor_within_5_minutes(enrolled, clock):
    clock.shift(60)
    done = second_step(mfa_token_of(login()), code=code_at(enrolled.secret, clock.time()))
    with_factor = claims_of(done.body["access_token"])
    clock.shift(301)
    stale = route("DELETE", "/auth/mfa/totp", with_factor)
    assert (stale.status, stale.body["error"]) == (401, "insufficient_user_authentication")
    clock.shift(30)
    done = second_step(mfa_token_of(login()), code=code_at(enrolled.secret, clock.time()))
    assert route("DELETE", "/auth/mfa/totp", claims_of(done.body["access_token"])).status == 204
    # Off: the password alone logs in again.
    assert login().status == 200


def test_a_password_only_login_cannot_turn_totp_off_or_replace_it(enrolled, clock, stack):
    # A stolen password-only session (from before enrolment) is not enough.
    item = stack.dynamodb.get_item(TableName="users", Key={"username": {"S": "sam"}})["Item"]
    claims = {
        "sub": item["user_id"]["S"],
        "sid": "s-1",
        "username": "sam",
        "scope": "profile",
        "client_id": "web",
        "exp": T0 + 900,
        "amr": ["pwd"],
        "auth_time": T0,
    }
    for method, path in (
        ("DELETE", "/auth/mfa/totp"),
        ("POST", "/auth/mfa/recovery-codes"),
        ("POST", "/auth/mfa/totp"),
    ):
        answer = route(method, path, claims)
        assert (answer.status, answer.body["error"]) == (
            401,
            "insufficient_user_authentication",
        ), path


def test_the_mfa_function_runs_on_the_environment_the_template_gives_it(clock, monkeypatch):
    """MfaFunction has USERS_TABLE but no SESSIONS_TABLE or KEYS_TABLE (it opens no
    session): its wiring must not ask for them (it did, and every request was a 503)."""
    claims = claims_of(login().body["access_token"])
    own = template.functions()["MfaFunction"].environment
    for name in moto.table_variables():
        if name not in own:
            monkeypatch.delenv(name)
    signing.reset()
    started = route("POST", "/auth/mfa/totp", claims)
    assert started.status == 200, started.body
    code = code_at(started.body["secret"], clock.time())
    confirmed = route("POST", "/auth/mfa/totp/confirm", claims, {"code": code})
    assert confirmed.status == 200, confirmed.body
    assert len(confirmed.body["recovery_codes"]) == 10


def test_other_methods_are_405(clock):
    claims = claims_of(login().body["access_token"])
    answer = route("GET", "/auth/mfa/totp", claims)
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST, DELETE"


def test_an_administrator_can_reset_a_lost_second_factor(enrolled, clock, stack):
    """The way out when both the phone and the recovery codes are lost: TOTP off, codes
    void, every session ended; the password alone logs in afterwards."""
    clock.shift(60)
    done = second_step(mfa_token_of(login()), code=code_at(enrolled.secret, clock.time()))
    assert stack.admin.show("sam")["totp"] is True
    stack.admin.settle_seconds = 0.0
    result = stack.admin.reset_mfa("sam")
    # The enrolment's login and the second step's.
    assert result == {"mfa_reset": "sam", "had_totp": True, "sessions_revoked": 2}
    assert (stack.admin.show("sam")["totp"], stack.admin.show("sam")["recovery_codes_left"]) == (
        False,
        0,
    )
    refused = invoke(
        refresh_app, with_body("refresh.json", {"refresh_token": done.body["refresh_token"]})
    )
    assert refused.status == 401
    assert login().status == 200


def test_a_password_change_with_totp_on_needs_a_recent_second_factor(enrolled, clock, monkeypatch):
    """A sensitive change (contract §8): the password that guards the first step is not
    changed on the strength of a session alone once the account has a second factor."""
    import functools

    from authcore.runtime import accounts as accounts_runtime
    from functions.password import app as password_app

    handed_off: list[dict[str, str]] = []

    class Jobs:
        def submit(self, job: dict[str, str]) -> None:
            handed_off.append(job)

    monkeypatch.setenv("MAIL_FUNCTION", "AccountMailFunction")
    monkeypatch.setattr(accounts_runtime, "mail_jobs", functools.cache(Jobs))

    def change(claims: dict[str, Any], new: str) -> Answer:
        event = with_body(
            "password_change.json", {"current_password": DEMO_PASSWORD, "new_password": new}
        )
        event["requestContext"]["authorizer"]["lambda"].update(
            {
                **{k: claims[k] for k in ("sub", "sid", "username", "scope")},
                "amr": " ".join(claims["amr"]),
                "auth_time": claims["auth_time"],
            }
        )
        return invoke(password_app, event)

    clock.shift(60)
    done = second_step(mfa_token_of(login()), code=code_at(enrolled.secret, clock.time()))
    with_factor = claims_of(done.body["access_token"])
    password_only = dict(with_factor, amr=["pwd"])
    refused = change(password_only, "plover-quartz-lantern-violet")
    assert (refused.status, refused.body["error"]) == (401, "insufficient_user_authentication")
    assert change(with_factor, "plover-quartz-lantern-violet").status == 204
    assert [job["job"] for job in handed_off] == ["password_changed"]
    clock.shift(301)
    stale = change(with_factor, "another-quite-long-passphrase")
    assert (stale.status, stale.body["error"]) == (401, "insufficient_user_authentication")
