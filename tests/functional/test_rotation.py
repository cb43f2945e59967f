"""Rotation, grace, theft and expiry at every boundary, on a frozen clock.

The service runs over the real DynamoDB store (moto) with its clock injected, so
each edge is hit exactly: the last millisecond that works and the first that
does not. TTL = 1000 s, idle = 300 s, grace = 10 s throughout.
"""

from __future__ import annotations

import pytest
import session_checks as checks
from session_checks import SessionTable, token_digest

from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import InvalidGrant, RotationRefused, TemporarilyUnavailable
from authcore.keys.signers import LocalSigner
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.model import Session
from authcore.sessions.service import SessionService
from authcore.tokens.issue import Principal, TokenIssuer
from authcore.tokens.refresh import RefreshToken

T0 = 1_800_000_000.0
TTL, IDLE, GRACE = 1000, 300, 10
MS = 0.001


class Signer:
    """A local signer that can be told to fail, as KMS does when it is down."""

    def __init__(self) -> None:
        self._inner = LocalSigner.generate()
        self.kid, self.alg = self._inner.kid, self._inner.alg
        self.failures = 0

    def sign(self, signing_input: bytes) -> bytes:
        if self.failures:
            self.failures -= 1
            raise TemporarilyUnavailable()
        return self._inner.sign(signing_input)


class Events(list):
    def __call__(self, name, fields):
        self.append((name, fields))

    def names(self):
        return [name for name, _ in self]


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def settings():
    return Settings(session_ttl=TTL, session_idle_ttl=IDLE, reuse_grace=GRACE)


@pytest.fixture
def store(stack):
    return DynamoSessionStore(stack.dynamodb, stack.sessions_table)


@pytest.fixture
def table(stack):
    return SessionTable(stack.dynamodb, stack.sessions_table)


@pytest.fixture
def signer():
    return Signer()


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def service(settings, store, clock, signer, events):
    return SessionService(
        settings,
        sessions=store,
        issuer=TokenIssuer(settings, signer),
        clock=clock,
        on_security_event=events,
    )


def open_session(store, clock, user_id="user-1"):
    return checks.open_session(store, clock(), user_id, ttl=TTL, idle=IDLE)


def refresh(service, token):
    return str(service.refresh(token, issuer="https://issuer.example").refresh_token)


def refused(service, token):
    with pytest.raises(InvalidGrant):
        service.refresh(token, issuer="https://issuer.example")


# ------------------------------------------------------------------ expiry
@pytest.mark.parametrize(
    ("offset", "works"), [(IDLE - MS, True), (IDLE, False), (IDLE + MS, False)]
)
def test_idle_expiry_edge(service, store, clock, table, offset, works):
    token = open_session(store, clock)
    clock.advance(offset)
    if works:
        assert table.is_current(refresh(service, token))
    else:
        refused(service, token)
        assert table.is_current(token)  # refused, not consumed, not revoked
        assert not table.is_revoked(token.split(".")[0])
    table.check()


@pytest.mark.parametrize(("offset", "works"), [(TTL - MS, True), (TTL, False), (TTL + MS, False)])
def test_absolute_expiry_edge_is_never_extended_by_rotation(
    service, store, clock, table, offset, works
):
    token = open_session(store, clock)
    for _ in range(3):  # keep the session busy so that only the absolute limit applies
        clock.advance(IDLE - 10)
        token = refresh(service, token)
    clock.now = T0 + offset
    if works:
        issued = service.refresh(token, issuer="https://issuer.example")
        assert issued.refresh_expires_in == 0  # a millisecond left: no rounding up
    else:
        refused(service, token)
    item = table.item(token.split(".")[0])
    assert float(item["absolute_expires_at"]["N"]) == T0 + TTL
    table.check()


def test_refresh_pushes_idle_expiry_forward(service, store, clock, table):
    token = open_session(store, clock)
    clock.advance(200)
    token = refresh(service, token)
    clock.now = T0 + 200 + IDLE - MS  # beyond the first idle limit (T0 + 300)
    token = refresh(service, token)
    clock.now += IDLE  # exactly one idle period after the last refresh
    refused(service, token)
    table.check()


def test_idle_expiry_is_capped_by_the_absolute_one(service, store, clock, table):
    token = open_session(store, clock)
    for _ in range(3):
        clock.advance(IDLE - 10)
        token = refresh(service, token)
    assert clock.now == T0 + 870  # idle would now run to T0 + 1170
    issued = service.refresh(token, issuer="https://issuer.example")
    assert issued.refresh_expires_in == TTL - 870  # what the cookie's Max-Age says
    (listed,) = service.list_sessions("user-1", current_sid=token.split(".")[0])
    assert listed.expires_at == int(T0 + TTL)
    clock.now = T0 + TTL
    refused(service, str(issued.refresh_token))
    table.check()


def test_expiry_is_decided_in_code_not_by_dynamodb_ttl(service, store, clock, table):
    """TTL deletes days late: an item still present after its expiry is dead."""
    token = open_session(store, clock)
    clock.advance(IDLE + 3600)
    assert table.item(token.split(".")[0]) is not None
    refused(service, token)
    assert service.list_sessions("user-1", current_sid="") == []


# ------------------------------------------------------------------- grace
@pytest.mark.parametrize("after", [0, 5, GRACE])
def test_previous_token_within_grace_gets_the_same_successor(
    service, store, clock, table, events, after
):
    first = open_session(store, clock)
    clock.advance(30)
    second = refresh(service, first)
    clock.advance(after)
    again = service.refresh(first, issuer="https://issuer.example")
    assert str(again.refresh_token) == second  # no fork: the twin's token, not a new one
    assert table.is_current(second)
    assert not table.is_revoked(second.split(".")[0])
    assert events == []
    table.check()


@pytest.mark.parametrize("after", [GRACE + MS, GRACE + 1, IDLE - 1])
def test_previous_token_after_grace_is_theft_and_kills_the_newest_token(
    service, store, clock, table, events, after
):
    first = open_session(store, clock)
    clock.advance(30)
    second = refresh(service, first)
    table.remember(first, second)
    clock.advance(after)
    refused(service, first)
    assert table.is_revoked(first.split(".")[0])
    refused(service, second)  # the legitimate holder's token dies too
    assert events.names() == ["refresh_token_reuse"]
    fields = events[0][1]
    assert fields["reused"] == "previous"
    assert fields["sid"] == first.split(".")[0]
    assert fields["user_id"] == "user-1"
    assert not any(t in repr(events) for t in (first, second, first.split(".")[1]))
    table.check()


def test_no_grace_at_all_when_the_window_is_zero(store, clock, signer, table, events):
    settings = Settings(session_ttl=TTL, session_idle_ttl=IDLE, reuse_grace=0)
    service = SessionService(
        settings,
        sessions=store,
        issuer=TokenIssuer(settings, signer),
        clock=clock,
        on_security_event=events,
    )
    first = open_session(store, clock)
    second = refresh(service, first)
    refused(service, first)
    refused(service, second)
    assert events.names() == ["refresh_token_reuse"]
    table.check()


def test_older_ancestor_is_theft_even_within_the_grace_window(service, store, clock, table, events):
    first = open_session(store, clock)
    second = refresh(service, first)
    clock.advance(1)
    third = refresh(service, second)
    clock.advance(1)
    refused(service, first)  # two generations back: never grace
    refused(service, third)
    assert events[0][1]["reused"] == "ancestor"
    table.check()


def test_grace_successor_then_rotated_makes_the_previous_an_ancestor(service, store, clock, table):
    first = open_session(store, clock)
    second = refresh(service, first)
    assert refresh(service, first) == second  # tab B, within grace
    third = refresh(service, second)  # one of the tabs moves on
    refused(service, first)
    refused(service, third)
    table.check()


def test_a_token_of_another_family_with_a_known_sid_is_refused_without_revoking(
    service, store, clock, table, events
):
    token = open_session(store, clock)
    forged = str(RefreshToken.new(sid=token.split(".")[0]))
    refused(service, forged)
    assert not table.is_revoked(token.split(".")[0])
    assert events == []
    assert table.is_current(refresh(service, token))


# ------------------------------------------------------------ revoked users
def test_revoked_session_refuses_current_and_previous_tokens_without_alarm(
    service, store, clock, table, events
):
    first = open_session(store, clock)
    second = refresh(service, first)
    service.logout_with_refresh_token(second)
    refused(service, second)
    refused(service, first)  # within grace, but a revoked session has no grace
    assert events == []
    table.check()


def test_disabling_a_user_or_setting_a_password_revokes_every_session(
    stack, demo_user, service, store, clock, table
):
    # More sessions than one page of the index holds: "all" must mean all.
    tokens = [open_session(store, clock, demo_user.user_id) for _ in range(130)]
    other = open_session(store, clock, "someone-else")
    assert stack.admin.set_disabled("sam", True) == 130
    for token in tokens[:3] + tokens[-3:]:
        refused(service, token)
    assert all(table.is_revoked(t.split(".")[0]) for t in tokens)
    assert service.list_sessions(demo_user.user_id, current_sid="") == []
    assert table.is_current(refresh(service, other))
    stack.admin.set_disabled("sam", False)
    fresh = open_session(store, clock, demo_user.user_id)
    assert stack.admin.set_password("sam", "an-entirely-new-password") == 131
    refused(service, fresh)
    table.check()


# ------------------------------------------------------------ signing fails
def test_signing_failure_after_rotation_keeps_the_presented_token_working(
    service, store, clock, table, signer, events
):
    first = open_session(store, clock)
    signer.failures = 1
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(first, issuer="https://issuer.example")
    clock.advance(GRACE)  # a retry within the grace window, its last millisecond included
    second = refresh(service, first)
    assert table.is_current(second)
    assert refresh(service, first) == second  # still the same successor: no fork
    third = refresh(service, second)  # using the successor ends the exception
    clock.advance(GRACE + 1)
    refused(service, second)  # an ordinary previous token again: theft after the window
    refused(service, third)
    assert events.names() == ["refresh_token_reuse"]
    table.check()


@pytest.mark.parametrize("late", [GRACE + MS, IDLE - 1])
def test_an_undelivered_successor_is_not_redeemed_past_the_grace_window(
    service, store, clock, table, signer, events, late
):
    """The marker once redeemed the successor however late the retry: a stolen
    previous token stayed usable (and exempt from reuse detection) until the
    session idled out. Past the window it is refused, plainly: no revocation and
    no reuse alarm, since the marker records our outage, not a replay."""
    first = open_session(store, clock)
    signer.failures = 1
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(first, issuer="https://issuer.example")
    sid = first.split(".")[0]
    assert table.item(sid)["successor_undelivered"] == {"BOOL": True}
    clock.advance(late)
    refused(service, first)
    refused(service, first)  # and stays refused
    assert events.names() == ["refresh_undelivered_expired", "refresh_undelivered_expired"]
    assert not table.is_revoked(sid)
    assert "refresh_token_reuse" not in events.names()
    table.check()


def test_once_the_held_successor_is_delivered_a_late_replay_is_theft_again(
    service, store, clock, table, signer, events
):
    """The marker covers one outage, not the session's future: once the retry within the
    window got the successor, replaying the previous token later is reuse as usual."""
    first = open_session(store, clock)
    signer.failures = 1
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(first, issuer="https://issuer.example")
    sid = first.split(".")[0]
    clock.advance(MS)
    second = refresh(service, first)  # the owner's retry, within the window
    assert "successor_undelivered" not in table.item(sid)
    assert table.is_current(second)
    clock.advance(GRACE + 1)
    refused(service, first)  # a thief's replay, past the window
    assert "refresh_token_reuse" in events.names()
    assert table.is_revoked(sid)
    table.check()


def test_signing_failure_never_unissues_a_successor_a_twin_already_holds(
    service, store, clock, table, signer
):
    first = open_session(store, clock)
    second = refresh(service, first)  # tab A got the successor
    signer.failures = 1
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(first, issuer="https://issuer.example")  # tab B, grace, KMS down
    assert table.is_current(second)  # tab A's token is still good
    clock.advance(GRACE)
    assert refresh(service, first) == second  # and tab B's retry converges on it
    clock.advance(MS)
    refused(service, first)  # past the window: refused, and tab A is not punished for it
    assert table.is_current(second)
    table.check()


class HoldFails(DynamoSessionStore):
    def hold_successor(self, presented, successor):
        raise TemporarilyUnavailable()


def test_when_signing_and_the_hold_both_fail_the_grace_window_still_applies(
    stack, settings, clock, signer, table, events
):
    store = HoldFails(stack.dynamodb, stack.sessions_table)
    service = SessionService(
        settings,
        sessions=store,
        issuer=TokenIssuer(settings, signer),
        clock=clock,
        on_security_event=events,
    )
    first = open_session(store, clock)
    signer.failures = 1
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(first, issuer="https://issuer.example")
    assert events.names() == ["refresh_hold_failed"]
    clock.advance(GRACE)
    assert table.is_current(refresh(service, first))
    table.check()


class Inconsistent:
    """A store whose refusal names the presented token as current."""

    def __init__(self, session):
        self.session = session
        self.revoked = []

    def rotate(self, presented, successor, **_):
        raise RotationRefused(self.session)

    def revoke(self, sid, **kwargs):
        self.revoked.append(sid)
        return True


def test_a_refusal_naming_the_presented_token_current_is_never_taken_for_theft(
    settings, clock, signer, events
):
    token = RefreshToken.new()
    session = Session(
        sid=token.sid,
        principal=Principal("user-1", "sam", ""),
        created_at=T0,
        last_used_at=T0,
        absolute_expires_at=T0 + TTL,
        idle_expires_at=T0 + IDLE,
        token_digest=token.digest,
        family_digest=token.family_digest,
    )
    store = Inconsistent(session)
    service = SessionService(
        settings,
        sessions=store,
        issuer=TokenIssuer(settings, signer),
        clock=clock,
        on_security_event=events,
    )
    with pytest.raises(TemporarilyUnavailable):
        service.refresh(str(token), issuer="https://issuer.example")
    assert store.revoked == []
    assert events == []


# --------------------------------------------------------------- the store
def test_store_rotation_condition_at_the_edges(store, clock, table):
    token = RefreshToken.parse(open_session(store, clock))
    successor = token.successor()
    with pytest.raises(RotationRefused) as refusal:
        store.rotate(token, successor, now=T0 + IDLE, idle_expires_at=T0 + 2 * IDLE)
    assert refusal.value.session.token_digest == token.digest  # the item came back
    rotated = store.rotate(token, successor, now=T0 + IDLE - MS, idle_expires_at=T0 + 2 * TTL)
    assert rotated.token_digest == successor.digest
    assert rotated.previous_digest == token.digest
    assert rotated.idle_expires_at == T0 + TTL  # capped on the way out
    assert token.open_successor(rotated.successor_box) == successor
    with pytest.raises(RotationRefused):
        store.rotate(token, token.successor(), now=T0 + 400, idle_expires_at=T0 + 700)
    table.check()


def test_store_revocation_is_final(store, clock, table):
    token = RefreshToken.parse(open_session(store, clock))
    assert store.revoke(token.sid, now=T0 + 1, reason="logout")
    assert store.revoke(token.sid, now=T0 + 2, reason="other")  # idempotent, first wins
    item = table.item(token.sid)
    assert (item["revoked_at"]["N"], item["revoke_reason"]["S"]) == ("1800000001.000", "logout")
    with pytest.raises(RotationRefused):
        store.rotate(token, token.successor(), now=T0 + 3, idle_expires_at=T0 + 300)
    assert not store.hold_successor(token, token.successor())
    assert not store.revoke("A" * 22, now=T0, reason="logout")  # unknown sid
    table.check()


def test_store_never_holds_a_token(store, clock, table, service):
    first = open_session(store, clock)
    second = refresh(service, first)
    third = refresh(service, second)
    table.remember(first, second, third)
    items = table.check()
    assert bytes(items[0]["token_digest"]["B"]) == token_digest(third)
    assert bytes(items[0]["previous_digest"]["B"]) == token_digest(second)


def test_invariant_check_catches_what_it_claims(stack, store, clock, table):
    """The checker itself can fail: feed it each inconsistency once."""
    from session_checks import InvariantViolation

    token = open_session(store, clock)
    sid = token.split(".")[0]
    key = {"sid": {"S": sid}}
    table.check()
    breakages = [
        ("SET previous_digest = token_digest", {}),
        ("SET absolute_expires_at = :v", {":v": {"N": str(T0 + 2 * TTL)}}),
        ("SET leaked = :v", {":v": {"S": token}}),
    ]
    for expression, values in breakages:
        original = table.item(sid)
        update = {"UpdateExpression": expression}
        if values:
            update["ExpressionAttributeValues"] = values
        stack.dynamodb.update_item(TableName="sessions", Key=key, **update)
        with pytest.raises(InvariantViolation):
            table.check()
        stack.dynamodb.put_item(TableName="sessions", Item=original)
    store.revoke(sid, now=T0, reason="logout")
    table.check()
    stack.dynamodb.update_item(TableName="sessions", Key=key, UpdateExpression="REMOVE revoked_at")
    with pytest.raises(InvariantViolation):
        table.check()


class PagedQuery:
    """A DynamoDB client whose index answers two keys per page, as the real one
    does past 1 MB (some ten thousand sessions): every page must be read."""

    def __init__(self, sids):
        self.sids = sids
        self.calls = []

    def query(self, **request):
        self.calls.append(request)
        start = int(request.get("ExclusiveStartKey", {}).get("n", {}).get("N", "0"))
        end = min(start + 2, len(self.sids), start + request.get("Limit", 2))
        page = {"Items": [{"sid": {"S": sid}} for sid in self.sids[start:end]]}
        if end < len(self.sids):
            page["LastEvaluatedKey"] = {"n": {"N": str(end)}}
        return page


def test_listing_a_users_sessions_reads_every_page():
    client = PagedQuery([f"sid-{i}" for i in range(7)])
    store = DynamoSessionStore(client, "sessions")
    assert store.list_sids("user-1") == client.sids
    assert len(client.calls) == 4
    assert store.list_sids("user-1", limit=3) == client.sids[:3]
