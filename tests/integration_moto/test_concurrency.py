"""Fifty clients refreshing one token at the same instant, over real connections.

moto runs in server mode; every racer has its own boto3 clients (its own
connection pool), as separate Lambda containers would. The claims:

- every racer succeeds (one rotates, the others are inside the grace window),
  and every one of them is handed the same successor: the family never forks;
- exactly one conditional write wins; no racer sees a 5xx;
- the table passes every invariant afterwards;
- the original token presented after the window is theft: the session is revoked
  and the successor every racer holds dies with it.
"""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest
from session_checks import SessionTable
from support import DEMO_PASSWORD, LambdaContext, invoke, race, with_body

from authcore import aws
from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import InvalidGrant, RotationRefused
from authcore.runtime import signing
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService
from authcore.tokens.issue import TokenIssuer
from functions.login import app as login
from functions.refresh import app as refresh

RACERS = 50
GRACE = 10
ISSUER = "https://issuer.example"


def login_token():
    body = {"username": "sam", "password": DEMO_PASSWORD, "delivery": "body"}
    answer = invoke(login, with_body("login.json", body))
    assert answer.status == 200, answer.body
    return answer.body["refresh_token"]


class Events(list):
    def __call__(self, name, fields):
        self.append(name)


class CountingStore(DynamoSessionStore):
    """The real store, noting each rotation that won its conditional write."""

    def __init__(self, client, wins):
        super().__init__(client, "sessions")
        self._wins = wins

    def rotate(self, presented, successor, **kwargs):
        session = super().rotate(presented, successor, **kwargs)
        self._wins.append(session.sid)
        return session


class ReadThenWriteStore(CountingStore):
    """What not to do: check in code, then write. Used to show the race can fail."""

    def rotate(self, presented, successor, *, now, idle_expires_at):
        session = self.get(presented.sid)
        if session is None or session.token_digest != presented.digest:
            raise RotationRefused(session)
        self._db.update_item(
            TableName="sessions",
            Key={"sid": {"S": presented.sid}},
            UpdateExpression=(
                "SET previous_digest = :old, token_digest = :new, successor_box = :box, "
                "rotated_at = :now, last_used_at = :now"
            ),
            ExpressionAttributeValues={
                ":old": {"B": presented.digest},
                ":new": {"B": successor.digest},
                ":box": {"B": presented.seal_successor(successor)},
                ":now": {"N": f"{now:.3f}"},
            },
        )
        self._wins.append(session.sid)
        return self.get(presented.sid)


def service_factory(server, settings, clock, events, wins, store=CountingStore):
    def build():
        signer = server.signer()
        return SessionService(
            settings,
            sessions=store(server.client("dynamodb"), wins),
            issuer=TokenIssuer(settings, signer),
            clock=clock,
            on_security_event=events,
        )

    return build


@pytest.fixture
def server(moto_server):
    server = moto_server.start()
    server.admin.create_user("sam", DEMO_PASSWORD, "profile")
    return server


def test_fifty_racers_get_one_successor_and_late_reuse_revokes(server):
    token = login_token()
    settings = Settings(reuse_grace=GRACE)
    clock, events, wins = FrozenClock(round(time.time(), 3)), Events(), []
    build = service_factory(server, settings, clock, events, wins)

    results = race(build, lambda service: service.refresh(token, issuer=ISSUER), RACERS)

    assert [r for r in results if r[0] != "ok"] == []
    successors = {str(r[1].refresh_token) for r in results}
    assert len(successors) == 1, "the family forked"
    assert len(wins) == 1, "more than one conditional write won"
    assert len({r[1].access_token for r in results}) == RACERS  # each its own jti
    (successor,) = successors
    table = SessionTable(server.client("dynamodb"))
    table.remember(token, successor)
    table.check()
    assert table.is_current(successor)
    assert events == []

    clock.advance(GRACE + 0.001)
    late = build()
    with pytest.raises(InvalidGrant):
        late.refresh(token, issuer=ISSUER)
    assert table.is_revoked(token.split(".")[0])
    with pytest.raises(InvalidGrant):
        late.refresh(successor, issuer=ISSUER)  # every racer's token died too
    assert events == ["refresh_token_reuse"]
    table.check()


def test_the_race_catches_a_store_that_reads_before_it_writes(server):
    """The harness has teeth: the same race against a check-then-write store forks."""
    token = login_token()
    clock, wins = FrozenClock(round(time.time(), 3)), []
    build = service_factory(
        server, Settings(reuse_grace=GRACE), clock, Events(), wins, ReadThenWriteStore
    )
    results = race(build, lambda service: service.refresh(token, issuer=ISSUER), RACERS)
    successors = {str(r[1].refresh_token) for r in results if r[0] == "ok"}
    assert len(wins) > 1
    assert len(successors) > 1


# ------------------------------------------------- through the whole handler
def _container(tokens, barrier, results):
    """One Lambda container: its own runtime and clients, the whole handler."""
    try:
        token = tokens.get(timeout=120)
        signing.reset()
        signing.session_service(signing=True)  # warm: clients built before the race
        aws.dynamodb()
        aws.kms()
        event = with_body("refresh.json", {"refresh_token": token})
        barrier.wait(timeout=120)
        response = refresh.lambda_handler(event, LambdaContext())
        body = json.loads(response.get("body") or "{}")
        results.put((response["statusCode"], body.get("refresh_token"), body.get("error")))
    except BaseException as error:
        results.put((-1, None, repr(error)))


def test_fifty_lambda_containers_racing_through_the_handler(moto_server, monkeypatch):
    # Real clocks in separate processes: a window wide enough for a slow machine
    # (the edges of the window are tested on a frozen clock elsewhere).
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "60")
    context = multiprocessing.get_context("fork")
    tokens, results = context.Queue(), context.Queue()
    barrier = context.Barrier(RACERS)
    aws.dynamodb()  # load the service models once, for every child to inherit
    aws.kms()
    # Fork before the server thread exists: a child must not inherit its locks.
    containers = [
        context.Process(target=_container, args=(tokens, barrier, results), daemon=True)
        for _ in range(RACERS)
    ]
    for container in containers:
        container.start()
    try:
        server = moto_server.start()
        server.admin.create_user("sam", DEMO_PASSWORD, "profile")
        token = login_token()
        for _ in containers:
            tokens.put(token)
        answers = [results.get(timeout=180) for _ in containers]
    finally:
        for container in containers:
            container.join(timeout=10)
            if container.is_alive():
                container.kill()

    assert [a for a in answers if a[0] != 200] == []  # no 5xx, no refusal, no crash
    successors = {a[1] for a in answers}
    assert len(successors) == 1, "the family forked"
    (successor,) = successors
    table = SessionTable(server.client("dynamodb"))
    table.remember(token, successor)
    table.check()
    assert table.is_current(successor)

    signing.use_clock(FrozenClock(time.time() + 61))  # after the window
    late = invoke(refresh, with_body("refresh.json", {"refresh_token": token}))
    assert (late.status, late.body["error"]) == (401, "invalid_grant")
    assert table.is_revoked(token.split(".")[0])
    assert invoke(refresh, with_body("refresh.json", {"refresh_token": successor})).status == 401
    table.check()
