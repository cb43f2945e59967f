"""Contract §7 over real HTTP against the local stack: forgot -> mail -> reset, sign-up ->
verify -> login, and the admin's invitation, each mail read from LOCAL_OUTBOX_DIR.

The forgot and sign-up routes hand their mail to the mail function asynchronously (boto3's
``lambda.invoke(InvocationType="Event")`` reaching the stack's Invoke API), so a mail is
polled for; the admin's ``invite`` invokes it synchronously, so its mail is there when the
command returns. Each test mails users of its own (tests/e2e/conftest.py) or made up for it.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, USERS, LocalStack

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
MAIL_WAIT_SECONDS = 30  # the mail function's cold start, on a loaded machine
RESET = "Reset your password"
CHANGED = "Your password was changed"
VERIFY = "Confirm your email address"
NEW_PASSWORD = "a-fresh-and-rather-long-passphrase"
# The mail function's own log line for a job that found no account (functions/mail).
NO_ACCOUNT = re.compile(r'"job":\s*"reset",\s*"outcome":\s*"no_account"')


# ---------------------------------------------------------------- helpers
def post(stack: LocalStack, path: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(
        f"{stack.base_url}{path}", json=body, headers={**JSON, **headers}, timeout=30
    )


def login(stack: LocalStack, username: str, password: str) -> requests.Response:
    body = {"username": username, "password": password, "delivery": "body"}
    return post(stack, "/auth/login", body)


def mails(outbox: Path, to: str, subject: str) -> list[dict[str, str]]:
    """The mails to ``to`` with this subject, oldest first (the names sort by time)."""
    found = []
    for path in sorted(outbox.glob("*.json")) if outbox.exists() else []:
        mail = json.loads(path.read_text(encoding="utf-8"))
        if mail["to"] == to.casefold() and mail["subject"] == subject:
            found.append(mail)
    return found


def wait_for_mail(stack: LocalStack, to: str, subject: str, seen: int = 0) -> dict[str, str]:
    """The next mail (after the first ``seen``) to ``to`` with this subject."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while len(found := mails(stack.outbox, to, subject)) <= seen:
        if time.monotonic() > deadline:
            pytest.fail(f"no mail {subject!r} to {to}:\n{stack.log()[-3000:]}")
        time.sleep(0.1)
    return found[seen]


def link_of(mail: dict[str, str]) -> str:
    return next(word for word in mail["text"].split() if "#token=" in word)


def token_of(link: str) -> str:
    return link.split("#token=", 1)[1]


def assert_refused_grant(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_grant"


# ---------------------------------------------------------------- forgot -> reset
def test_forgot_mail_reset_then_only_the_new_password_works(local_stack: LocalStack):
    user = USERS["forgetful"]
    before = login(local_stack, user["username"], user["password"])
    assert before.status_code == 200, before.text
    old_session = before.json()["refresh_token"]

    asked = post(local_stack, "/auth/password/forgot", {"email": user["email"].upper()})
    assert (asked.status_code, asked.json()) == (202, {})
    assert asked.headers["Cache-Control"] == "no-store"
    link = link_of(wait_for_mail(local_stack, user["email"], RESET))
    assert link.startswith(f"{local_stack.base_url}/reset-password#token=")

    # A weak password is refused with the reason, and spends nothing.
    weak = post(
        local_stack,
        "/auth/password/reset",
        {"token": token_of(link), "new_password": "password1234"},
    )
    assert weak.status_code == 400, weak.text
    assert weak.json()["error"] == "weak_password"
    assert weak.json()["error_description"]

    reset = post(
        local_stack, "/auth/password/reset", {"token": token_of(link), "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    assert "Set-Cookie" not in reset.headers  # no session is created by a reset
    assert_refused_grant(login(local_stack, user["username"], user["password"]))
    assert login(local_stack, user["username"], NEW_PASSWORD).status_code == 200
    # The link works once; the session from before ended with the reset.
    again = post(
        local_stack,
        "/auth/password/reset",
        {"token": token_of(link), "new_password": NEW_PASSWORD + "!"},
    )
    assert_refused_grant(again)
    assert_refused_grant(post(local_stack, "/auth/refresh", {"refresh_token": old_session}))
    # And the owner hears of it (the mail function's second job).
    notice = wait_for_mail(local_stack, user["email"], CHANGED)
    assert "reset through a link" in notice["text"]


def test_forgot_for_an_unknown_address_answers_the_same_and_mails_nobody(
    local_stack: LocalStack,
):
    stranger = f"nobody-{secrets.token_hex(4)}@e2e.example"
    done_before = len(NO_ACCOUNT.findall(local_stack.log()))
    asked = post(local_stack, "/auth/password/forgot", {"email": stranger})
    assert (asked.status_code, asked.json()) == (202, {})
    assert asked.headers["Cache-Control"] == "no-store"
    # The job ran (its log line), and found no one to mail.
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while len(NO_ACCOUNT.findall(local_stack.log())) <= done_before:
        assert time.monotonic() < deadline, "the mail job for the unknown address never ran"
        time.sleep(0.1)
    assert not [path for path in local_stack.outbox.glob("*.json") if stranger in path.read_text()]


def test_a_forged_host_never_changes_the_link_in_the_mail(local_stack: LocalStack):
    """Password-reset poisoning: the link comes from APP_URL (here the stack's origin),
    whatever Host or X-Forwarded-Host the request claims."""
    user = USERS["hosted"]
    asked = post(
        local_stack,
        "/auth/password/forgot",
        {"username": "HOSTED"},
        Host="evil.example",
        **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        Forwarded="host=evil.example;proto=https",
    )
    assert asked.status_code == 202, asked.text
    mail = wait_for_mail(local_stack, user["email"], RESET)
    assert link_of(mail).startswith(f"{local_stack.base_url}/reset-password#token=")
    assert "evil" not in mail["text"]


# ---------------------------------------------------------------- sign-up -> verify
def test_sign_up_then_verify_the_address_then_log_in(local_stack: LocalStack):
    name = f"newcomer-{secrets.token_hex(4)}"
    address = f"{name}@e2e.example"
    password = "a-newcomers-long-passphrase"
    signed_up = post(
        local_stack, "/auth/signup", {"username": name, "email": address, "password": password}
    )
    assert (signed_up.status_code, signed_up.json()) == (202, {})

    # Only after the right password does the account say its address is unconfirmed.
    assert_refused_grant(login(local_stack, name, "not-the-right-password"))
    early = login(local_stack, name, password)
    assert early.status_code == 403, early.text
    assert early.json()["error"] == "email_not_verified"

    link = link_of(wait_for_mail(local_stack, address, VERIFY))
    assert link.startswith(f"{local_stack.base_url}/verify-email#token=")
    verified = post(local_stack, "/auth/email/verify", {"token": token_of(link)})
    assert verified.status_code == 204, verified.text
    assert login(local_stack, name, password).status_code == 200
    assert_refused_grant(post(local_stack, "/auth/email/verify", {"token": token_of(link)}))

    # The same name again: the same answer, nothing created, a note to the owner.
    taken = post(
        local_stack,
        "/auth/signup",
        {"username": name, "email": f"other-{address}", "password": password + "?"},
    )
    assert (taken.status_code, taken.json()) == (202, {})
    note = wait_for_mail(local_stack, address, "Someone tried to sign up with your details")
    assert "No account was created" in note["text"]
    assert login(local_stack, name, password).status_code == 200  # nothing of theirs changed


# ---------------------------------------------------------------- invitation
def test_an_invitation_from_the_admin_command_line_sets_the_first_password(
    local_stack: LocalStack,
):
    name = f"invitee-{secrets.token_hex(4)}"
    address = f"{name}@e2e.example"
    invited = subprocess.run(
        [sys.executable, "-m", "infra.admin", "invite", name, "--email", address],
        env={**local_stack.env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert invited.returncode == 0, invited.stderr
    printed = json.loads(invited.stdout)
    assert (printed["invited"], printed["mail"]) == (name, "sent")
    # Invoked synchronously: the mail is there as the command returns.
    (mail,) = mails(local_stack.outbox, address, "You are invited")
    link = link_of(mail)
    assert link.startswith(f"{local_stack.base_url}/accept-invite#token=")
    assert token_of(link) not in invited.stdout + invited.stderr

    accepted = post(
        local_stack, "/auth/password/reset", {"token": token_of(link), "new_password": NEW_PASSWORD}
    )
    assert accepted.status_code == 204, accepted.text
    assert login(local_stack, name, NEW_PASSWORD).status_code == 200


# ---------------------------------------------------------------- local-only pages
@pytest.mark.parametrize(
    "path", ["/forgot-password", "/reset-password", "/accept-invite", "/verify-email", "/signup"]
)
def test_the_mails_links_open_the_demo_page(local_stack: LocalStack, path: str):
    page = requests.get(f"{local_stack.base_url}{path}", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.text == requests.get(f"{local_stack.base_url}/", timeout=10).text


def test_the_local_outbox_answers_only_under_the_stacks_own_name(local_stack: LocalStack):
    url = f"{local_stack.base_url}/_local/outbox"
    listed = requests.get(url, timeout=10)
    assert listed.status_code == 200
    assert listed.headers["Cache-Control"] == "no-store"
    assert isinstance(listed.json(), list)
    rebound = requests.get(url, headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 403
    assert requests.post(url, timeout=10).status_code == 404
