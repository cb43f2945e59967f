"""DynamoDB and KMS faults at every request of login, refresh and logout.

Each flow is first run clean to learn which requests it makes; then, for every
request in turn, it runs again with that request failing, once (botocore's
retries should absorb it) or on every attempt (the answer must be the contract's).
Faults are injected at the HTTP layer (see ``session_checks.TransportFaults``):
service errors replace the answer (nothing applied), a connect timeout happens
before the request arrives, a read timeout after DynamoDB applied it.

After every run:
- the answer is 200/204, or 503 with ``Retry-After`` (401 only where an injected
  ConditionalCheckFailed claims the session does not exist);
- a token handed out is the one stored (no token issued that is not stored);
- a refused or failed refresh leaves the presented token usable;
- a 204 from logout means the session is revoked;
- the table passes every invariant of ``SessionTable.check``.
"""

from __future__ import annotations

import time

import pytest
from leakwatch import LeakWatch
from session_checks import (
    TIMEOUT_AFTER,
    TIMEOUT_BEFORE,
    SessionTable,
    TransportFaults,
    open_session,
    token_digest,
)
from support import invoke, with_body

from authcore import aws, awsjson
from authcore.edge.observability import logger
from authcore.runtime import signing
from authcore.sessions.dynamo import DynamoSessionStore
from functions.logout import app as logout
from functions.refresh import app as refresh

ONCE, ALWAYS = 1, 99
CONDITION = "ConditionalCheckFailedException"
DYNAMODB_FAULTS = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "InternalServerError",
    TIMEOUT_BEFORE,
    TIMEOUT_AFTER,
    CONDITION,
    "TransactionConflictException",
]
KMS_FAULTS = [
    "KMSInternalException",
    "ThrottlingException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    TIMEOUT_BEFORE,
    TIMEOUT_AFTER,
]
# What botocore's standard retry mode retries (and so absorbs when it happens once).
RETRIED = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "InternalServerError",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    TIMEOUT_BEFORE,
    TIMEOUT_AFTER,
}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    # Retries still happen, attempt by attempt; only the sleeping between them goes.
    monkeypatch.setattr(awsjson, "backoff_seconds", lambda attempt: 0.0)


@pytest.fixture
def table(stack):
    return SessionTable(stack.dynamodb, stack.sessions_table)


@pytest.fixture
def new_session(stack, demo_user):
    """A session as login leaves it, written through an unfaulted client (the
    login flow itself is under fault in its own case)."""
    store = DynamoSessionStore(stack.dynamodb, stack.sessions_table)
    return lambda: open_session(store, time.time(), demo_user.user_id, username="sam")


@pytest.fixture
def dynamodb_faults(stack):
    # A warm container: the signing key ring is read at most once a minute, not
    # per request, so the requests counted here are the flows' own.
    signing.signer()
    return TransportFaults(aws.dynamodb())


@pytest.fixture
def kms_faults(stack):
    return TransportFaults(aws.kms())


def refresh_with(token):
    return invoke(refresh, with_body("refresh.json", {"refresh_token": token}))


def logout_with(token, everywhere=False):
    body = {"refresh_token": token, **({"all": True} if everywhere else {})}
    return invoke(logout, with_body("logout.json", body))


def assert_unavailable(answer):
    assert answer.status == 503, answer.body
    assert answer.body["error"] == "temporarily_unavailable"
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["Cache-Control"] == "no-store"


def assert_issued_and_stored(answer, table):
    assert answer.status == 200, answer.body
    token = answer.body["refresh_token"]
    table.remember(token)
    assert table.is_current(token), "a token was issued that is not the stored one"
    return token


def assert_answer(answer, kind, times, *, ok=(200, 204), allowed=()):
    """The flow's own answer when the fault is retried away, else 503 (or an
    allowed refusal)."""
    if times == ONCE and kind in RETRIED:
        assert answer.status in ok, (kind, answer.status, answer.body)
    elif answer.status not in (*ok, *allowed):
        assert_unavailable(answer)


# ------------------------------------------------------------------ flows
# Each flow: prepare() runs clean and returns its state; act(state) is the
# request under fault; check(state, answer, kind) asserts the outcome.
class Login:
    def __init__(self, login_as, table):
        self.login_as, self.table = login_as, table

    def prepare(self):
        return len(self.table.items())

    def act(self, before):
        return self.login_as()

    def check(self, before, answer, kind, times):
        assert_answer(answer, kind, times)
        if answer.status == 200:
            assert_issued_and_stored(answer, self.table)
        else:
            assert "refresh_token" not in answer.body
            assert answer.cookies == []


class Refresh:
    def __init__(self, new_session, table):
        self.new_session, self.table = new_session, table

    def prepare(self):
        return self.new_session()

    def act(self, token):
        return refresh_with(token)

    def check(self, token, answer, kind, times):
        assert_answer(answer, kind, times, allowed=(401,) if kind == CONDITION else ())
        if answer.status == 200:
            assert_issued_and_stored(answer, self.table)
            return
        # Refused or failed: the presented token still works.
        assert_issued_and_stored(refresh_with(token), self.table)


class Grace(Refresh):
    """The previous token again, within the window: the same successor."""

    def prepare(self):
        token = self.new_session()
        self.successor = refresh_with(token).body["refresh_token"]
        return token

    def check(self, token, answer, kind, times):
        super().check(token, answer, kind, times)
        if answer.status == 200:
            assert answer.body["refresh_token"] == self.successor
        assert self.table.is_current(self.successor)


class Theft(Refresh):
    """An older ancestor: the session must end up revoked, whatever fails."""

    def prepare(self):
        token = self.new_session()
        successor = refresh_with(token).body["refresh_token"]
        self.newest = refresh_with(successor).body["refresh_token"]
        return token

    def check(self, token, answer, kind, times):
        assert_answer(answer, kind, times, ok=(401,))
        retry = refresh_with(token)
        assert retry.status == 401
        assert self.table.is_revoked(token.split(".")[0])
        assert refresh_with(self.newest).status == 401


class Logout:
    everywhere = False

    def __init__(self, new_session, table):
        self.new_session, self.table = new_session, table

    def prepare(self):
        tokens = [self.new_session() for _ in range(2)]
        return tokens if self.everywhere else tokens[:1]

    def act(self, tokens):
        return logout_with(tokens[0], self.everywhere)

    def check(self, tokens, answer, kind, times):
        assert_answer(answer, kind, times)
        assert answer.status != 200
        if answer.status == 503:
            answer = logout_with(tokens[0], self.everywhere)
        assert answer.status == 204
        if kind == CONDITION:
            # An injected refusal claims the session is not there: RFC 7009's
            # 204, and a clean retry does the revoking.
            assert logout_with(tokens[0], self.everywhere).status == 204
        for token in tokens:
            assert self.table.is_revoked(token.split(".")[0]), "204 but still live"
            assert refresh_with(token).status == 401


class LogoutAll(Logout):
    everywhere = True

    def check(self, tokens, answer, kind, times):
        if kind == CONDITION and answer.status == 204:
            # An injected refusal claims a session is not there: 204, and one
            # session may be left live. The presenting session is revoked last, so
            # it is live whenever another is; but once it has ended, its token may
            # no longer end the others (a dead credential, issue 14 item 2): the
            # clean retry comes from a session that is still live.
            live = [t for t in tokens if not self.table.is_revoked(t.split(".")[0])]
            if live:
                assert logout_with(live[0], self.everywhere).status == 204
        super().check(tokens, answer, kind, times)


FLOWS = {
    "login": Login,
    "refresh": Refresh,
    "grace": Grace,
    "theft": Theft,
    "logout": Logout,
    "logout_all": LogoutAll,
}


def run_with_faults(flow, faults, table, kind, times):
    state = flow.prepare()
    faults.reset()
    flow.act(state)  # clean: learn the requests this flow makes
    requests = list(faults.sent)
    assert requests, "the flow made no request"
    for at in range(len(requests)):
        state = flow.prepare()
        faults.reset()
        faults.fail(kind, at=at, times=times)
        answer = flow.act(state)
        where = f"{kind} on {'every attempt' if times == ALWAYS else 'one attempt'} "
        where += f"of request {at} ({requests[at]} in {requests})"
        assert faults.injected, f"no fault reached: {where}"
        faults.reset()
        try:
            flow.check(state, answer, kind, times)
            table.check()
        except AssertionError as error:
            error.add_note(where)
            raise
    return requests


@pytest.mark.parametrize("kind", DYNAMODB_FAULTS)
@pytest.mark.parametrize("name", FLOWS)
def test_dynamodb_fault_at_every_request(
    name, kind, demo_user, login_as, new_session, table, dynamodb_faults
):
    flow = FLOWS[name](login_as if name == "login" else new_session, table)
    for times in (ONCE, ALWAYS):
        requests = run_with_faults(flow, dynamodb_faults, table, kind, times)
        if name in ("refresh", "grace"):
            assert requests == ["UpdateItem"]


@pytest.mark.parametrize("times", [ONCE, ALWAYS], ids=["once", "always"])
@pytest.mark.parametrize("kind", KMS_FAULTS)
def test_kms_fault_at_refresh(kind, times, new_session, table, kms_faults):
    token = new_session()
    kms_faults.fail(kind, times=times)
    answer = refresh_with(token)
    assert kms_faults.injected
    assert_answer(answer, kind, times)
    kms_faults.reset()
    if answer.status == 503:
        # The rotation happened; its successor is held for the presented token.
        item = table.item(token.split(".")[0])
        assert item["successor_undelivered"] == {"BOOL": True}
        assert bytes(item["previous_digest"]["B"]) == token_digest(token)
    retried = assert_issued_and_stored(refresh_with(token), table)
    if answer.status == 200:
        assert retried == answer.body["refresh_token"]  # within grace: the same one
    table.check()


def test_a_lost_rotation_response_is_not_taken_for_theft_without_grace(
    monkeypatch, new_session, table, dynamodb_faults
):
    """botocore retries a rotation whose response was lost; the retry is refused
    (the write landed) and must be recognised as our own, not as a replay."""
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    token = new_session()
    dynamodb_faults.fail(TIMEOUT_AFTER, times=ONCE)
    answer = refresh_with(token)
    assert dynamodb_faults.sent == ["UpdateItem", "UpdateItem"]
    successor = assert_issued_and_stored(answer, table)
    assert not table.is_revoked(token.split(".")[0])
    assert table.is_current(successor)
    table.check()


@pytest.mark.parametrize("kind", KMS_FAULTS)
def test_kms_fault_at_login_writes_nothing(kind, demo_user, login_as, table, kms_faults):
    kms_faults.fail(kind, times=ALWAYS)
    assert_unavailable(login_as())
    assert table.check() == []


@pytest.mark.parametrize("kind", [*DYNAMODB_FAULTS])
def test_kms_and_the_hold_failing_together_leave_the_token_usable_in_the_window(
    kind, new_session, table, kms_faults, dynamodb_faults, capfd, caplog
):
    token = new_session()
    watch = LeakWatch(capfd, caplog, logger)
    kms_faults.fail("KMSInternalException", times=ALWAYS)
    dynamodb_faults.reset()
    dynamodb_faults.fail(kind, at=1, times=ALWAYS)  # request 0 rotates, request 1 holds
    assert_unavailable(refresh_with(token))
    assert dynamodb_faults.sent[0] == "UpdateItem"
    assert dynamodb_faults.injected
    output = watch.read()
    watch.close()
    if kind != TIMEOUT_AFTER:  # a hold that landed is no failure
        assert '"refresh_hold_failed"' in output
        assert '"RefreshHoldFailed"' in output
    kms_faults.reset()
    dynamodb_faults.reset()
    assert_issued_and_stored(refresh_with(token), table)  # within the grace window
    table.check()
