"""The revocation feed's writing side (``authcore.revocation.publisher``): which stream
records of the sessions table become entries, and how publications land in the
snapshot and the delta, alone, side by side with another publisher, and after a crash.

The store is the in-memory bucket of ``feed_fakes`` (conditional writes as S3's);
every time is a frozen number.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from feed_fakes import FETCH, READ, WRITE, FakeBucket

from authcore import records
from authcore.clock import FrozenClock
from authcore.errors import InvalidToken
from authcore.revocation.document import (
    DELTA_KEY,
    DELTA_WINDOW_SECONDS,
    GRANULE,
    MAX_SID_LENGTH,
    SNAPSHOT_KEY,
    FeedDocument,
    parse,
)
from authcore.revocation.feed import RevocationFeed
from authcore.revocation.publisher import (
    ATTEMPTS,
    SLACK_SECONDS,
    FeedContention,
    Published,
    Publisher,
    revocations,
)
from authcore.revocation.source import FeedUnavailable
from authcore.sessions.dynamo import _to_item
from authcore.sessions.model import Session
from authcore.tokens.issue import Principal

NOW = 1_800_000_000.0  # a multiple of the granule
ACCESS_TTL = 900
LEEWAY = 30
# What an entry outlives the end of its session by, before rounding up to the granule.
TAIL = ACCESS_TTL + LEEWAY + SLACK_SECONDS  # 990
U = int(NOW) + 3600  # an until far enough ahead for the publisher tests


# ------------------------------------------------------------------ stream records
def session(
    sid: str = "Q2hhcmxpZS1zZXNzaW9uLTE",
    *,
    idle_expires_at: float = NOW + 1800,
    absolute_expires_at: float = NOW + 7 * 86400,
    revoked_at: float | None = None,
) -> Session:
    return Session(
        sid=sid,
        principal=Principal("user-1", "sam", "profile", ("pwd",), NOW - 3600),
        created_at=NOW - 3600,
        last_used_at=NOW - 60,
        absolute_expires_at=absolute_expires_at,
        idle_expires_at=idle_expires_at,
        user_agent="Mozilla/5.0",
        revoked_at=revoked_at,
        token_digest=b"\x01" * 32,
        previous_digest=b"\x02" * 32,
        rotated_at=NOW - 60,
        family_digest=b"\x03" * 32,
    )


def image(s: Session) -> dict[str, Any]:
    """The item as a stream record carries it (binary values base64, as in the event)."""
    return {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in _to_item(s).items()
    }


def record(event: str, *, new: Session | None = None, old: Session | None = None) -> dict:
    sid = (new or old).sid  # type: ignore[union-attr]
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": NOW - 1,
        "Keys": {"sid": {"S": sid}},
        "SequenceNumber": "4421584500000000017450439091",
        "SizeBytes": 420,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = image(new)
    if old is not None:
        change["OldImage"] = image(old)
    return {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": change,
        "eventSourceARN": (
            "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions/stream/2025-01-01T00:00:00.000"
        ),
    }


def found(*records: dict, now: float = NOW) -> dict[str, int]:
    return revocations(list(records), access_ttl=ACCESS_TTL, leeway=LEEWAY, now=now)


def revoke(s: Session, at: float) -> dict:
    return record("MODIFY", old=s, new=records.replace(s, revoked_at=at))


# ------------------------------------------------------------------ revocations()
@pytest.mark.parametrize(
    ("revoked_at", "idle", "absolute", "until"),
    [
        # The revocation ends it: + the token lifetime, the leeway, the slack (990).
        (NOW - 5, NOW + 1800, NOW + 86400, NOW + 990),  # 985 rounded up to 990
        (NOW - 10, NOW + 1800, NOW + 86400, NOW + 980),  # a multiple stays as it is
        (NOW - 5.125, NOW + 1800, NOW + 86400, NOW + 990),
        # It had idled out before it was revoked: its last token came at the idle expiry.
        (NOW - 5, NOW - 100, NOW + 86400, NOW + 890),
        # Or reached its absolute expiry first.
        (NOW - 5, NOW + 1800, NOW - 203, NOW + 790),
    ],
)
def test_a_revocation_becomes_an_entry_until_its_last_token_has_expired(
    revoked_at, idle, absolute, until
):
    live = session(idle_expires_at=idle, absolute_expires_at=absolute)
    assert found(revoke(live, revoked_at)) == {live.sid: int(until)}


def test_the_token_lifetime_and_the_leeway_are_the_callers():
    live = session()
    entries = revocations([revoke(live, NOW)], access_ttl=300, leeway=0, now=NOW)
    assert entries == {live.sid: int(NOW) + 300 + SLACK_SECONDS}
    entries = revocations([revoke(live, NOW)], access_ttl=3600, leeway=120, now=NOW)
    assert entries == {live.sid: int(NOW) + 3600 + 120 + SLACK_SECONDS}


def test_every_until_is_a_whole_granule():
    live = session()
    for offset in range(0, 40):
        (until,) = found(revoke(live, NOW + offset / 4)).values()
        assert until % GRANULE == 0
        assert NOW + offset / 4 + TAIL <= until < NOW + offset / 4 + TAIL + GRANULE


def test_a_refresh_is_no_revocation():
    before = session()
    after = records.replace(before, idle_expires_at=NOW + 3600, rotated_at=NOW)
    assert found(record("MODIFY", old=before, new=after)) == {}


def test_a_new_session_is_no_revocation():
    assert found(record("INSERT", new=session())) == {}


def test_a_live_session_deleted_is_revoked_from_now():
    live = session()
    assert found(record("REMOVE", old=live), now=NOW + 3) == {live.sid: int(NOW) + 1000}


def test_a_session_deleted_soon_after_it_expired_is_revoked_from_its_expiry():
    expired = session(idle_expires_at=NOW - 100)
    # Tokens it issued before it idled out may live on for an access token's lifetime.
    assert found(record("REMOVE", old=expired)) == {expired.sid: int(NOW) + 890}


def test_a_revoked_session_deleted_was_published_when_it_was_revoked():
    revoked = session(revoked_at=NOW - 30)
    assert found(record("REMOVE", old=revoked)) == {}


def test_a_long_expired_session_deleted_by_ttl_yields_nothing():
    expired = session(idle_expires_at=NOW - 2 * 86400, absolute_expires_at=NOW - 86400)
    assert found(record("REMOVE", old=expired)) == {}
    # Just past the tail: nothing; just within it: an entry.
    assert found(record("REMOVE", old=session(idle_expires_at=NOW - TAIL))) == {}
    assert found(record("REMOVE", old=session(idle_expires_at=NOW - TAIL + 1)))


def test_a_revocation_so_old_its_tokens_are_dead_yields_nothing():
    # A batch retried long after: nothing anyone could still use.
    assert found(revoke(session(), NOW - TAIL - 5)) == {}


def test_the_latest_until_of_a_sid_wins_and_each_sid_counts_once():
    a, b = session("sid-a"), session("sid-b")
    entries = found(revoke(a, NOW - 100), revoke(a, NOW), revoke(b, NOW), revoke(a, NOW - 50))
    assert entries == {"sid-a": int(NOW) + 990, "sid-b": int(NOW) + 990}


def test_an_unreadable_revocation_time_counts_from_now():
    rec = revoke(session(), NOW)
    rec["dynamodb"]["NewImage"]["revoked_at"] = {"S": "yesterday"}
    assert found(rec, now=NOW + 7) == {session().sid: int(NOW) + 1000}


def _revoked_image(**changes: Any) -> dict[str, Any]:
    new = image(session(revoked_at=NOW))
    for name, value in changes.items():
        if value is None:
            new.pop(name)
        else:
            new[name] = value
    return new


MALFORMED: dict[str, Any] = {
    "empty": {},
    "no change": {"eventName": "MODIFY"},
    "change null": {"eventName": "MODIFY", "dynamodb": None},
    "change a string": {"eventName": "MODIFY", "dynamodb": "NewImage"},
    "change a list": {"eventName": "REMOVE", "dynamodb": [{"OldImage": {}}]},
    "new image a string": {"eventName": "MODIFY", "dynamodb": {"NewImage": "revoked_at"}},
    "old image a list": {"eventName": "REMOVE", "dynamodb": {"OldImage": ["sid"]}},
    "keys only": {"eventName": "REMOVE", "dynamodb": {"Keys": {"sid": {"S": "sid-1"}}}},
    "no sid": {"eventName": "MODIFY", "dynamodb": {"NewImage": _revoked_image(sid=None)}},
    "sid a number": {
        "eventName": "MODIFY",
        "dynamodb": {"NewImage": _revoked_image(sid={"N": "7"})},
    },
    "sid a string": {"eventName": "MODIFY", "dynamodb": {"NewImage": _revoked_image(sid="x")}},
    "sid a list": {"eventName": "MODIFY", "dynamodb": {"NewImage": _revoked_image(sid=["x"])}},
    "sid empty": {"eventName": "MODIFY", "dynamodb": {"NewImage": _revoked_image(sid={"S": ""})}},
    "sid too long": {
        "eventName": "MODIFY",
        "dynamodb": {"NewImage": _revoked_image(sid={"S": "x" * (MAX_SID_LENGTH + 1)})},
    },
    "removed, sid missing": {
        "eventName": "REMOVE",
        "dynamodb": {"OldImage": {"idle_expires_at": {"N": str(NOW + 60)}}},
    },
}


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_record_yields_nothing_and_never_raises(bad):
    good = revoke(session("sid-good"), NOW)
    assert found(bad) == {}
    # Nor does it spoil the batch it came in.
    assert found(bad, good, bad) == {"sid-good": int(NOW) + 990}


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("name", ["revoked_at", "idle_expires_at", "absolute_expires_at"])
def test_a_number_that_is_no_time_never_raises(name, value):
    rec = revoke(session("sid-1"), NOW)
    rec["dynamodb"]["NewImage"][name] = {"N": value}
    entries = found(rec)
    # What is published is a whole second the feed can carry, or nothing.
    assert all(isinstance(u, int) and NOW < u < 10**12 for u in entries.values())


def test_whatever_revocations_yields_can_be_published_and_read():
    """The publisher must never write what the readers refuse to parse (every
    authorizer would then fail closed)."""
    records = [revoke(session(f"sid-{i}"), NOW) for i in range(3)]
    records += [b for b in MALFORMED.values() if isinstance(b, dict)]
    bucket = FakeBucket()
    Publisher(bucket).publish(found(*records), now=NOW)
    assert len(list(parse(bucket.body(SNAPSHOT_KEY)).entries())) == 3
    assert len(list(parse(bucket.body(DELTA_KEY)).entries())) == 3


# ------------------------------------------------------------------ Publisher
def snapshot(bucket: FakeBucket) -> FeedDocument:
    return parse(bucket.body(SNAPSHOT_KEY), with_recent=True)


def delta(bucket: FakeBucket) -> FeedDocument:
    return parse(bucket.body(DELTA_KEY))


def sids(document: FeedDocument) -> set[str]:
    return {sid for sid, _ in document.entries()}


@pytest.fixture
def bucket() -> FakeBucket:
    return FakeBucket()


def test_the_first_publication_creates_the_snapshot_and_the_delta(bucket):
    published = Publisher(bucket).publish({"s-1": U, "s-2": U + 10}, now=NOW)
    assert published == Published(seq=1, added=2)

    snap, dlt = snapshot(bucket), delta(bucket)
    assert snap.feed == dlt.feed
    assert 0 < len(snap.feed) <= 64
    assert (snap.seq, snap.since, snap.at) == (1, 0, NOW)
    assert (dlt.seq, dlt.since, dlt.at) == (1, 0, NOW)
    assert dict(snap.entries()) == dict(dlt.entries()) == {"s-1": U, "s-2": U + 10}
    assert snap.recent == [(1, NOW, {U: ["s-1"], U + 10: ["s-2"]})]
    # The delta is a reader's document: no publisher state in it.
    assert b"recent" not in bucket.body(DELTA_KEY)
    assert bucket.count(SNAPSHOT_KEY, WRITE) == bucket.count(DELTA_KEY, WRITE) == 1


def test_two_feeds_never_share_an_id():
    first, second = FakeBucket(), FakeBucket()
    Publisher(first).publish({"s-1": U}, now=NOW)
    Publisher(second).publish({"s-1": U}, now=NOW)
    assert snapshot(first).feed != snapshot(second).feed


def test_each_publication_bumps_seq_and_the_delta_covers_the_window(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    assert publisher.publish({"s-2": U}, now=NOW + 10) == Published(2, 1)
    assert publisher.publish({"s-3": U}, now=NOW + 30) == Published(3, 1)

    dlt = delta(bucket)
    assert (dlt.seq, dlt.since, dlt.at) == (3, 0, NOW + 30)
    assert sids(dlt) == {"s-1", "s-2", "s-3"}
    assert snapshot(bucket).feed == dlt.feed
    assert [r[0] for r in snapshot(bucket).recent] == [1, 2, 3]


def test_publications_older_than_the_window_fall_out_of_the_delta_not_the_snapshot(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    publisher.publish({"s-2": U}, now=NOW + 30)
    publisher.publish({"s-3": U}, now=NOW + DELTA_WINDOW_SECONDS + 10)

    dlt = delta(bucket)
    assert (dlt.seq, dlt.since) == (3, 1)  # publications 2..3
    assert sids(dlt) == {"s-2", "s-3"}
    assert sids(snapshot(bucket)) == {"s-1", "s-2", "s-3"}

    publisher.publish({"s-4": U}, now=NOW + 10 * DELTA_WINDOW_SECONDS)
    dlt = delta(bucket)
    assert (dlt.seq, dlt.since) == (4, 3)
    assert sids(dlt) == {"s-4"}
    assert [r[0] for r in snapshot(bucket).recent] == [4]
    assert sids(snapshot(bucket)) == {"s-1", "s-2", "s-3", "s-4"}


def test_the_delta_stays_contiguous_when_publishers_clocks_disagree(bucket):
    """Two publishers (two stream shards) whose clocks differ by a fraction of a second:
    publication 2 carries an earlier time than publication 1. The delta must still tell
    every publication after its ``since``, or a reader that resumes from it never
    learns publication 2."""
    clock = FrozenClock(NOW)
    feed = RevocationFeed(bucket, interval=5, clock=clock)
    Publisher(bucket).publish({"s-1": U}, now=NOW + 1.25)  # shard A, its clock ahead
    clock.now = NOW + 1.5
    assert feed.check({"sub": "u", "sid": "s-0"}) is None  # type: ignore[typeddict-item]
    assert feed.seq == 1
    Publisher(bucket).publish({"s-2": U}, now=NOW + 0.75)  # shard B, just after, behind
    Publisher(bucket).publish({"s-3": U}, now=NOW + DELTA_WINDOW_SECONDS + 0.5)

    dlt = delta(bucket)
    covered = {seq for seq, _, _ in snapshot(bucket).recent}
    assert set(range(dlt.since + 1, dlt.seq + 1)) <= covered
    assert "s-2" in sids(dlt) or dlt.since >= 2

    clock.now = NOW + DELTA_WINDOW_SECONDS + 1
    for sid in ("s-1", "s-2", "s-3"):
        with pytest.raises(InvalidToken) as raised:
            feed.check({"sub": "u", "sid": sid})  # type: ignore[typeddict-item]
        assert raised.value.reason == "session_revoked", sid


def test_expired_entries_leave_the_snapshot_and_are_never_published(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-short": int(NOW) + 100, "s-long": U}, now=NOW)
    publisher.publish({"s-new": U}, now=NOW + 150)
    assert sids(snapshot(bucket)) == {"s-long", "s-new"}

    writes = bucket.count(op=WRITE)
    assert publisher.publish({"s-dead": int(NOW) + 150}, now=NOW + 150) == Published(2, 0)
    assert bucket.count(op=WRITE) == writes


def test_republishing_known_entries_adds_nothing_and_keeps_seq(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U, "s-2": U}, now=NOW)
    etags = bucket.etag(SNAPSHOT_KEY), bucket.etag(DELTA_KEY)

    assert publisher.publish({"s-1": U, "s-2": U}, now=NOW + 5) == Published(1, 0)
    assert publisher.publish({"s-1": U - 100}, now=NOW + 6) == Published(1, 0)  # earlier
    assert (bucket.etag(SNAPSHOT_KEY), bucket.etag(DELTA_KEY)) == etags
    assert bucket.count(op=WRITE) == 2

    # A later until for a known sid is news: it extends the entry.
    assert publisher.publish({"s-1": U + 100, "s-2": U}, now=NOW + 7) == Published(2, 1)
    assert dict(snapshot(bucket).entries())["s-1"] == U + 100
    assert dict(delta(bucket).entries())["s-1"] == U + 100


def test_publishing_nothing_to_an_empty_bucket_writes_nothing(bucket):
    assert Publisher(bucket).publish({}, now=NOW) == Published(0, 0)
    assert bucket.objects == {}
    assert bucket.count(op=WRITE) == 0


def test_a_concurrent_publisher_that_commits_first_makes_us_retry_and_both_are_published(
    bucket,
):
    ours, theirs = Publisher(bucket), Publisher(bucket)
    ours.publish({"s-0": U}, now=NOW)
    bucket.before_next_write(lambda: theirs.publish({"s-theirs": U}, now=NOW + 1), key=SNAPSHOT_KEY)
    assert ours.publish({"s-ours": U}, now=NOW + 1) == Published(3, 1)

    snap, dlt = snapshot(bucket), delta(bucket)
    assert snap.seq == dlt.seq == 3
    assert sids(snap) == sids(dlt) == {"s-0", "s-theirs", "s-ours"}
    assert dlt.since == 0
    assert bucket.count(SNAPSHOT_KEY, WRITE) == 1 + 1 + 2  # ours lost once, then won


def test_two_first_publications_make_one_feed(bucket):
    ours, theirs = Publisher(bucket), Publisher(bucket)
    bucket.before_next_write(lambda: theirs.publish({"s-theirs": U}, now=NOW), key=SNAPSHOT_KEY)
    assert ours.publish({"s-ours": U}, now=NOW) == Published(2, 1)
    snap, dlt = snapshot(bucket), delta(bucket)
    assert snap.feed == dlt.feed
    assert sids(snap) == sids(dlt) == {"s-theirs", "s-ours"}
    assert (dlt.seq, dlt.since) == (2, 0)


def test_the_delta_never_moves_back_when_a_newer_one_lands_before_ours(bucket):
    ours, theirs = Publisher(bucket), Publisher(bucket)
    # Ours commits publication 1; before its delta write, theirs commits 2 and its delta.
    bucket.before_next_write(lambda: theirs.publish({"s-theirs": U}, now=NOW), key=DELTA_KEY)
    assert ours.publish({"s-ours": U}, now=NOW) == Published(1, 1)

    dlt = delta(bucket)
    assert (dlt.seq, dlt.since) == (2, 0)
    assert sids(dlt) == {"s-ours", "s-theirs"}
    # Ours tried once (lost), read the newer delta and left it alone.
    assert bucket.count(DELTA_KEY, WRITE) == 2


def test_the_delta_is_never_overwritten_by_an_older_publication(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    feed = snapshot(bucket).feed
    newer = FeedDocument(feed, 9, 0, NOW, {U: ["s-1", "s-9"]}).encode()
    bucket.put(DELTA_KEY, newer)

    assert publisher.publish({"s-2": U}, now=NOW + 1) == Published(2, 1)
    assert bucket.body(DELTA_KEY) == newer


@pytest.mark.parametrize(
    "stale",
    [
        FeedDocument("another-feed", 9, 0, NOW, {U: ["s-x"]}).encode(),  # another history
        b"{not json",  # unreadable
    ],
    ids=["another feed", "unreadable"],
)
def test_a_delta_of_another_feed_or_unreadable_is_replaced(bucket, stale):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    bucket.put(DELTA_KEY, stale)
    publisher.publish({"s-2": U}, now=NOW + 1)
    dlt = delta(bucket)
    assert (dlt.feed, dlt.seq) == (snapshot(bucket).feed, 2)
    assert sids(dlt) == {"s-1", "s-2"}


def test_a_crash_between_the_two_writes_is_repaired_by_the_retry_of_the_same_batch(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    bucket.fail(op=WRITE, key=DELTA_KEY, times=1)
    with pytest.raises(FeedUnavailable):
        publisher.publish({"s-2": U}, now=NOW + 1)
    assert snapshot(bucket).seq == 2
    assert delta(bucket).seq == 1  # left behind

    # The stream delivers the batch again: nothing new, and the delta catches up.
    assert publisher.publish({"s-2": U}, now=NOW + 3) == Published(2, 0)
    dlt = delta(bucket)
    assert (dlt.seq, dlt.since) == (2, 0)
    assert sids(dlt) == {"s-1", "s-2"}
    assert snapshot(bucket).seq == 2


def test_a_crash_before_the_first_delta_is_repaired_too(bucket):
    publisher = Publisher(bucket)
    bucket.fail(op=WRITE, key=DELTA_KEY, times=1)
    with pytest.raises(FeedUnavailable):
        publisher.publish({"s-1": U}, now=NOW)
    assert DELTA_KEY not in bucket.objects
    assert publisher.publish({"s-1": U}, now=NOW + 2) == Published(1, 0)
    assert (delta(bucket).seq, sids(delta(bucket))) == (1, {"s-1"})


def test_a_retry_after_someone_else_moved_the_delta_on_leaves_it(bucket):
    ours, theirs = Publisher(bucket), Publisher(bucket)
    bucket.fail(op=WRITE, key=DELTA_KEY, times=1)
    with pytest.raises(FeedUnavailable):
        ours.publish({"s-ours": U}, now=NOW)
    theirs.publish({"s-theirs": U}, now=NOW + 1)
    etag = bucket.etag(DELTA_KEY)
    assert ours.publish({"s-ours": U}, now=NOW + 2) == Published(2, 0)
    assert bucket.etag(DELTA_KEY) == etag
    assert sids(delta(bucket)) == {"s-ours", "s-theirs"}


def _lose_snapshot_writes(bucket: FakeBucket, times: int) -> None:
    def bump() -> None:  # someone else wrote the snapshot: its ETag moved
        bucket.put(SNAPSHOT_KEY, bucket.body(SNAPSHOT_KEY))

    for _ in range(times):
        bucket.before_next_write(bump, key=SNAPSHOT_KEY)


def test_attempts_minus_one_conflicts_still_publish(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    _lose_snapshot_writes(bucket, ATTEMPTS - 1)
    assert publisher.publish({"s-2": U}, now=NOW + 1) == Published(2, 1)
    assert bucket.count(SNAPSHOT_KEY, WRITE) == 1 + ATTEMPTS
    assert sids(delta(bucket)) == {"s-1", "s-2"}


def test_attempts_conflicts_on_the_snapshot_raise_feed_contention(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    _lose_snapshot_writes(bucket, ATTEMPTS)
    with pytest.raises(FeedContention):
        publisher.publish({"s-2": U}, now=NOW + 1)
    assert bucket.count(SNAPSHOT_KEY, WRITE) == 1 + ATTEMPTS
    assert sids(snapshot(bucket)) == {"s-1"}
    assert (delta(bucket).seq, sids(delta(bucket))) == (1, {"s-1"})


def test_attempts_conflicts_on_the_delta_raise_feed_contention(bucket):
    publisher = Publisher(bucket)
    publisher.publish({"s-1": U}, now=NOW)
    older = bucket.body(DELTA_KEY)

    def bump() -> None:  # the delta moved, but never past ours
        bucket.put(DELTA_KEY, older)

    for _ in range(ATTEMPTS):
        bucket.before_next_write(bump, key=DELTA_KEY)
    with pytest.raises(FeedContention):
        publisher.publish({"s-2": U}, now=NOW + 1)
    assert bucket.count(DELTA_KEY, WRITE) == 1 + ATTEMPTS
    # The batch is delivered again: the delta catches up.
    assert publisher.publish({"s-2": U}, now=NOW + 2) == Published(2, 0)
    assert sids(delta(bucket)) == {"s-1", "s-2"}


def test_a_read_failure_fails_the_publication_and_writes_nothing(bucket):
    bucket.fail(op=READ, key=SNAPSHOT_KEY, times=1)
    with pytest.raises(FeedUnavailable):
        Publisher(bucket).publish({"s-1": U}, now=NOW)
    assert bucket.objects == {}


# ------------------------------------------------------------------ end to end, in memory
def test_stream_to_reader_a_revoked_session_is_refused_at_the_next_poll(bucket):
    clock = FrozenClock(NOW)
    feed = RevocationFeed(bucket, interval=5, clock=clock)
    publisher = Publisher(bucket)
    alice, bob = session("sid-alice"), session("sid-bob")
    token = {"sub": "user-1", "sid": alice.sid}

    feed.check(token)  # type: ignore[arg-type]
    clock.advance(1)
    batch = [revoke(alice, clock()), record("MODIFY", old=bob, new=bob), record("INSERT", new=bob)]
    entries = revocations(batch, access_ttl=ACCESS_TTL, leeway=LEEWAY, now=clock())
    assert publisher.publish(entries, now=clock()) == Published(1, 1)

    feed.check(token)  # type: ignore[arg-type]  # not polled since
    clock.advance(4)
    with pytest.raises(InvalidToken) as raised:
        feed.check(token)  # type: ignore[arg-type]
    assert raised.value.reason == "session_revoked"
    feed.check({"sub": "user-1", "sid": bob.sid})  # type: ignore[arg-type]
    # The snapshot (404), then the delta of a feed it did not know, so the snapshot.
    assert bucket.count(op=FETCH) == 3

    # The stream delivers the batch again: nothing changes.
    assert publisher.publish(entries, now=clock()) == Published(1, 0)
    # And the entry lasts exactly as long as a token of the session can.
    clock.now = entries[alice.sid] - 0.25
    with pytest.raises(InvalidToken) as raised:
        feed.check(token)  # type: ignore[arg-type]
    assert raised.value.reason == "session_revoked"
    clock.now = entries[alice.sid]
    feed.check(token)  # type: ignore[arg-type]
