"""The revocation feed publisher's sample event (events/revocation_feed_stream.json), made
real as infra/samlocal/cases.py makes it for `sam local` and checked as it checks it,
in-process over moto's S3: the stream batch of a logout, a replayed refresh token and a
deleted session becomes three entries of the feed's snapshot and delta, which a fed
authorizer then refuses. As written (a day old), the revocations publish nothing."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from support import LambdaContext, load_event

from authcore import aws
from authcore.errors import InvalidToken
from authcore.revocation.document import DELTA_KEY, SNAPSHOT_KEY, expiry_group, parse
from authcore.revocation.feed import RevocationFeed
from authcore.revocation.publisher import SLACK_SECONDS
from authcore.revocation.s3 import S3FeedStore
from authcore.revocation.source import Fetched
from authcore.runtime import revocation
from functions.revocation_feed import app as publisher
from infra.devkit import streams
from infra.samlocal.cases import STREAM_ENDED_SIDS, Case, Session, cases

EVENT = "revocation_feed_stream.json"
_NOBODY = Session("a.e30.s", "r", {"sub": "s", "sid": "i"})


@pytest.fixture
def bucket(stack, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="feed")
    monkeypatch.setenv("REVOCATION_FEED_BUCKET", "feed")
    revocation.reset()
    aws.reset_clients()
    yield S3FeedStore(s3, "feed")
    revocation.reset()
    aws.reset_clients()


def _case(bucket: S3FeedStore) -> Case:
    def read(key: str) -> bytes | None:
        found = bucket.read(key)
        return found[0] if found else None

    [case] = [c for c in cases(_NOBODY, _NOBODY, _NOBODY, read_feed=read) if c.event_file == EVENT]
    assert case.function == "RevocationFeedFunction"
    return case


def _sid(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["sid"]["S"])


class _BucketSource:
    """The reader's side over the same moto bucket (the authorizer signs its own GET,
    which moto's in-process mock cannot serve)."""

    def __init__(self, store: S3FeedStore) -> None:
        self._store = store

    def fetch(self, key: str, etag: str | None) -> Fetched:
        found = self._store.read(key)
        if found is None:
            return Fetched(404, b"", None)
        if found[1] == etag:
            return Fetched(304, b"", etag)
        return Fetched(200, found[0], found[1])


def test_the_event_is_a_batch_the_templates_mapping_delivers():
    event = load_event(EVENT)
    [mapping] = streams.mappings()
    assert [_sid(r) for r in event["Records"]] == list(STREAM_ENDED_SIDS)
    assert [r["eventName"] for r in event["Records"]] == ["MODIFY", "MODIFY", "REMOVE"]
    for record in event["Records"]:
        assert streams.admitted(mapping["filters"], record), _sid(record)
        assert record["eventSource"] == "aws:dynamodb"
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_the_publisher_answers_its_sample_event_with_the_feed_published(bucket):
    case = _case(bucket)
    event = load_event(EVENT)
    case.edit(event)
    before = time.time()
    answer = publisher.lambda_handler(event, LambdaContext())
    after = time.time()

    assert case.check(answer) is None, case.check(answer)
    assert answer == {"records": 3, "published": 3, "seq": 1}
    settings = revocation.settings()
    tail = settings.access_ttl + settings.leeway + SLACK_SECONDS
    logout, replay, _ = event["Records"]
    expected = {
        # Revoked: their last tokens die a token's lifetime after the revocation.
        _sid(logout): expiry_group(float(logout["dynamodb"]["NewImage"]["revoked_at"]["N"]) + tail),
        _sid(replay): expiry_group(float(replay["dynamodb"]["NewImage"]["revoked_at"]["N"]) + tail),
    }
    snapshot = parse(bucket.read(SNAPSHOT_KEY)[0])  # type: ignore[index]
    delta = parse(bucket.read(DELTA_KEY)[0])  # type: ignore[index]
    for document in (snapshot, delta):
        entries = dict(document.entries())
        # Deleted while live: it ended when the publisher saw it go.
        deleted = entries.pop(STREAM_ENDED_SIDS[2])
        assert expiry_group(before + tail) <= deleted <= expiry_group(after + tail)
        assert entries == expected
        assert (document.seq, document.feed) == (1, snapshot.feed)
    assert (snapshot.since, delta.since) == (0, 0)  # the delta tells every publication yet


def test_a_fed_authorizer_refuses_the_sessions_the_event_ended(bucket):
    event = load_event(EVENT)
    _case(bucket).edit(event)
    publisher.lambda_handler(event, LambdaContext())

    feed = RevocationFeed(_BucketSource(bucket), interval=10)
    for sid in STREAM_ENDED_SIDS:
        with pytest.raises(InvalidToken) as refused:
            feed.check({"sid": sid})  # type: ignore[typeddict-item]
        assert refused.value.reason == "session_revoked"
    feed.check({"sid": "AnotherSessionStillLive"})  # type: ignore[typeddict-item]


def test_as_written_the_revocations_outlived_their_tokens(bucket):
    """A day old, the two revocations publish nothing; the deletion of a session still
    live publishes, as of when the publisher sees it (a REMOVE carries no time of its
    own the publisher trusts)."""
    case = _case(bucket)
    answer = publisher.lambda_handler(load_event(EVENT), LambdaContext())

    assert answer == {"records": 3, "published": 1, "seq": 1}
    snapshot = parse(bucket.read(SNAPSHOT_KEY)[0])  # type: ignore[index]
    assert [sid for sid, _ in snapshot.entries()] == [STREAM_ENDED_SIDS[2]]
    assert case.check(answer) is not None  # the sam local case would not pass on it
