"""Sessions (token families) in DynamoDB.

One item per session holds the digests of its current and previous refresh
tokens, never a token. Rotation is a single conditional UpdateItem: the write
succeeds only if the presented token is the current one and the session is live,
so two concurrent refreshes can never both win and a family can never fork.

Every write is safe to repeat: the client retries a request whose response was
lost (a read timeout after DynamoDB applied it), and the retry's conditional
failure carries the item, which tells "my own earlier attempt landed" apart
from "someone else got there first".
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from authcore.aws import is_conditional_failure, unavailable_on_error
from authcore.awsjson import ServiceError, TransportError, adapt
from authcore.errors import InvalidGrant, RotationRefused, TemporarilyUnavailable
from authcore.sessions.model import MAX_USER_AGENT_LENGTH, Session
from authcore.tokens.issue import PASSWORD, Principal
from authcore.tokens.refresh import RefreshToken

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}


def _ttl(expires_at: float) -> dict[str, str]:
    # DynamoDB TTL wants whole epoch seconds; it only cleans up, never decides.
    return {"N": str(int(expires_at) + 1)}


def _to_item(s: Session) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sid": {"S": s.sid},
        "user_id": {"S": s.principal.user_id},
        "username": {"S": s.principal.username},
        "scope": {"S": s.principal.scope},
        "created_at": _n(s.created_at),
        "last_used_at": _n(s.last_used_at),
        "absolute_expires_at": _n(s.absolute_expires_at),
        "idle_expires_at": _n(s.idle_expires_at),
        "expires_at": _ttl(s.expires_at),
        "user_agent": {"S": s.user_agent[:MAX_USER_AGENT_LENGTH]},
        "token_digest": {"B": s.token_digest},
        "family_digest": {"B": s.family_digest},
        "amr": {"L": [{"S": method} for method in s.principal.amr]},
        "auth_time": _n(s.principal.auth_time),
    }
    if s.revoked_at is not None:
        item["revoked_at"] = _n(s.revoked_at)
    if s.previous_digest is not None:
        item["previous_digest"] = {"B": s.previous_digest}
    if s.rotated_at is not None:
        item["rotated_at"] = _n(s.rotated_at)
    if s.successor_box is not None:
        item["successor_box"] = {"B": s.successor_box}
    if s.successor_undelivered:
        item["successor_undelivered"] = {"BOOL": True}
    return item


def _from_item(item: dict[str, Any]) -> Session:
    def num(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    def blob(name: str) -> bytes | None:
        return bytes(item[name]["B"]) if name in item else None

    absolute = float(item["absolute_expires_at"]["N"])
    created_at = float(item["created_at"]["N"])
    return Session(
        sid=item["sid"]["S"],
        principal=Principal(
            user_id=item["user_id"]["S"],
            username=item["username"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            # Sessions written before amr was kept began with a password.
            amr=tuple(m["S"] for m in item["amr"]["L"]) if "amr" in item else PASSWORD,
            auth_time=num("auth_time") or created_at,
        ),
        created_at=created_at,
        last_used_at=float(item["last_used_at"]["N"]),
        absolute_expires_at=absolute,
        # A refresh pushes the idle expiry forward but never past the absolute
        # one. An update expression cannot take a minimum, so the cap is applied
        # here (and in the rotation's condition, which checks both).
        idle_expires_at=min(float(item["idle_expires_at"]["N"]), absolute),
        user_agent=item.get("user_agent", {}).get("S", ""),
        revoked_at=num("revoked_at"),
        token_digest=blob("token_digest") or b"",
        previous_digest=blob("previous_digest"),
        rotated_at=num("rotated_at"),
        successor_box=blob("successor_box"),
        family_digest=blob("family_digest") or b"",
        successor_undelivered=item.get("successor_undelivered", {}).get("BOOL", False),
    )


def _same(a: bytes | None, b: bytes) -> bool:
    return a is not None and hmac.compare_digest(a, b)


class DynamoSessionStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    def create(self, session: Session, *, guards: Sequence[dict[str, Any]] = ()) -> None:
        """Write a new session; with ``guards`` (TransactWriteItems entries on other
        items: a ConditionCheck, or an Update or Delete under a condition), all in one
        transaction. A guard whose condition no longer holds is an ``InvalidGrant``:
        the grant was withdrawn (or spent) while this login was under way."""
        if guards:
            self._create_guarded(session, guards)
            return
        try:
            with unavailable_on_error():
                self._db.put_item(
                    TableName=self._table,
                    Item=_to_item(session),
                    ConditionExpression="attribute_not_exists(sid)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise
            stored: Any = exc.response.get("Item")
            if stored and _same(bytes(stored["token_digest"]["B"]), session.token_digest):
                return  # our own write, retried after its response was lost
            # A 128-bit sid collision: never overwrite, let the client retry.
            raise TemporarilyUnavailable() from None

    def _create_guarded(self, session: Session, guards: Sequence[dict[str, Any]]) -> None:
        # The client (authcore.awsjson) fills ClientRequestToken once per call and
        # reuses it on its retries, so a transaction whose response was lost is not applied twice.
        put: Any = {
            "Put": {
                "TableName": self._table,
                "Item": _to_item(session),
                "ConditionExpression": "attribute_not_exists(sid)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        items: Any = [put, *guards]
        try:
            self._db.transact_write_items(TransactItems=items)
        except ServiceError as exc:
            response: Any = exc.response
            reasons = response.get("CancellationReasons", [])
            codes = [reason.get("Code") for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                stored = reasons[0].get("Item")
                if stored and _same(bytes(stored["token_digest"]["B"]), session.token_digest):
                    return  # our own write, retried after its response was lost
            if "ConditionalCheckFailed" in codes[1:]:
                raise InvalidGrant("Invalid username or password.") from None
            raise TemporarilyUnavailable() from None
        except TransportError:
            raise TemporarilyUnavailable() from None

    def get(self, sid: str) -> Session | None:
        with unavailable_on_error():
            item = self._db.get_item(
                TableName=self._table, Key={"sid": {"S": sid}}, ConsistentRead=True
            ).get("Item")
        return _from_item(item) if item else None

    def rotate(
        self,
        presented: RefreshToken,
        successor: RefreshToken,
        *,
        now: float,
        idle_expires_at: float,
    ) -> Session:
        """Make ``successor`` current; return the session as it now stands."""
        try:
            with unavailable_on_error():
                response = self._db.update_item(
                    TableName=self._table,
                    Key={"sid": {"S": presented.sid}},
                    UpdateExpression=(
                        "SET previous_digest = token_digest, token_digest = :new, "
                        "successor_box = :box, rotated_at = :now, last_used_at = :now, "
                        "idle_expires_at = :idle, expires_at = :ttl "
                        "REMOVE successor_undelivered"
                    ),
                    ConditionExpression=(
                        "token_digest = :presented AND attribute_not_exists(revoked_at) "
                        "AND idle_expires_at > :now AND absolute_expires_at > :now"
                    ),
                    ExpressionAttributeValues={
                        ":presented": {"B": presented.digest},
                        ":new": {"B": successor.digest},
                        ":box": {"B": presented.seal_successor(successor)},
                        ":now": _n(now),
                        ":idle": _n(idle_expires_at),
                        ":ttl": _ttl(idle_expires_at),
                    },
                    ReturnValues="ALL_NEW",
                    # The refused item comes back with the refusal: telling
                    # replay from grace from garbage costs no second read.
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise
            item: Any = exc.response.get("Item")
            stored = _from_item(item) if item else None
            if (
                stored is not None
                and _same(stored.token_digest, successor.digest)
                and _same(stored.previous_digest, presented.digest)
            ):
                # Only this call knows the successor: the write that landed was
                # ours, retried by the client after its response was lost.
                return stored
            raise RotationRefused(stored) from None
        return _from_item(response["Attributes"])

    def hold_successor(self, presented: RefreshToken, successor: RefreshToken) -> bool:
        """Record that ``successor`` never reached the client (signing failed after
        the rotation): a retry with ``presented`` within the grace window fetches
        it, a later one is refused without being taken for theft.

        Unlike putting the old item back, this never un-issues a successor that a
        racing twin (within the grace window) may already hold."""
        try:
            with unavailable_on_error():
                self._db.update_item(
                    TableName=self._table,
                    Key={"sid": {"S": presented.sid}},
                    UpdateExpression="SET successor_undelivered = :true",
                    ConditionExpression=(
                        "token_digest = :successor AND previous_digest = :presented "
                        "AND attribute_not_exists(revoked_at)"
                    ),
                    ExpressionAttributeValues={
                        ":true": {"BOOL": True},
                        ":successor": {"B": successor.digest},
                        ":presented": {"B": presented.digest},
                    },
                )
        except ServiceError as exc:
            if is_conditional_failure(exc):
                return False  # the session moved on or was revoked: nothing to hold
            raise
        return True

    def delivered(self, successor: RefreshToken) -> None:
        """The held successor reached the client at last: drop the marker. Left in place,
        it would keep exempting a replay of the previous token (past the grace window)
        from reuse detection until the successor's own rotation. Best effort: the tokens
        are already signed, and a marker left behind only refuses such replays plainly
        instead of treating them as theft."""
        try:
            with unavailable_on_error():
                self._db.update_item(
                    TableName=self._table,
                    Key={"sid": {"S": successor.sid}},
                    UpdateExpression="REMOVE successor_undelivered",
                    ConditionExpression="token_digest = :successor",
                    ExpressionAttributeValues={":successor": {"B": successor.digest}},
                )
        except (ServiceError, TemporarilyUnavailable):
            pass  # moved on (rotated, revoked) or unreachable: see above

    def revoke(
        self,
        sid: str,
        *,
        now: float,
        reason: str,
        family_digest: bytes | None = None,
        user_id: str | None = None,
    ) -> bool:
        """Revoke if the session exists and belongs to the given family or user;
        True when this call (or an earlier one) left it revoked. Revocation is
        final: nothing ever removes ``revoked_at``."""
        condition = "attribute_exists(sid)"
        values: dict[str, Any] = {":now": _n(now), ":reason": {"S": reason}}
        if family_digest is not None:
            condition += " AND family_digest = :family"
            values[":family"] = {"B": family_digest}
        if user_id is not None:
            condition += " AND user_id = :user"
            values[":user"] = {"S": user_id}
        try:
            with unavailable_on_error():
                self._db.update_item(
                    TableName=self._table,
                    Key={"sid": {"S": sid}},
                    UpdateExpression=(
                        "SET revoked_at = if_not_exists(revoked_at, :now), "
                        "revoke_reason = if_not_exists(revoke_reason, :reason)"
                    ),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
        except ServiceError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def list_sids(self, user_id: str, limit: int | None = None) -> list[str]:
        """The user's session ids, newest first; every page unless ``limit``.

        Revoking "all" sessions must mean all: a password reset that stopped at
        the first page would leave the oldest sessions alive."""
        sids: list[str] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by_user",
            "KeyConditionExpression": "user_id = :user",
            "ExpressionAttributeValues": {":user": {"S": user_id}},
            "ScanIndexForward": False,
        }
        while limit is None or len(sids) < limit:
            if limit is not None:
                request["Limit"] = limit - len(sids)
            with unavailable_on_error():
                response = self._db.query(**request)
            sids.extend(item["sid"]["S"] for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sids

    def get_many(self, sids: list[str]) -> list[Session]:
        sessions: list[Session] = []
        for start in range(0, len(sids), 100):
            keys: list[Any] = [{"sid": {"S": sid}} for sid in sids[start : start + 100]]
            request: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(5):  # bounded: under throttling, give up with a 503
                if not request:
                    break
                with unavailable_on_error():
                    response = self._db.batch_get_item(RequestItems=request)
                sessions.extend(_from_item(i) for i in response["Responses"].get(self._table, []))
                request = response.get("UnprocessedKeys") or None
            if request:
                raise TemporarilyUnavailable()
        return sessions
