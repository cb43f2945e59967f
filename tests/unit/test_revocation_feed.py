"""The revocation feed's reading side (``authcore.revocation.feed``): what an authorizer
container refuses, when it polls, what it asks for, and when it fails closed.

Everything runs on a frozen clock against the in-memory bucket of ``feed_fakes``
(the same objects the publisher writes); request counts, never timings, show how
often the reader polls.
"""

from __future__ import annotations

from typing import Any

import pytest
from feed_fakes import FETCH, FakeBucket

from authcore import transport
from authcore.clock import FrozenClock
from authcore.errors import InvalidToken, RevocationFeedStale
from authcore.revocation import source
from authcore.revocation.document import (
    DELTA_KEY,
    DELTA_WINDOW_SECONDS,
    SNAPSHOT_KEY,
    FeedDocument,
    expiry_group,
    group,
)
from authcore.revocation.feed import PURGE_SECONDS, RETRY_SECONDS, RevocationFeed
from authcore.revocation.publisher import Publisher
from authcore.revocation.source import FeedUnavailable, HttpFeedSource, S3FeedSource

NOW = 1_800_000_000.0  # a multiple of the granule: expiry groups fall where the test says
INTERVAL = 5.0
STALE_AFTER = 3 * INTERVAL
FEED = "feed-a"


# ------------------------------------------------------------------ helpers
def user_token(sid: str) -> dict[str, Any]:
    return {
        "iss": "https://auth.example.com",
        "sub": "user-1",
        "aud": "api",
        "exp": NOW + 900,
        "iat": NOW,
        "jti": f"jti-{sid}",
        "sid": sid,
        "username": "sam",
        "scope": "profile",
    }


def machine_token() -> dict[str, Any]:
    return {
        "iss": "https://auth.example.com",
        "sub": "billing-service",
        "aud": "api",
        "exp": NOW + 900,
        "iat": NOW,
        "jti": "jti-machine",
        "client_id": "billing-service",
        "scope": "invoices:read",
    }


def refused(feed: RevocationFeed, sid: str) -> bool:
    """True when the token is refused as revoked, False when accepted; any other
    outcome (a stale feed) propagates."""
    try:
        feed.check(user_token(sid))  # type: ignore[arg-type]
    except InvalidToken as exc:
        if type(exc) is InvalidToken and exc.reason == "session_revoked":
            return True
        raise
    return False


def put_snapshot(bucket: FakeBucket, *, seq: int, entries: dict[str, int], feed: str = FEED) -> str:
    return bucket.put(SNAPSHOT_KEY, FeedDocument(feed, seq, 0, NOW, group(entries)).encode())


def put_delta(
    bucket: FakeBucket, *, seq: int, since: int, entries: dict[str, int], feed: str = FEED
) -> str:
    return bucket.put(DELTA_KEY, FeedDocument(feed, seq, since, NOW, group(entries)).encode())


def put_both(bucket: FakeBucket, *, seq: int, entries: dict[str, int], feed: str = FEED) -> None:
    put_snapshot(bucket, seq=seq, entries=entries, feed=feed)
    put_delta(bucket, seq=seq, since=0, entries=entries, feed=feed)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def bucket() -> FakeBucket:
    return FakeBucket()


@pytest.fixture
def feed(bucket: FakeBucket, clock: FrozenClock) -> RevocationFeed:
    return RevocationFeed(bucket, interval=INTERVAL, clock=clock)


# ------------------------------------------------------------------ what is refused
def test_a_revoked_session_is_refused_until_its_until_and_accepted_from_then_on(
    bucket, clock, feed
):
    until = int(NOW) + 100
    put_both(bucket, seq=1, entries={"s-revoked": until})

    assert refused(feed, "s-revoked")
    clock.now = until - 0.5  # many polls later, the entry still holds
    assert refused(feed, "s-revoked")
    clock.now = until  # the second its last token dies: nothing left to refuse
    assert not refused(feed, "s-revoked")
    clock.advance(1000)
    assert not refused(feed, "s-revoked")


def test_tokens_of_other_sessions_pass(bucket, feed):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 100})
    assert refused(feed, "s-revoked")
    assert not refused(feed, "s-other")
    assert not refused(feed, "s-revoked-not")  # a lookup, not a prefix match


def test_expired_entries_are_purged_from_the_set(bucket, clock, feed):
    short, long = int(NOW) + 100, int(NOW) + 1000
    put_both(bucket, seq=1, entries={"s-short": short, "s-long": long})
    assert refused(feed, "s-short")
    assert set(feed.revoked) == {"s-short", "s-long"}

    clock.now = short + PURGE_SECONDS  # past the entry and past the next purge
    assert not refused(feed, "s-short")
    assert set(feed.revoked) == {"s-long"}
    assert refused(feed, "s-long")


def test_entries_already_expired_in_the_document_are_not_kept(bucket, clock, feed):
    put_both(bucket, seq=1, entries={"s-dead": int(NOW) - 10, "s-live": int(NOW) + 100})
    assert not refused(feed, "s-dead")
    assert set(feed.revoked) == {"s-live"}
    # From a delta too, between two purges (the set holds only what can still refuse).
    put_delta(bucket, seq=2, since=0, entries={"s-late": int(NOW) + 2, "s-live": int(NOW) + 100})
    clock.advance(INTERVAL)
    assert not refused(feed, "s-late")
    assert set(feed.revoked) == {"s-live"}


def test_a_token_without_a_sid_passes_even_when_the_feed_is_stale(bucket, clock, feed):
    bucket.fail(op=FETCH)
    # Cold and failing: nothing was ever confirmed.
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-any"))  # type: ignore[arg-type]
    requests = bucket.count()
    feed.check(machine_token())  # type: ignore[arg-type]
    clock.advance(10 * STALE_AFTER)
    feed.check(machine_token())  # type: ignore[arg-type]
    # A machine token neither fails nor polls.
    assert bucket.count() == requests


# ------------------------------------------------------------------ cold start
def test_a_cold_container_loads_the_snapshot_with_exactly_one_request(bucket, feed):
    put_snapshot(bucket, seq=7, entries={"s-revoked": int(NOW) + 100})
    put_delta(bucket, seq=7, since=5, entries={})

    assert refused(feed, "s-revoked")
    for _ in range(100):
        assert not refused(feed, "s-other")
    assert bucket.count() == 1
    assert bucket.count(SNAPSHOT_KEY, FETCH) == 1
    assert bucket.fetches[0].sent_etag is None
    assert (feed.feed, feed.seq, feed.snapshots) == (FEED, 7, 1)


def test_no_snapshot_means_nothing_published_and_every_session_is_accepted(bucket, clock, feed):
    assert not refused(feed, "s-any")
    assert [(f.key, f.status) for f in bucket.fetches] == [(SNAPSHOT_KEY, 404)]
    # A 404 is an answer, not a failure: never stale, however long nothing is published.
    for _ in range(20):
        clock.advance(INTERVAL)
        assert not refused(feed, "s-any")
    assert feed.failures == 0
    assert {f.key for f in bucket.fetches[1:]} == {DELTA_KEY}


def test_a_first_publication_after_nothing_is_seen_at_the_next_poll(bucket, clock, feed):
    assert not refused(feed, "s-1")
    clock.advance(INTERVAL)
    assert not refused(feed, "s-1")  # the delta is missing too

    Publisher(bucket).publish({"s-1": int(NOW) + 600}, now=clock())
    clock.advance(INTERVAL)
    assert refused(feed, "s-1")


def test_a_cold_container_whose_first_poll_fails_refuses_session_tokens(bucket, clock, feed):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 100})
    bucket.fail(op=FETCH, times=1)
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-other"))  # type: ignore[arg-type]
    clock.advance(RETRY_SECONDS)
    assert not refused(feed, "s-other")
    assert refused(feed, "s-revoked")


# ------------------------------------------------------------------ warm polls
def test_warm_polls_ask_with_if_none_match_and_get_304(bucket, clock, feed):
    put_both(bucket, seq=3, entries={"s-revoked": int(NOW) + 600})
    delta_etag = bucket.etag(DELTA_KEY)

    assert refused(feed, "s-revoked")  # the snapshot
    clock.advance(INTERVAL)
    assert refused(feed, "s-revoked")  # the delta, whole once
    for _ in range(5):
        clock.advance(INTERVAL)
        assert refused(feed, "s-revoked")

    assert [(f.key, f.sent_etag, f.status) for f in bucket.fetches] == [
        (SNAPSHOT_KEY, None, 200),
        (DELTA_KEY, None, 200),
        *[(DELTA_KEY, delta_etag, 304)] * 5,
    ]
    assert feed.failures == 0


def test_no_more_than_one_poll_per_interval(bucket, clock, feed):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 600})
    for round_ in range(4):
        for i in range(250):
            refused(feed, f"s-{i}")
            refused(feed, "s-revoked")
        assert bucket.count() == round_ + 1
        clock.advance(INTERVAL - 0.25)
        for i in range(50):
            refused(feed, f"s-{i}")
        assert bucket.count() == round_ + 1  # not yet due
        clock.advance(0.25)
    assert feed.polls == 4


def test_a_new_publication_is_seen_at_the_next_poll_after_the_interval_and_not_before(
    bucket, clock, feed
):
    publisher = Publisher(bucket)
    publisher.publish({"s-first": int(NOW) + 600}, now=clock())
    assert refused(feed, "s-first")
    polled_at = clock()

    clock.advance(1)
    publisher.publish({"s-new": int(NOW) + 600}, now=clock())
    clock.now = polled_at + INTERVAL - 0.25
    assert not refused(feed, "s-new")  # the container has not polled since
    clock.now = polled_at + INTERVAL
    assert refused(feed, "s-new")
    # Resumed from the delta: no second snapshot.
    assert feed.snapshots == 1
    assert bucket.count(SNAPSHOT_KEY, FETCH) == 1
    assert feed.seq == 2


@pytest.mark.parametrize(("since", "reloads"), [(0, False), (4, False), (5, True), (9, True)])
def test_the_delta_is_applied_only_when_it_starts_at_or_before_the_readers_seq(
    bucket, clock, feed, since, reloads
):
    until = int(NOW) + 600
    put_both(bucket, seq=4, entries={"s-old": until})
    assert refused(feed, "s-old")
    assert feed.seq == 4

    # Publications 5..9: the delta tells those after `since`, the snapshot all of them.
    put_snapshot(bucket, seq=9, entries={"s-old": until, "s-5": until, "s-9": until})
    put_delta(
        bucket,
        seq=9,
        since=since,
        entries={"s-9": until} if since > 4 else {"s-5": until, "s-9": until},
    )
    clock.advance(INTERVAL)
    assert refused(feed, "s-9")
    assert refused(feed, "s-5")
    assert feed.seq == 9
    assert feed.snapshots == (2 if reloads else 1)
    assert bucket.count(SNAPSHOT_KEY, FETCH) == (2 if reloads else 1)


def test_a_reader_idle_past_the_delta_window_reloads_the_snapshot_and_refuses_what_it_missed(
    bucket, clock, feed
):
    publisher = Publisher(bucket)
    publisher.publish({"s-a": int(NOW) + 3600}, now=clock())
    assert refused(feed, "s-a")
    clock.advance(INTERVAL)
    assert not refused(feed, "s-b")  # warm: the delta has been read
    assert feed.seq == 1

    # The container is frozen (no requests) while publications go on for minutes.
    for sid in ["s-b", "s-c", "s-d", "s-e"]:
        clock.advance(DELTA_WINDOW_SECONDS / 2 + 10)
        publisher.publish({sid: int(NOW) + 3600}, now=clock())
    delta = bucket.body(DELTA_KEY)
    assert b"s-b" not in delta  # fell out of the delta's window
    snapshots = bucket.count(SNAPSHOT_KEY, FETCH)

    clock.advance(1)
    for sid in ["s-a", "s-b", "s-c", "s-d", "s-e"]:
        assert refused(feed, sid), sid
    assert bucket.count(SNAPSHOT_KEY, FETCH) == snapshots + 1
    assert feed.seq == 5
    assert not refused(feed, "s-z")


def test_another_feed_id_forces_a_snapshot_even_when_the_delta_would_seem_to_follow(
    bucket, clock, feed
):
    until = int(NOW) + 3600
    put_both(bucket, seq=10, entries={"s-old": until})
    assert refused(feed, "s-old")
    assert feed.seq == 10

    # The bucket is emptied and the feed restarts: a new id, and seq counts from 1 again.
    bucket.clear()
    publisher = Publisher(bucket)
    publisher.publish({"s-x": until}, now=clock())
    clock.advance(DELTA_WINDOW_SECONDS + 1)
    publisher.publish({"s-y": until}, now=clock())
    # The new delta (since 1) only tells s-y; a reader at seq 10 of the old feed
    # would take it as a continuation and never learn s-x.
    assert b"s-x" not in bucket.body(DELTA_KEY)

    assert refused(feed, "s-x")
    assert refused(feed, "s-y")
    assert refused(feed, "s-old")  # what was learnt stays until it expires
    assert feed.feed != FEED
    assert feed.seq == 2
    assert feed.snapshots == 2

    # And it follows the new feed's deltas from there.
    clock.advance(1)
    publisher.publish({"s-z": until}, now=clock())
    clock.advance(INTERVAL)
    assert refused(feed, "s-z")
    assert feed.snapshots == 2


def test_a_deleted_feed_keeps_what_was_learnt_and_a_restarted_one_is_loaded(bucket, clock, feed):
    until = int(NOW) + 3600
    put_both(bucket, seq=3, entries={"s-old": until})
    assert refused(feed, "s-old")
    bucket.clear()
    clock.advance(INTERVAL)
    assert refused(feed, "s-old")
    assert not refused(feed, "s-other")
    clock.advance(INTERVAL)  # still nothing: an answer, never stale
    clock.advance(INTERVAL)
    clock.advance(INTERVAL)
    assert refused(feed, "s-old")

    Publisher(bucket).publish({"s-new": until}, now=clock())
    clock.advance(INTERVAL)
    assert refused(feed, "s-new")


# ------------------------------------------------------------------ failures
def test_a_stale_feed_fails_closed_for_session_tokens_and_uses_the_known_set_before(
    bucket, clock, feed
):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 3600})
    assert refused(feed, "s-revoked")  # last successful poll: NOW
    bucket.fail(op=FETCH)

    for step in (INTERVAL, 2 * INTERVAL, STALE_AFTER):  # polls fail, within the bound
        clock.now = NOW + step
        assert refused(feed, "s-revoked")
        assert not refused(feed, "s-other")
    assert feed.failures == 3

    clock.now = NOW + STALE_AFTER + 0.25
    for sid in ("s-other", "s-revoked"):
        with pytest.raises(RevocationFeedStale) as raised:
            feed.check(user_token(sid))  # type: ignore[arg-type]
        assert raised.value.reason == "revocation_feed_stale"
    feed.check(machine_token())  # type: ignore[arg-type]


def test_staleness_is_checked_even_between_polls_when_the_bound_is_shorter_than_the_interval(
    bucket, clock
):
    # The check skips both clock comparisons until the sooner of the next poll and the
    # stale bound; a bound shorter than the interval must still end the quiet window.
    feed = RevocationFeed(bucket, interval=INTERVAL, clock=clock, stale_after=INTERVAL / 4)
    put_both(bucket, seq=1, entries={})
    assert not refused(feed, "s-1")
    clock.advance(INTERVAL / 4)
    assert not refused(feed, "s-1")  # at the bound: not yet older than it
    clock.advance(0.01)
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-1"))  # type: ignore[arg-type]
    assert bucket.count() == 1  # no poll was due: staleness alone refused


def test_the_feed_recovers_when_the_source_comes_back(bucket, clock, feed):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 3600})
    assert refused(feed, "s-revoked")
    bucket.fail(op=FETCH)
    clock.now = NOW + STALE_AFTER + 2
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-other"))  # type: ignore[arg-type]

    # Revoked meanwhile, and published while the reader could not read.
    Publisher(bucket).publish({"s-meanwhile": int(NOW) + 3600}, now=clock())
    bucket.heal()
    clock.advance(RETRY_SECONDS)
    assert not refused(feed, "s-other")
    assert refused(feed, "s-meanwhile")
    assert refused(feed, "s-revoked")
    assert feed.confirmed_at == clock()


def test_a_failed_poll_is_retried_after_retry_seconds_not_on_every_request(bucket, clock, feed):
    put_both(bucket, seq=1, entries={})
    assert not refused(feed, "s-1")
    clock.advance(INTERVAL)
    bucket.fail(op=FETCH)
    assert not refused(feed, "s-1")  # the poll failed; the known set answers
    assert bucket.count() == 2

    for _ in range(3):
        for _ in range(100):
            assert not refused(feed, "s-1")
        assert feed.failures == bucket.count() - 1  # one request per failed poll
        clock.advance(RETRY_SECONDS - 0.25)
        assert not refused(feed, "s-1")
        clock.advance(0.25)
        requests = bucket.count()
        assert not refused(feed, "s-1")
        assert bucket.count() == requests + 1

    bucket.heal()
    clock.advance(RETRY_SECONDS)
    assert not refused(feed, "s-1")
    requests = bucket.count()
    clock.advance(RETRY_SECONDS)  # back to the interval once a poll succeeds
    assert not refused(feed, "s-1")
    assert bucket.count() == requests


def test_the_retry_is_never_later_than_the_interval():
    bucket, clock = FakeBucket(), FrozenClock(NOW)
    feed = RevocationFeed(bucket, interval=0.5, clock=clock)
    bucket.fail(op=FETCH, times=1)
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-1"))  # type: ignore[arg-type]
    clock.advance(0.5)
    assert not refused(feed, "s-1")
    assert bucket.count() == 2


MALFORMED = {
    "not json": b"<Error><Code>AccessDenied</Code></Error>",
    "not utf-8": b'{"v":1,"feed":"\xff"}',
    "an array": b"[]",
    "no version": b'{"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{}}',
    "another version": b'{"v":2,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{}}',
    "empty feed id": b'{"v":1,"feed":"","seq":9,"since":0,"at":1,"revoked":{}}',
    "since past seq": b'{"v":1,"feed":"feed-a","seq":9,"since":10,"at":1,"revoked":{}}',
    "boolean seq": b'{"v":1,"feed":"feed-a","seq":true,"since":0,"at":1,"revoked":{}}',
    "negative seq": b'{"v":1,"feed":"feed-a","seq":-1,"since":0,"at":1,"revoked":{}}',
    "string at": b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":"1","revoked":{}}',
    "revoked a list": b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":[]}',
    "until not a number": (
        b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{"soon":["s-new"]}}'
    ),
    "sids not a list": (
        b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{"1800003600":"s-new"}}'
    ),
    "an empty sid": (
        b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{"1800003600":["s-new",""]}}'
    ),
    "a sid not a string": (
        b'{"v":1,"feed":"feed-a","seq":9,"since":0,"at":1,"revoked":{"1800003600":["s-new",7]}}'
    ),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_delta_is_a_failed_poll_and_the_known_set_stays(bucket, clock, feed, body):
    put_both(bucket, seq=1, entries={"s-revoked": int(NOW) + 3600})
    assert refused(feed, "s-revoked")
    clock.advance(INTERVAL)
    assert refused(feed, "s-revoked")
    assert (feed.failures, feed.seq) == (0, 1)
    confirmed = feed.confirmed_at

    bucket.put(DELTA_KEY, body)
    clock.advance(INTERVAL)
    assert refused(feed, "s-revoked")
    assert not refused(feed, "s-new")  # nothing of the half-understood document is used
    assert feed.failures == 1
    assert (feed.feed, feed.seq, feed.confirmed_at) == (FEED, 1, confirmed)
    # Retried, and failing: stale once the bound is passed.
    clock.now = confirmed + STALE_AFTER + 0.25
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-other"))  # type: ignore[arg-type]


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_snapshot_on_a_cold_start_fails_closed(bucket, feed, body):
    bucket.put(SNAPSHOT_KEY, body)
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-other"))  # type: ignore[arg-type]
    assert feed.failures == 1
    assert feed.feed is None  # still cold: the next poll loads the snapshot again


def test_a_delta_behind_the_readers_seq_never_removes_anything(bucket, clock, feed):
    until = int(NOW) + 3600
    # The publisher's race: the snapshot of publication 3 is written, the delta
    # still tells publications 1..2.
    put_snapshot(bucket, seq=3, entries={"s-1": until, "s-2": until, "s-3": until})
    put_delta(bucket, seq=2, since=0, entries={"s-1": until, "s-2": until})
    assert refused(feed, "s-3")
    clock.advance(INTERVAL)
    for sid in ("s-1", "s-2", "s-3"):
        assert refused(feed, sid), sid
    assert feed.seq == 3  # never moved back

    # Publication 4; its delta tells 4 only (since 3): a reader that had moved its
    # cursor back to 2 would take it for a gap and reload the snapshot.
    put_snapshot(bucket, seq=4, entries={"s-1": until, "s-2": until, "s-3": until, "s-4": until})
    put_delta(bucket, seq=4, since=3, entries={"s-4": until})
    clock.advance(INTERVAL)
    for sid in ("s-1", "s-2", "s-3", "s-4"):
        assert refused(feed, sid), sid
    assert feed.seq == 4
    assert feed.snapshots == 1


def test_a_later_until_for_a_known_sid_extends_it_and_an_earlier_one_never_shortens_it(
    bucket, clock, feed
):
    early, late = int(NOW) + 100, int(NOW) + 1000
    put_both(bucket, seq=1, entries={"s-1": late, "s-2": early})
    assert refused(feed, "s-1")
    put_snapshot(bucket, seq=2, entries={"s-1": early, "s-2": late})
    put_delta(bucket, seq=2, since=0, entries={"s-1": early, "s-2": late})
    clock.advance(INTERVAL)
    assert refused(feed, "s-2")  # polls
    assert feed.revoked == {"s-1": late, "s-2": late}
    clock.now = early + 1
    assert refused(feed, "s-1")
    assert refused(feed, "s-2")


# ------------------------------------------------------------------ end to end, in memory
def test_publisher_and_reader_on_one_clock_revoke_then_refused_at_the_next_poll(bucket, clock):
    access_ttl, leeway = 900, 30
    feed = RevocationFeed(bucket, interval=INTERVAL, clock=clock)
    publisher = Publisher(bucket)
    assert not refused(feed, "s-alice")

    clock.advance(2)
    revoked_at = clock()
    until = expiry_group(revoked_at + access_ttl + leeway + 60)
    publisher.publish({"s-alice": until}, now=clock())
    assert not refused(feed, "s-alice")  # before its next poll
    clock.now = NOW + INTERVAL
    assert refused(feed, "s-alice")
    assert not refused(feed, "s-bob")
    clock.now = until
    assert not refused(feed, "s-alice")


# ------------------------------------------------------------------ the sources' HTTP answers
class _Response:
    def __init__(self, status: int, body: bytes, etag: str | None) -> None:
        self.status, self.body, self.etag = status, body, etag


class _Connection:
    """A ``transport.Connection`` that answers from memory (no socket), bound as the real
    one is: an answer over ``limit`` raises ``too_large(status)``."""

    sock = None  # never seen closed by the far end (authcore.transport.dropped)

    def __init__(self, answer: _Response | Exception) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.closed = False

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        limit: int,
        too_large: Any,
    ) -> transport.Response:
        self.requests.append((method, path, dict(headers)))
        if isinstance(self.answer, Exception):
            raise self.answer
        if len(self.answer.body) > limit:
            raise too_large(self.answer.status)
        etag = {"etag": self.answer.etag} if self.answer.etag else {}
        return transport.Response(self.answer.status, self.answer.body, etag)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def answer(monkeypatch):
    connections: list[tuple[str, _Connection]] = []

    def use(response: _Response | Exception) -> list[tuple[str, _Connection]]:
        def connect(url: str, timeout: float) -> tuple[_Connection, None]:
            connection = _Connection(response)
            connections.append((url, connection))
            return connection, None

        monkeypatch.setattr(transport, "connect", connect)
        return connections

    return use


def test_the_http_source_asks_for_the_object_under_its_base_conditionally(answer):
    connections = answer(_Response(200, b'{"v":1}', '"e2"'))
    fetched = HttpFeedSource("https://mirror.example.com/feeds/auth/").fetch(DELTA_KEY, '"e1"')
    assert fetched == (200, b'{"v":1}', '"e2"')
    ((url, connection),) = connections
    assert url == "https://mirror.example.com/feeds/auth"
    ((method, path, headers),) = connection.requests
    assert (method, path) == ("GET", f"/feeds/auth/{DELTA_KEY}")
    assert headers == {"accept-encoding": "identity", "if-none-match": '"e1"'}
    assert not connection.closed  # kept for the next poll

    HttpFeedSource("https://mirror.example.com").fetch(SNAPSHOT_KEY, None)
    _, second = connections[1]
    assert second.requests[0][1] == f"/{SNAPSHOT_KEY}"
    assert "if-none-match" not in second.requests[0][2]


@pytest.mark.parametrize("status", [304, 404])
def test_an_unchanged_or_missing_object_has_no_body(answer, status):
    answer(_Response(status, b"<Error>NoSuchKey</Error>", None))
    fetched = HttpFeedSource("https://mirror.example.com").fetch(DELTA_KEY, '"e1"')
    assert (fetched.status, fetched.body) == (status, b"")


@pytest.mark.parametrize(
    ("response", "cause", "closed"),
    [
        (_Response(403, b"<Error>AccessDenied</Error>", None), "status_403", False),
        (_Response(500, b"", None), "status_500", False),
        (_Response(200, b"x" * (16 * 1024 * 1024 + 1), '"e"'), "too_large", True),
        (ConnectionRefusedError(111, "refused"), "ConnectionRefusedError", True),
        (TimeoutError("timed out"), "TimeoutError", True),
    ],
    ids=["403", "500", "too large", "refused", "timeout"],
)
def test_every_other_answer_is_an_unavailable_feed(answer, response, cause, closed):
    connections = answer(response)
    # A deadline no loaded machine reaches: reading 16 MiB from memory once took longer
    # than the default second, and the oversized answer was then refused as too slow.
    with pytest.raises(FeedUnavailable) as raised:
        HttpFeedSource("https://mirror.example.com", timeout=3600).fetch(DELTA_KEY, None)
    assert raised.value.cause == cause
    # An error status read to its end leaves the connection as good as before; a body
    # left half read, or no answer at all, leaves it in a state nobody knows: closed.
    ((_, connection),) = connections
    assert connection.closed is closed


def test_plain_http_is_refused_except_to_this_machine():
    with pytest.raises(FeedUnavailable) as raised:
        HttpFeedSource("http://mirror.example.com").fetch(DELTA_KEY, None)
    assert raised.value.cause == "not_https"
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_ENDPOINT_URL": "http://s3.example.com",
    }
    with pytest.raises(FeedUnavailable) as raised:
        S3FeedSource("bucket", env=env).fetch(DELTA_KEY, None)
    assert raised.value.cause == "not_https"


def test_an_unavailable_source_is_a_failed_poll_whose_cause_is_logged(bucket, feed, caplog):
    bucket.fail(op=FETCH, cause="status_503")
    with pytest.raises(RevocationFeedStale):
        feed.check(user_token("s-1"))  # type: ignore[arg-type]
    assert feed.failures == 1
    assert '"cause": "status_503"' in caplog.text


def test_an_object_over_the_size_bound_is_the_feeds_own_failure_too_large(answer, caplog):
    """The bounded read is shared with the key ring, whose refusal names the key source:
    the feed reports an oversized object as its own cause, in the poll's log line too."""
    body = b"x" * (source.MAX_OBJECT_BYTES + 1)
    answer(_Response(200, body, '"e"'))
    feed = RevocationFeed(HttpFeedSource("https://mirror.example.com"), interval=INTERVAL)
    with pytest.raises(RevocationFeedStale):  # a cold container: fail closed
        feed.check(user_token("s-1"))  # type: ignore[arg-type]
    assert feed.failures == 1
    assert '"cause": "too_large"' in caplog.text
    assert "KeySourceRefused" not in caplog.text
