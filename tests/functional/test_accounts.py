"""Contract §7 through the real handlers over moto: password change, forgot and reset,
sign-up, email verification and invitations, with every mail read from the local outbox.

Mail jobs are handed to the real mail function in-process (``jobs`` below stands in for
Lambda's asynchronous invoke, whose adapter has a test of its own); every expiry runs on
a frozen clock (time-machine).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import time_machine
from session_checks import session_check_via
from support import DEMO_PASSWORD, Answer, LambdaContext, invoke, load_event, with_body

from authcore.accounts.mailtokens import MailToken
from authcore.runtime import accounts as accounts_runtime
from authcore.runtime import signing
from functions.authorizer import app as authorizer_app
from functions.mail import app as mail_app
from functions.password import app as password_app
from functions.refresh import app as refresh_app
from functions.signup import app as signup_app

APP_URL = "https://app.example.com"
NEW_PASSWORD = "plum-orbit-lantern-velvet"
T0 = 1_800_000_000.0
REFUSED = {"error": "invalid_grant", "error_description": "The link is invalid, used or expired."}


class InlineJobs:
    """Lambda's asynchronous invoke, run at once in-process (or held, to run later)."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, str]] = []
        self.hold = False
        self.outcomes: list[dict[str, str]] = []

    def factory(self) -> InlineJobs:
        """Stands in for ``runtime.accounts.mail_jobs`` (whose cache ``signing.reset`` clears)."""
        return self

    factory.cache_clear = lambda: None  # type: ignore[attr-defined]

    def submit(self, job: dict[str, str]) -> None:
        self.submitted.append(dict(job))
        if not self.hold:
            self.run(job)

    def run(self, job: dict[str, str]) -> None:
        self.outcomes.append(mail_app.lambda_handler(json.loads(json.dumps(job)), LambdaContext()))


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def mails(self) -> list[dict[str, str]]:
        if not self.dir.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("*.json"))]

    def last(self) -> dict[str, str]:
        mails = self.mails()
        assert mails, "no mail was sent"
        return mails[-1]

    def token(self, path: str = "/reset-password") -> str:
        text = self.last()["text"]
        match = re.search(re.escape(APP_URL + path) + r"#token=([A-Za-z0-9_-]+)", text)
        assert match, text
        return match[1]


@pytest.fixture
def jobs(stack, monkeypatch, tmp_path) -> InlineJobs:
    monkeypatch.setenv("APP_URL", APP_URL)
    monkeypatch.setenv("LOCAL_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("MAIL_FUNCTION", "AccountMailFunction")
    monkeypatch.setattr("authcore.accounts.service.INDEX_SETTLE_SECONDS", 0.0)
    signing.reset()
    inline = InlineJobs()
    monkeypatch.setattr(accounts_runtime, "mail_jobs", inline.factory)
    return inline


@pytest.fixture
def outbox(jobs, tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox")


def make_user(stack, name: str, password: str, email: str, *, verified: bool = True):
    from authcore.accounts.users import User

    hashed = stack.admin.passwords.hash(password) if password else ""
    user = User.new(name, hashed, "profile", email=email, email_verified=verified)
    stack.admin.users.create(user, now=time.time())
    return user


@pytest.fixture
def alice(stack, jobs):
    return make_user(stack, "alice", "alice-original-password", "Alice@Example.com")


def post(path: str, body: Any, **headers: str) -> dict[str, Any]:
    """An HTTP API event for POST ``path`` (the login sample, re-aimed)."""
    event = with_body("login.json", body)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {path}"
    event["headers"].update(headers)
    return event


def as_caller(event: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["authorizer"] = {
        "lambda": {k: claims[k] for k in ("sub", "sid", "username", "scope")}
    }
    return event


def claims_of(access_token: str) -> dict[str, Any]:
    import jwt

    return dict(jwt.decode(access_token, options={"verify_signature": False}))


def forgot(**body: str) -> Answer:
    return invoke(password_app, post("/auth/password/forgot", body))


def reset(token: str, password: str = NEW_PASSWORD) -> Answer:
    return invoke(
        password_app, post("/auth/password/reset", {"token": token, "new_password": password})
    )


def change(claims: dict[str, Any], current: str, new: str = NEW_PASSWORD) -> Answer:
    event = post("/auth/password", {"current_password": current, "new_password": new})
    return invoke(password_app, as_caller(event, claims))


def refresh(refresh_token: str) -> Answer:
    return invoke(refresh_app, with_body("refresh.json", {"refresh_token": refresh_token}))


def comparable(answer: Answer) -> tuple[int, dict[str, str], Any, list[str]]:
    return answer.status, answer.headers, answer.body, answer.cookies


# ------------------------------------------------------------------ forgot
def test_forgot_answers_byte_for_byte_the_same_for_known_and_unknown_accounts(alice, outbox, jobs):
    known = password_app.lambda_handler(
        post("/auth/password/forgot", {"email": "alice@example.com"}), LambdaContext()
    )
    unknown = password_app.lambda_handler(
        post("/auth/password/forgot", {"email": "nobody@example.com"}), LambdaContext()
    )
    assert known == unknown
    assert known["statusCode"] == 202
    assert known["body"] == "{}"
    assert known["headers"]["Cache-Control"] == "no-store"
    # Both handed a job off; only the known account got a mail.
    assert [j["job"] for j in jobs.submitted] == ["reset", "reset"]
    assert [m["to"] for m in outbox.mails()] == ["alice@example.com"]
    assert [o["outcome"] for o in jobs.outcomes] == ["sent", "no_account"]


def test_forgot_by_username_and_by_address_in_any_case(alice, outbox):
    assert forgot(username="ALICE").status == 202
    assert forgot(email="ALICE@example.COM").status == 202
    assert [m["to"] for m in outbox.mails()] == ["alice@example.com"] * 2


def test_forgot_sends_nothing_to_a_disabled_account(alice, outbox, stack):
    stack.admin.set_disabled("alice", True)
    assert forgot(email="alice@example.com").status == 202
    assert outbox.mails() == []


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.com", "username": "a"}, {"email": 3}, {"email": "not-an-address"}],
)
def test_malformed_forgot_requests_are_400_whoever_they_name(jobs, body):
    answer = invoke(password_app, post("/auth/password/forgot", body))
    assert answer.status == 400
    assert answer.body["error"] == "invalid_request"
    assert jobs.submitted == []


def test_the_fourth_reset_request_in_an_hour_sends_nothing(alice, outbox):
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(4):
            assert forgot(email="alice@example.com").status == 202
        assert len(outbox.mails()) == 3
        # The window rolls: an hour after the first mail, one more may go.
        clock.shift(3600)
        assert forgot(email="alice@example.com").status == 202
        assert len(outbox.mails()) == 4


def test_a_forged_host_never_changes_the_link(alice, outbox):
    event = post(
        "/auth/password/forgot",
        {"email": "alice@example.com"},
        host="evil.example",
        **{"x-forwarded-host": "evil.example"},
    )
    event["requestContext"]["domainName"] = "evil.example"
    assert invoke(password_app, event).status == 202
    text = outbox.last()["text"]
    assert "evil.example" not in text
    assert f"{APP_URL}/reset-password#token=" in text


def test_the_reset_mail_says_what_happened_and_what_to_do_if_it_was_not_you(alice, outbox):
    forgot(email="alice@example.com")
    mail = outbox.last()
    assert mail["subject"] == "Reset your password"
    assert "alice" in mail["text"]
    assert "If it was not you" in mail["text"]
    assert set(mail) == {"to", "subject", "text"}


# ------------------------------------------------------------------ reset
def test_reset_sets_the_password_ends_every_session_and_creates_none(
    alice, outbox, login_as, jobs, stack
):
    sessions = [login_as("alice", "alice-original-password").body for _ in range(2)]
    forgot(email="alice@example.com")
    answer = reset(outbox.token())
    assert answer.status == 204
    assert answer.cookies == []
    assert answer.body is None
    # The old password fails, the new one works.
    assert login_as("alice", "alice-original-password").status == 401
    assert login_as("alice", NEW_PASSWORD).status == 200
    # Every refresh token of the user is refused.
    for session in sessions:
        assert refresh(session["refresh_token"]).status == 401
    # The owner is told, and the second sweep ran.
    assert outbox.last()["subject"] == "Your password was changed"
    assert jobs.submitted[-1]["job"] == "password_changed"


def test_after_a_reset_the_session_checked_authorizer_refuses_old_access_tokens(
    alice, outbox, login_as, jwks_server, monkeypatch, moto_http
):
    access = login_as("alice", "alice-original-password").body["access_token"]
    monkeypatch.setenv("AUTHORIZER_MODE", "session")
    monkeypatch.setenv("REVOCATION_MAX_LAG_SECONDS", "0")
    authorizer_app.runtime.reset()
    session_check_via(authorizer_app.runtime, moto_http, monkeypatch)

    def allowed() -> bool:
        event = load_event("authorizer.json")
        event["headers"]["authorization"] = f"Bearer {access}"
        return bool(authorizer_app.lambda_handler(event, None)["isAuthorized"])

    assert allowed()
    forgot(email="alice@example.com")
    assert reset(outbox.token()).status == 204
    assert not allowed()
    authorizer_app.runtime.reset()


def test_a_reset_token_works_once(alice, outbox):
    forgot(email="alice@example.com")
    token = outbox.token()
    assert reset(token).status == 204
    again = reset(token, "another-fresh-passphrase-42")
    assert (again.status, again.body) == (401, REFUSED)


def test_reuse_expiry_another_purpose_and_a_changed_character_all_answer_the_same(
    alice, outbox, jobs, stack
):
    make_user(stack, "bob", "bob-original-password", "bob@example.com", verified=False)
    before = stack.admin.users.get("alice").password_hash
    with time_machine.travel(T0, tick=False) as clock:
        jobs.submit({"job": "verify", "username": "bob"})
        verify_token = outbox.token("/verify-email")
        forgot(email="alice@example.com")
        token = outbox.token()
        changed = token[:-1] + ("A" if token[-1] != "A" else "B")
        answers = [reset(changed), reset("x" * 43), reset("short"), reset(verify_token)]
        # ...and a reset token verifies no address.
        answers.append(verify(token))
        clock.shift(30 * 60 + 1)
        answers.append(reset(token))
    assert {(a.status, json.dumps(a.body), a.headers["WWW-Authenticate"]) for a in answers} == {
        (401, json.dumps(REFUSED), 'Bearer error="invalid_grant"')
    }
    assert stack.admin.users.get("alice").password_hash == before
    assert not stack.admin.users.get("bob").email_verified


def test_a_newer_reset_token_voids_the_older(alice, outbox):
    forgot(email="alice@example.com")
    first = outbox.token()
    forgot(email="alice@example.com")
    second = outbox.token()
    assert first != second
    assert reset(first).status == 401
    assert reset(second).status == 204


def test_a_reset_within_the_lifetime_works_at_its_last_second(alice, outbox):
    with time_machine.travel(T0, tick=False) as clock:
        forgot(email="alice@example.com")
        clock.shift(30 * 60 - 1)
        assert reset(outbox.token()).status == 204


def test_reset_unlocks_the_account(alice, outbox, login_as):
    for _ in range(5):
        assert login_as("alice", "wrong-password-guess").status == 401
    assert login_as("alice", "alice-original-password").status == 429
    forgot(email="alice@example.com")
    assert reset(outbox.token()).status == 204
    assert login_as("alice", NEW_PASSWORD).status == 200


def test_a_weak_new_password_is_refused_and_the_token_stays_usable(alice, outbox):
    forgot(email="alice@example.com")
    token = outbox.token()
    for weak in ("short", "alice@example.com", "ALICE", "password1234", "iloveyou12345"):
        answer = reset(token, weak)
        assert answer.status == 400, weak
        assert answer.body["error"] == "weak_password", weak
    assert reset(token).status == 204


def test_reset_leaves_a_second_factor_on_the_account(alice, outbox, stack, login_as):
    """Contract §8: a reset neither removes nor bypasses the second factor: the item's
    TOTP attributes survive untouched, and the new password's login still asks for it."""
    stack.dynamodb.update_item(
        TableName="users",
        Key={"username": {"S": "alice"}},
        UpdateExpression="SET totp_secret = :t, totp_last_step = :s, recovery_codes = :r",
        ExpressionAttributeValues={
            ":t": {"B": b"sealed"},
            ":s": {"N": "7"},
            ":r": {"SS": ["d1"]},
        },
    )
    forgot(email="alice@example.com")
    assert reset(outbox.token()).status == 204
    item = stack.dynamodb.get_item(TableName="users", Key={"username": {"S": "alice"}})["Item"]
    assert (item["totp_secret"], item["totp_last_step"], item["recovery_codes"]) == (
        {"B": b"sealed"},
        {"N": "7"},
        {"SS": ["d1"]},
    )
    answer = login_as("alice", NEW_PASSWORD)
    assert (answer.status, answer.body["error"]) == (401, "mfa_required")
    assert "access_token" not in answer.body


def test_only_a_digest_of_the_token_is_stored(alice, outbox, stack):
    forgot(email="alice@example.com")
    token = outbox.token()
    dump = json.dumps(stack.dynamodb.scan(TableName="users")["Items"])
    assert token not in dump
    assert MailToken(token).digest in dump


# ------------------------------------------------------------------ change
def test_change_password_keeps_this_session_and_ends_the_others(alice, outbox, login_as):
    mine, other = (login_as("alice", "alice-original-password").body for _ in range(2))
    answer = change(claims_of(mine["access_token"]), "alice-original-password")
    assert answer.status == 204
    assert refresh(other["refresh_token"]).status == 401
    assert refresh(mine["refresh_token"]).status == 200
    assert login_as("alice", NEW_PASSWORD).status == 200
    assert outbox.last()["subject"] == "Your password was changed"


def test_a_wrong_current_password_is_a_failed_login_and_counts_toward_the_lockout(alice, login_as):
    claims = claims_of(login_as("alice", "alice-original-password").body["access_token"])
    for _ in range(5):
        answer = change(claims, "not-the-password")
        assert (answer.status, answer.body["error"]) == (401, "invalid_grant")
    locked = change(claims, "alice-original-password")
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert login_as("alice", "alice-original-password").status == 429


def test_change_password_refuses_a_weak_new_password_before_counting(alice, login_as):
    claims = claims_of(login_as("alice", "alice-original-password").body["access_token"])
    for _ in range(6):
        assert change(claims, "alice-original-password", "alicealice").body["error"] == (
            "weak_password"
        )
    assert change(claims, "alice-original-password").status == 204


def test_change_password_refuses_a_token_of_another_account_with_the_same_name(alice, login_as):
    claims = claims_of(login_as("alice", "alice-original-password").body["access_token"])
    claims["sub"] = "someone-else"
    assert change(claims, "alice-original-password").status == 401


# ------------------------------------------------------------------ sign-up
@pytest.fixture
def signup_open(jobs, monkeypatch):
    monkeypatch.setenv("SIGNUP_ENABLED", "true")
    signing.reset()
    monkeypatch.setattr(accounts_runtime, "mail_jobs", jobs.factory)


def signup(username: str, email: str, password: str = NEW_PASSWORD) -> Answer:
    body = {"username": username, "email": email, "password": password}
    return invoke(signup_app, post("/auth/signup", body))


def verify(token: str) -> Answer:
    return invoke(signup_app, post("/auth/email/verify", {"token": token}))


def test_signup_is_404_unless_enabled(jobs):
    answer = signup("bob", "bob@example.com")
    assert (answer.status, answer.body["error"]) == (404, "not_found")
    assert jobs.submitted == []


def test_signup_verify_then_login(signup_open, outbox, login_as):
    assert signup("bob", "Bob@Example.com").status == 202
    assert outbox.last()["to"] == "bob@example.com"
    # Before verification: the right password says so, a wrong one says nothing.
    early = login_as("bob", NEW_PASSWORD)
    assert (early.status, early.body["error"]) == (403, "email_not_verified")
    assert login_as("bob", "wrong-password-guess").status == 401
    assert verify(outbox.token("/verify-email")).status == 204
    assert login_as("bob", NEW_PASSWORD).status == 200


def test_a_verification_token_works_once(signup_open, outbox):
    signup("bob", "bob@example.com")
    token = outbox.token("/verify-email")
    assert verify(token).status == 204
    assert (verify(token).status, verify(token).body) == (401, REFUSED)


def test_a_taken_username_or_address_answers_the_same_and_mails_the_owner(
    signup_open, alice, outbox, stack
):
    fresh = signup("carol", "carol@example.com")
    taken_name = signup("alice", "someone@example.com")
    taken_address = signup("dave", "ALICE@example.com")
    assert comparable(fresh) == comparable(taken_name) == comparable(taken_address)
    assert stack.admin.users.get("dave") is None
    assert stack.admin.users.get_by_email("someone@example.com") is None
    notices = [m for m in outbox.mails() if m["to"] == "alice@example.com"]
    assert [m["subject"] for m in notices] == ["Someone tried to sign up with your details"] * 2
    # Nothing in a notice can verify or take over anything.
    assert all("#token=" not in m["text"] for m in notices)


def test_signup_never_links_an_unverified_account_to_anything(signup_open, outbox, stack):
    # Pre-hijacking: the attacker signs up first with the victim's address...
    assert signup("mallory", "victim@example.com", "mallory-chosen-passphrase").status == 202
    # ...the victim's own sign-up creates nothing and the victim is told, with no link...
    assert signup("victim", "victim@example.com").status == 202
    assert stack.admin.users.get("victim") is None
    assert "#token=" not in outbox.last()["text"]
    # ...and the victim can take the address's account over by reset, ending mallory's hold.
    assert forgot(email="victim@example.com").status == 202
    assert reset(outbox.token()).status == 204
    user = stack.admin.users.get("mallory")
    assert user.email_verified


def test_a_weak_signup_password_is_400_whether_or_not_the_name_is_taken(signup_open, alice):
    for name in ("alice", "erin"):
        answer = signup(name, f"{name}2@example.com", "short")
        assert (answer.status, answer.body["error"]) == (400, "weak_password")


# ------------------------------------------------------------------ invitations
def test_an_invitation_sets_the_first_password_and_verifies_the_address(
    jobs, outbox, stack, login_as
):
    make_user(stack, "frank", "", "frank@example.com", verified=False)
    assert login_as("frank", "any-password-at-all").status == 401
    jobs.submit({"job": "invite", "username": "frank"})
    token = outbox.token("/accept-invite")
    assert outbox.last()["subject"] == "You are invited"
    assert reset(token).status == 204
    assert stack.admin.users.get("frank").email_verified
    assert login_as("frank", NEW_PASSWORD).status == 200


# ------------------------------------------------------------------ mail function
def test_the_mail_function_refuses_an_unknown_job_without_raising(jobs):
    answer = mail_app.lambda_handler({"job": "format-disk"}, LambdaContext())
    assert answer == {"job": "format-disk", "outcome": "refused"}


def test_nothing_secret_reaches_the_logs(alice, outbox, capfd, login_as):
    forgot(email="alice@example.com")
    token = outbox.token()
    reset(token)
    out, err = capfd.readouterr()
    assert token not in out + err
    assert NEW_PASSWORD not in out + err
    assert DEMO_PASSWORD not in out + err


# ------------------------------------------------------------------ bad input and faults
ROUTES = [
    (password_app, "/auth/password/forgot"),
    (password_app, "/auth/password/reset"),
    (signup_app, "/auth/email/verify"),
]


@pytest.mark.parametrize(("module", "path"), ROUTES)
def test_bad_requests_get_the_contracts_4xx(jobs, module, path):
    not_json = post(path, "token=x", **{"content-type": "application/x-www-form-urlencoded"})
    assert invoke(module, not_json).status == 415
    assert invoke(module, post(path, {"token": "x" * 9000})).status == 413
    assert invoke(module, post(path, '{"token": "a", "token": "b"}')).status == 400
    assert invoke(module, post(path, "[1]")).status == 400
    get = post(path, {})
    get["requestContext"]["http"]["method"] = "GET"
    answer = invoke(module, get)
    assert (answer.status, answer.headers["Allow"]) == (405, "POST")
    assert jobs.submitted == []


def test_a_dynamodb_failure_during_reset_is_a_503_and_leaves_the_token_usable(
    alice, outbox, login_as, monkeypatch
):
    from session_checks import TransportFaults

    from authcore import aws, awsjson

    monkeypatch.setattr(awsjson, "backoff_seconds", lambda attempt: 0.0)
    forgot(email="alice@example.com")
    token = outbox.token()
    faults = TransportFaults(aws.dynamodb())
    faults.fail("InternalServerError", operation="TransactWriteItems")
    answer = reset(token)
    assert (answer.status, answer.headers["Retry-After"]) == (503, "1")
    faults.fail("InternalServerError", operation="NoSuchOperation")
    assert login_as("alice", "alice-original-password").status == 200
    assert reset(token).status == 204


def test_a_failed_hand_off_is_a_503_for_everyone(alice, jobs):
    from authcore.errors import TemporarilyUnavailable

    def refuse(job: dict[str, str]) -> None:
        raise TemporarilyUnavailable()

    jobs.submit = refuse  # type: ignore[method-assign]
    known, unknown = forgot(email="alice@example.com"), forgot(email="nobody@example.com")
    assert comparable(known) == comparable(unknown)
    assert known.status == 503


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_a_closed_signup_is_404_for_every_method_and_an_open_one_405(jobs, monkeypatch, method):
    event = post("/auth/signup", {})
    event["requestContext"]["http"]["method"] = method
    assert invoke(signup_app, event).status == 404
    monkeypatch.setenv("SIGNUP_ENABLED", "true")
    signing.reset()
    answer = invoke(signup_app, event)
    assert (answer.status, answer.headers["Allow"]) == (405, "POST")


def test_the_notice_after_a_reset_says_every_session_ended(alice, outbox):
    forgot(email="alice@example.com")
    reset(outbox.token())
    assert "and every session of the account was signed out" in outbox.last()["text"]
