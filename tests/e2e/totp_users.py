"""Users with TOTP on, made over the local stack's HTTP surface (contract §8), for the
end-to-end tests of the second factor (test_mfa_flows.py, test_openapi.py).

Each test makes users of its own: a second factor changes how its account logs in, and
wrong codes lock its second step, which must disturb nobody else's test.

Codes are computed with pyotp from the secret the stack hands out, on the real clock.
The server accepts a code within one 30-second step either side of now, and only for a
step later than the last one used (the confirming code's included); so a second code
without waiting is the next step's, ``code_after(secret)``.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pyotp
import requests

from tests.e2e.conftest import ROOT, LocalStack

JSON = {"Content-Type": "application/json"}
STEP = 30


def create_user(stack: LocalStack, name: str, password: str) -> None:
    """A user made through the admin command line, with the environment the stack wrote."""
    created = subprocess.run(
        [sys.executable, "-m", "infra.admin", "create-user", name, "--scope", "profile"],
        input=password + "\n",
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr


def new_user(stack: LocalStack, prefix: str = "mfa") -> tuple[str, str]:
    """A user of the caller's own: its name and password."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    password = f"{name}-has-a-long-passphrase"
    create_user(stack, name, password)
    return name, password


def post(
    stack: LocalStack, path: str, body: Any = None, token: str | None = None, **headers: str
) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers = {**JSON, **headers}
        return requests.post(f"{stack.base_url}{path}", json=body, headers=headers, timeout=30)
    return requests.post(f"{stack.base_url}{path}", headers=headers, timeout=30)


def delete(stack: LocalStack, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.delete(f"{stack.base_url}{path}", headers=headers, timeout=30)


def login(
    stack: LocalStack, username: str, password: str, delivery: str = "body"
) -> requests.Response:
    body = {"username": username, "password": password, "delivery": delivery}
    return post(stack, "/auth/login", body)


def mfa_token_of(answer: requests.Response) -> str:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert body["error"] == "mfa_required", body
    return str(body["mfa_token"])


def claims_of(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


def code_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def code_after(secret: str) -> str:
    """The next step's code: accepted now (±1 step), and later than the current step."""
    return pyotp.TOTP(secret).at(time.time() + STEP)


def wrong_code(secret: str) -> str:
    """Six digits that are no valid code of any step the server would accept now."""
    totp, now = pyotp.TOTP(secret), time.time()
    valid = {totp.at(now + offset * STEP) for offset in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


@dataclass
class Enrolled:
    """A user with TOTP on: its credentials, secret and recovery codes, and the access
    token it enrolled with (a password-only login)."""

    username: str
    password: str
    secret: str
    recovery_codes: list[str]
    access_token: str


def enrol(stack: LocalStack, username: str, password: str) -> Enrolled:
    """TOTP on for the account, over HTTP: log in, start enrolment, confirm with the
    current code."""
    logged_in = login(stack, username, password)
    assert logged_in.status_code == 200, logged_in.text
    access_token = logged_in.json()["access_token"]
    started = post(stack, "/auth/mfa/totp", token=access_token)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = post(stack, "/auth/mfa/totp/confirm", {"code": code_now(secret)}, access_token)
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(username, password, secret, confirmed.json()["recovery_codes"], access_token)


def enrolled_user(stack: LocalStack, prefix: str = "mfa") -> Enrolled:
    return enrol(stack, *new_user(stack, prefix))
