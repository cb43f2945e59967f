"""The local stream mapping (``infra.devkit.streams.StreamPump``) over moto's stream of the
sessions table, with the template's own FilterCriteria: what the real writes (a login, a
refresh, a logout, deletions) deliver to the function, in the stream's order, batch by
batch, each record once; and a batch the function fails is delivered again, before
anything newer, until it succeeds (the template's MaximumRetryAttempts: -1)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from support import invoke, with_body

from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.model import Session
from authcore.tokens.issue import Principal
from authcore.tokens.refresh import RefreshToken
from functions.logout import app as logout
from functions.refresh import app as refresh
from infra import template
from infra.devkit import streams


class Function:
    """The mapped function: records each batch it is handed; fails the next ``failing``."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.failing = 0

    def __call__(self, event: dict[str, Any]) -> None:
        self.batches.append(event["Records"])
        if self.failing:
            self.failing -= 1
            raise RuntimeError("the function failed")

    def sids(self, batch: int = -1) -> list[tuple[str, str]]:
        return [(r["eventName"], r["dynamodb"]["Keys"]["sid"]["S"]) for r in self.batches[batch]]


@pytest.fixture
def function() -> Function:
    return Function()


@pytest.fixture
def store(stack) -> DynamoSessionStore:
    return DynamoSessionStore(stack.dynamodb, stack.sessions_table)


def pump_for(stack, function: Function, batch_size: int = 100) -> streams.StreamPump:
    [mapping] = streams.mappings()
    assert mapping["function"] == "RevocationFeedFunction"
    return streams.StreamPump(
        stack.dynamodb,
        boto3.client("dynamodbstreams"),
        stack.sessions_table,
        function,
        filters=mapping["filters"],
        batch_size=batch_size,
    )


@pytest.fixture
def pump(stack, function) -> streams.StreamPump:
    return pump_for(stack, function)


def new_session(store: DynamoSessionStore) -> RefreshToken:
    now = time.time()
    token = RefreshToken.new()
    store.create(
        Session(
            sid=token.sid,
            principal=Principal("user-1", "sam", "profile", ("pwd",), now),
            created_at=now,
            last_used_at=now,
            absolute_expires_at=now + 86_400,
            idle_expires_at=now + 3_600,
            token_digest=token.digest,
            family_digest=token.family_digest,
        )
    )
    return token


def revoke(store: DynamoSessionStore, token: RefreshToken, reason: str = "logout") -> None:
    assert store.revoke(token.sid, now=time.time(), reason=reason)


def delete(stack, token: RefreshToken) -> None:
    stack.dynamodb.delete_item(TableName=stack.sessions_table, Key={"sid": {"S": token.sid}})


def test_a_refresh_is_filtered_out_and_a_logout_passes(stack, demo_user, login_as, function, pump):
    tokens = login_as().body
    refreshed = invoke(
        refresh, with_body("refresh.json", {"refresh_token": tokens["refresh_token"]})
    )
    assert refreshed.status == 200
    assert pump.pump() == 0  # the login's INSERT and the rotation's MODIFY: neither
    assert function.batches == []

    left = invoke(
        logout, with_body("logout.json", {"refresh_token": refreshed.body["refresh_token"]})
    )
    assert left.status == 204
    assert pump.pump() == 1
    [[record]] = function.batches
    sid = tokens["refresh_token"].split(".")[0]
    assert (record["eventName"], record["dynamodb"]["Keys"]["sid"]["S"]) == ("MODIFY", sid)
    assert record["dynamodb"]["NewImage"]["revoke_reason"] == {"S": "logout"}
    assert "revoked_at" not in record["dynamodb"]["OldImage"]
    assert record["eventSourceARN"] == pump.stream_arn


def test_only_what_ends_a_session_is_delivered_in_the_streams_order(stack, store, function, pump):
    a, b, c = (new_session(store) for _ in range(3))  # INSERTs: out
    revoke(store, b, "refresh_token_reuse")  # in
    stack.dynamodb.update_item(  # a later write to the revoked session: out
        TableName=stack.sessions_table,
        Key={"sid": {"S": b.sid}},
        UpdateExpression="REMOVE successor_undelivered SET last_used_at = :t",
        ExpressionAttributeValues={":t": {"N": str(time.time())}},
    )
    delete(stack, c)  # a live session deleted: in
    revoke(store, a)  # in
    delete(stack, b)  # a revoked one deleted (the TTL's work): out

    assert pump.pump() == 3
    assert len(function.batches) == 1
    assert function.sids() == [("MODIFY", b.sid), ("REMOVE", c.sid), ("MODIFY", a.sid)]
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in function.batches[0]]
    assert sequence == sorted(sequence)
    assert len(set(sequence)) == 3
    removed = function.batches[0][1]["dynamodb"]
    assert "NewImage" not in removed
    assert removed["OldImage"]["sid"] == {"S": c.sid}
    # Shaped as Lambda's event: binary attributes base64, times epoch numbers.
    assert isinstance(removed["OldImage"]["token_digest"]["B"], str)
    assert isinstance(removed["ApproximateCreationDateTime"], float)


def test_it_resumes_after_a_batch_and_delivers_each_record_once(stack, store, function, pump):
    first, second = new_session(store), new_session(store)
    revoke(store, first)
    assert pump.pump() == 1
    assert pump.pump() == 0  # nothing new: nothing delivered again
    revoke(store, second)
    assert pump.pump() == 1
    assert [function.sids(0), function.sids(1)] == [
        [("MODIFY", first.sid)],
        [("MODIFY", second.sid)],
    ]
    assert pump.delivered == 2


def test_batches_hold_at_most_the_batch_size_in_order(stack, store, function):
    pump = pump_for(stack, function, batch_size=2)
    tokens = [new_session(store) for _ in range(5)]
    for token in tokens:
        revoke(store, token)
    assert pump.pump() == 5
    assert [len(batch) for batch in function.batches] == [2, 2, 1]
    assert [sid for b in range(3) for _, sid in function.sids(b)] == [t.sid for t in tokens]


def test_a_failed_batch_is_delivered_again_before_anything_newer(stack, store, function):
    properties = template.resources("AWS::Lambda::EventSourceMapping")["RevocationFeedStream"]
    # The template retries for as long as the stream keeps the records: so does the pump.
    assert properties["Properties"]["MaximumRetryAttempts"] == -1
    pump = pump_for(stack, function, batch_size=2)
    tokens = [new_session(store) for _ in range(3)]
    for token in tokens:
        revoke(store, token)
    function.failing = 2

    for _ in range(2):
        with pytest.raises(RuntimeError):
            pump.pump()
    late = new_session(store)
    revoke(store, late)  # arrives while the first batch is still failing
    assert pump.pump() == 4

    failed = [("MODIFY", tokens[0].sid), ("MODIFY", tokens[1].sid)]
    assert [function.sids(n) for n in range(len(function.batches))] == [
        failed,
        failed,
        failed,  # the third try succeeds: the same records, none skipped
        [("MODIFY", tokens[2].sid), ("MODIFY", late.sid)],
    ]
    ids = [r["eventID"] for r in function.batches[2]]
    assert ids == [r["eventID"] for r in function.batches[0]]
    assert pump.delivered == 4
    assert pump.pump() == 0
