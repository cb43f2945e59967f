"""Issue 14, item 1: the lockout cannot be raced.

Eight wrong guesses sent at once on a fresh account used to get 7-8 passwords
checked, and the right password sent right after was accepted: the lock was
decided on a count read before argon2 and written after it. Now each attempt is
counted before its password is checked, in one conditional write refused while
the counter is locked. moto runs in server mode; every racer has its own clients.
"""

from __future__ import annotations

import threading

import pytest
from support import DEMO_PASSWORD, race

from authcore.accounts.dynamo import DynamoUserStore
from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.login import LoginService
from authcore.accounts.passwords import Passwords
from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import AccountLocked, InvalidGrant
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.tokens.issue import TokenIssuer

GUESSERS = 8
ISSUER = "https://issuer.example"
WRONG = "wrong-password-123"


class CountingPasswords(Passwords):
    """The real hasher, counting every argon2 verification (a burn is one too)."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self.verifications = 0

    def verify(self, stored_hash, password):
        with self._lock:
            self.verifications += 1
        return super().verify(stored_hash, password)


@pytest.fixture
def server(moto_server):
    server = moto_server.start()
    server.admin.create_user("sam", DEMO_PASSWORD, "profile")
    return server


def factory(server, passwords, clock):
    settings = Settings()

    def build():
        dynamodb = server.client("dynamodb")
        return LoginService(
            settings,
            users=DynamoUserStore(dynamodb, "users"),
            passwords=passwords,
            sessions=DynamoSessionStore(dynamodb, "sessions"),
            issuer=TokenIssuer(settings, server.signer()),
            clock=clock,
        )

    return build


def outcome(service, username, password):
    try:
        service.login(username, password, issuer=ISSUER)
    except InvalidGrant:
        return 401
    except AccountLocked:
        return 429
    return 200


@pytest.mark.parametrize("username", ["sam", "nobody"])
def test_concurrent_wrong_guesses_check_at_most_the_threshold(server, username):
    passwords, clock = CountingPasswords(), FrozenClock(1_800_000_000.0)
    build = factory(server, passwords, clock)
    threshold = LockoutPolicy().threshold

    results = race(build, lambda service: outcome(service, username, WRONG), racers=GUESSERS)

    statuses = sorted(r[1] for r in results if r[0] == "ok")
    assert len(statuses) == GUESSERS, results  # no crash, no other error
    assert passwords.verifications <= threshold
    assert statuses == [401] * passwords.verifications + [429] * (
        GUESSERS - passwords.verifications
    )
    # The right password sent next is refused too: the lock holds.
    assert outcome(build(), username, DEMO_PASSWORD) == 429
    assert passwords.verifications <= threshold
