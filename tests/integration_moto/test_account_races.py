"""Accounts under concurrency (contract §7), over real connections.

moto runs in server mode; every racer has its own boto3 clients, as separate
Lambda containers would. The claims:

- one reset token presented by many clients at once is spent exactly once: one
  reset succeeds, every other is refused as an invalid token (401
  invalid_grant), and the password left is the winner's;
- reset-mail jobs for one account running at once never send more than the
  hourly allowance of 3, and leave one live reset token, in the last mail;
- sign-ups racing for one username (or one address) create exactly one account,
  the address's claim owned by it; every loser hands off a "taken" notice.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path

import pytest
from support import invoke, race, with_body

from authcore.accounts.dynamo import EMAIL_PREFIX, MAIL_TOKEN_PREFIX, DynamoUserStore
from authcore.accounts.mail import OutboxMailer
from authcore.accounts.mailtokens import MailToken
from authcore.accounts.passwords import Passwords
from authcore.accounts.service import MAIL_WINDOW_SECONDS, MAILS_PER_HOUR, AccountService
from authcore.accounts.users import User
from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import InvalidGrant
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService
from functions.password import app as password_app

RACERS = 8
JOBS = 10
APP_URL = "https://app.example.com"
OLD_PASSWORD = "old-passphrase-granite-meadow"
SIGNUP_PASSWORD = "signup passphrase: copper walrus orbit"
_TOKEN = re.compile(r"#token=([A-Za-z0-9_-]{43})")


class Jobs:
    """The hand-off, recorded instead of invoking the mail function."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted: list[dict[str, str]] = []

    def submit(self, job):
        with self._lock:
            self.submitted.append(dict(job))

    def of_kind(self, kind):
        return [job for job in self.submitted if job["job"] == kind]


@pytest.fixture
def server(moto_server):
    return moto_server.start()


@pytest.fixture
def passwords():
    return Passwords()


def factory(server, *, clock, passwords, jobs=None, mailer=None):
    """Each call: an AccountService with clients of its own (one racer)."""
    settings = Settings(app_url=APP_URL, signup_enabled=True)

    def build():
        dynamodb = server.client("dynamodb")
        return AccountService(
            settings,
            users=DynamoUserStore(dynamodb, "users"),
            passwords=passwords,
            sessions=SessionService(settings, sessions=DynamoSessionStore(dynamodb, "sessions")),
            jobs=jobs,
            mailer=mailer,
            clock=clock,
            settle_seconds=0,
            sleep=lambda _: None,
        )

    return build


def create_account(server, passwords, username="ann", email="ann@example.com"):
    user = User.new(username, passwords.hash(OLD_PASSWORD), email=email, email_verified=True)
    DynamoUserStore(server.client("dynamodb"), "users").create(user, now=1_800_000_000.0)
    return user


def users_store(server):
    return DynamoUserStore(server.client("dynamodb"), "users")


def items(server):
    """Every item of the users table, by key."""
    pages = server.client("dynamodb").get_paginator("scan").paginate(TableName="users")
    return {item["username"]["S"]: item for page in pages for item in page["Items"]}


def mails(outbox: Path):
    return [json.loads(path.read_text()) for path in sorted(outbox.glob("*.json"))]


def tokens_in(outbox: Path):
    return [_TOKEN.search(mail["text"]).group(1) for mail in mails(outbox)]


# ------------------------------------------------------------ reset token
def test_one_reset_token_spent_by_many_racers_sets_the_winners_password(
    server, passwords, tmp_path, monkeypatch
):
    clock, jobs, outbox = FrozenClock(1_800_000_000.0), Jobs(), tmp_path / "outbox"
    create_account(server, passwords)
    sender = factory(server, clock=clock, passwords=passwords, mailer=OutboxMailer(outbox))()
    assert sender.run({"job": "reset", "username": "ann"}) == "sent"
    (token,) = tokens_in(outbox)

    build = factory(server, clock=clock, passwords=passwords, jobs=jobs)
    numbers = itertools.count()

    def prepare():
        return build(), f"racer {next(numbers)}: tangerine quartz lantern"

    def act(prepared):
        service, new_password = prepared
        service.reset_password(token, new_password)
        return new_password

    results = race(prepare, act, RACERS)

    winners = [r[1] for r in results if r is not None and r[0] == "ok"]
    assert len(winners) == 1, results
    losers = [r for r in results if r is None or r[0] != "ok"]
    assert losers == [("refused", "InvalidGrant")] * (RACERS - 1)
    (winner,) = winners
    user = users_store(server).get("ann")
    assert user is not None
    assert passwords.verify(user.password_hash, winner)
    for loser in (f"racer {i}: tangerine quartz lantern" for i in range(RACERS)):
        if loser != winner:
            assert not passwords.verify(user.password_hash, loser)
    assert not passwords.verify(user.password_hash, OLD_PASSWORD)
    # Spent: the account names no reset token and the token's item is gone.
    assert "reset" not in user.mail_tokens
    assert not [key for key in items(server) if key.startswith(MAIL_TOKEN_PREFIX)]
    # Only the winner ended the sessions and handed off the owner's notice.
    assert jobs.submitted == [
        {"job": "password_changed", "username": "ann", "keep": "", "reset": "true"}
    ]
    # Through the handler, the same token once more: 401 invalid_grant.
    monkeypatch.setenv("MAIL_FUNCTION", "mail")  # the route's wiring needs a name; never called
    event = with_body("login.json", {"token": token, "new_password": "yet another passphrase"})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/auth/password/reset"
    answer = invoke(password_app, event)
    assert (answer.status, answer.body["error"]) == (401, "invalid_grant")


# ------------------------------------------------------------ mail allowance
@pytest.mark.parametrize("job", [{"username": "ann"}, {"email": "ann@example.com"}])
def test_concurrent_reset_jobs_never_mail_more_than_the_hourly_allowance(
    server, passwords, tmp_path, job
):
    """Rounds of 10 jobs at once. Of the jobs that read the account before any of
    them wrote, one wins the conditional write and the others send nothing (the
    winner's mail is the one the requests asked for), so a round sends at least
    one mail while the allowance lasts and never more than it has left."""
    clock, outbox = FrozenClock(1_800_000_000.0), tmp_path / "outbox"
    create_account(server, passwords)
    build = factory(server, clock=clock, passwords=passwords, mailer=OutboxMailer(outbox))
    sent_per_round = []
    for _ in range(MAILS_PER_HOUR + 1):
        results = race(build, lambda service: service.run({"job": "reset", **job}), JOBS)
        outcomes = [r[1] if r is not None and r[0] == "ok" else r for r in results]
        assert set(outcomes) <= {"sent", "suppressed"}, outcomes
        sent_per_round.append(outcomes.count("sent"))
        clock.advance(1)

    assert sum(sent_per_round) == MAILS_PER_HOUR, sent_per_round
    assert sent_per_round[-1] == 0, sent_per_round
    # No round sent nothing while the allowance lasted.
    spent = list(itertools.accumulate(sent_per_round, initial=0))[:-1]
    assert all(
        sent >= 1
        for sent, before in zip(sent_per_round, spent, strict=True)
        if before < MAILS_PER_HOUR
    )
    assert len(mails(outbox)) == MAILS_PER_HOUR
    assert {mail["to"] for mail in mails(outbox)} == {"ann@example.com"}
    user = users_store(server).get("ann")
    assert user is not None
    assert len(user.mail_sent["reset"]) == MAILS_PER_HOUR

    # One live token: the account's current one, the only token item left; the
    # other mails' links are void.
    assert [key for key in items(server) if key.startswith(MAIL_TOKEN_PREFIX)] == [
        MAIL_TOKEN_PREFIX + user.mail_tokens["reset"]
    ]
    tokens = tokens_in(outbox)
    live = [t for t in tokens if MailToken(t).digest == user.mail_tokens["reset"]]
    assert len(live) == 1
    service = factory(server, clock=clock, passwords=passwords, jobs=Jobs())()
    for void in set(tokens) - set(live):
        with pytest.raises(InvalidGrant):
            service.reset_password(void, "a void link's passphrase, unused")

    # An hour after the first mail, the allowance is back: one more at a time.
    clock.advance(MAIL_WINDOW_SECONDS)
    assert build().run({"job": "reset", **job}) == "sent"
    assert len(mails(outbox)) == MAILS_PER_HOUR + 1


# ------------------------------------------------------------ sign-up
def test_a_taken_username_or_address_creates_nothing_and_notifies_the_owner(server, passwords):
    """One at a time first: a sign-up that loses the account's transaction is a
    202 like any other, not a 503 (the store must read the cancellation reasons)."""
    jobs = Jobs()
    service = factory(server, clock=FrozenClock(), passwords=passwords, jobs=jobs)()
    service.signup(username="ann", email="ann@example.com", password=SIGNUP_PASSWORD)
    service.signup(username="ann", email="other@example.com", password=SIGNUP_PASSWORD)
    service.signup(username="bob", email="ANN@example.com", password=SIGNUP_PASSWORD)

    assert jobs.submitted == [
        {"job": "verify", "username": "ann"},
        {"job": "signup_taken", "username": "ann", "email": "other@example.com"},
        {"job": "signup_taken", "username": "bob", "email": "ann@example.com"},
    ]
    assert sorted(items(server)) == ["#email#ann@example.com", "ann"]
    assert items(server)["#email#ann@example.com"]["owner"]["S"] == "ann"


@pytest.mark.parametrize(
    "applicant",
    [
        pytest.param(lambda i: ("ann", f"ann{i}@example.com"), id="same-username"),
        pytest.param(lambda i: (f"ann{i}", "ann@example.com"), id="same-email"),
        pytest.param(lambda i: ("ann", "ann@example.com"), id="same-both"),
    ],
)
def test_racing_signups_create_exactly_one_account(server, passwords, applicant):
    jobs = Jobs()
    build = factory(server, clock=FrozenClock(), passwords=passwords, jobs=jobs)
    numbers = itertools.count()

    def prepare():
        return build(), applicant(next(numbers))

    def act(prepared):
        service, (username, email) = prepared
        service.signup(username=username, email=email, password=SIGNUP_PASSWORD)

    results = race(prepare, act, RACERS)

    assert results == [("ok", None)] * RACERS  # every one a 202
    table = items(server)
    accounts = [key for key in table if not key.startswith("#")]
    claims = [key for key in table if key.startswith(EMAIL_PREFIX)]
    assert len(accounts) == 1, sorted(table)
    assert len(claims) == 1, sorted(table)
    (account,), (claim,) = accounts, claims
    assert table[claim]["owner"]["S"] == account
    assert claim == EMAIL_PREFIX + table[account]["email"]["S"]
    assert table[account]["email_verified"] == {"BOOL": False}
    # The winner's verification, and a notice for each loser.
    assert jobs.of_kind("verify") == [{"job": "verify", "username": account}]
    assert len(jobs.of_kind("signup_taken")) == RACERS - 1
    assert len(jobs.submitted) == RACERS
