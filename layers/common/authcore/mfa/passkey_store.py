"""Passkeys and WebAuthn challenges in the users table.

Beside the accounts (whose canonical usernames never hold a "#"), two kinds of items:

- ``#passkey#<base64url credential id>``: one registered credential (its owner, public
  key, signature counter, transports, backup flags, name, times). The owner's account
  item keeps the set of its credential ids (``passkeys``, a string set), written in the
  same transaction, so that the exclude and allow lists of a ceremony cost one read and
  no scan.
- ``#webauthn#<sha256 of a challenge id>``: a pending ceremony's challenge, bound to the
  ceremony and (registration) to the user, deleted by the transaction that uses it.
  Only the digest of the id is a key: a copy of the table hands nobody a live challenge
  id. ``expires_at`` is the table's TTL attribute; DynamoDB's TTL only cleans up, the
  lifetime is decided in code and in the delete's condition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from authcore import b64
from authcore.aws import unavailable_on_error
from authcore.awsjson import ServiceError, TransportError, adapt
from authcore.errors import InvalidGrant, TemporarilyUnavailable
from authcore.records import record

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

PASSKEY_PREFIX = "#passkey#"
CHALLENGE_PREFIX = "#webauthn#"
# WebAuthn L3 §13.4.3 (cryptographic challenges): a challenge lives only as long as the
# ceremony may take; 5 minutes, the contract's lifetime for every second-factor step.
CHALLENGE_LIFETIME_SECONDS = 300
# Enough for every device a person owns; a bound on what one account's item and each
# ceremony's options carry (an item holds at most 400 KB, a request body 8 KiB).
MAX_PASSKEYS_PER_USER = 20
Ceremony = Literal["registration", "authentication"]


def challenge_key(challenge_id: str) -> str:
    return CHALLENGE_PREFIX + hashlib.sha256(challenge_id.encode()).hexdigest()


def passkey_key(credential_id: bytes) -> str:
    return PASSKEY_PREFIX + b64.encode(credential_id)


@record(repr=False)
class Challenge:
    """A pending ceremony. ``user_id``: the registering user (registration), or for an
    authentication started with a username that user's id ("" without one, or for an
    unknown username: such a challenge can sign nobody in by username)."""

    key: str
    challenge: bytes
    ceremony: Ceremony
    user_id: str
    username: str
    created_at: float

    def live(self, now: float) -> bool:
        return now < self.created_at + CHALLENGE_LIFETIME_SECONDS


@record
class Passkey:
    credential_id: bytes
    username: str
    user_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...] = ()
    backup_eligible: bool = False
    backup_state: bool = False
    name: str = ""
    created_at: float = 0.0
    last_used_at: float | None = None


@record
class Owner:
    """What a ceremony needs of an account: who it is, whether it may sign in, and the
    ids of its passkeys (from the account item's ``passkeys`` set)."""

    username: str
    user_id: str
    scope: str
    disabled: bool
    credential_ids: tuple[bytes, ...]
    # TOTP is on (its sealed secret is not read, only its presence).
    has_totp: bool = False


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}


def _cancellation_codes(exc: ServiceError) -> list[str]:
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


class DynamoPasskeyStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    def _get(self, key: str, attributes: Sequence[str] = ()) -> dict[str, Any] | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"username": {"S": key}},
            "ConsistentRead": True,
        }
        if attributes:
            # Names, not words: "username" and "disabled" are fine, but some attribute
            # names are DynamoDB reserved words.
            request["ProjectionExpression"] = ", ".join(f"#{name}" for name in attributes)
            request["ExpressionAttributeNames"] = {f"#{name}": name for name in attributes}
        with unavailable_on_error():
            item: dict[str, Any] | None = self._db.get_item(**request).get("Item")
        return item

    # ------------------------------------------------------------ accounts
    def owner(self, username: str) -> Owner | None:
        """One consistent read of the account item, only the attributes a ceremony uses
        (never the password hash)."""
        item = self._get(
            username, ("username", "user_id", "scope", "disabled", "passkeys", "totp_secret")
        )
        if not item or "user_id" not in item:
            return None
        return Owner(
            username=item["username"]["S"],
            user_id=item["user_id"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            disabled=item.get("disabled", {}).get("BOOL", False),
            credential_ids=tuple(
                sorted(b64.decode(text) for text in item.get("passkeys", {}).get("SS", []))
            ),
            has_totp="totp_secret" in item,
        )

    def enabled_guard(self, owner: Owner, credential_id: bytes) -> dict[str, Any]:
        """A ConditionCheck for the login's transaction: the account is still enabled,
        still the one the passkey was registered to (a deleted and re-created username
        is another person), and still lists the passkey. Written with the session, it
        closes the race with a concurrent disable, whose revoke-all could otherwise list
        the user's sessions before this one exists."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"username": {"S": owner.username}},
                "ConditionExpression": (
                    "disabled = :enabled AND user_id = :uid AND contains(passkeys, :cid)"
                ),
                "ExpressionAttributeValues": {
                    ":enabled": {"BOOL": False},
                    ":uid": {"S": owner.user_id},
                    ":cid": {"S": b64.encode(credential_id)},
                },
            }
        }

    # ------------------------------------------------------------ challenges
    def put_challenge(self, challenge: Challenge) -> None:
        item: dict[str, Any] = {
            "username": {"S": challenge.key},
            "challenge": {"B": challenge.challenge},
            "ceremony": {"S": challenge.ceremony},
            "user_id": {"S": challenge.user_id},
            "owner": {"S": challenge.username},
            "created_at": _n(challenge.created_at),
            # The TTL attribute, whole seconds, a second past the end: cleanup only.
            "expires_at": {"N": str(int(challenge.created_at) + CHALLENGE_LIFETIME_SECONDS + 1)},
        }
        with unavailable_on_error():
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(username)",
                )
            except ServiceError:
                # 256 random bits collided: never overwrite, the client asks again.
                raise TemporarilyUnavailable() from None

    def challenge(self, challenge_id: str) -> Challenge | None:
        key = challenge_key(challenge_id)
        item = self._get(key)
        if not item or "challenge" not in item or "ceremony" not in item:
            return None
        ceremony = item["ceremony"]["S"]
        if ceremony not in ("registration", "authentication"):
            return None
        return Challenge(
            key=key,
            challenge=bytes(item["challenge"]["B"]),
            ceremony="registration" if ceremony == "registration" else "authentication",
            user_id=item.get("user_id", {}).get("S", ""),
            username=item.get("owner", {}).get("S", ""),
            created_at=float(item["created_at"]["N"]),
        )

    def consume_guard(self, challenge: Challenge, *, now: float) -> dict[str, Any]:
        """A Delete for the transaction that uses the challenge, under the condition that
        it is still there, still live, and bound to this ceremony and user: of two
        concurrent uses of one challenge (a replayed assertion) exactly one commits."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": {"username": {"S": challenge.key}},
                "ConditionExpression": (
                    "attribute_exists(username) AND ceremony = :ceremony "
                    "AND user_id = :uid AND created_at > :oldest"
                ),
                "ExpressionAttributeValues": {
                    ":ceremony": {"S": challenge.ceremony},
                    ":uid": {"S": challenge.user_id},
                    ":oldest": _n(now - CHALLENGE_LIFETIME_SECONDS),
                },
            }
        }

    def discard_challenge(self, challenge: Challenge) -> None:
        """Best effort, after a refused ceremony: a challenge gets one attempt (an
        attacker holding it learns nothing by trying variations). A failure here changes
        nothing: the challenge still dies with its lifetime."""
        try:
            with unavailable_on_error():
                self._db.delete_item(TableName=self._table, Key={"username": {"S": challenge.key}})
        except (ServiceError, TemporarilyUnavailable):
            pass

    # ------------------------------------------------------------ passkeys
    def get(self, credential_id: bytes) -> Passkey | None:
        item = self._get(passkey_key(credential_id))
        if not item or "public_key" not in item:
            return None
        return Passkey(
            credential_id=credential_id,
            username=item["owner"]["S"],
            user_id=item["user_id"]["S"],
            public_key=bytes(item["public_key"]["B"]),
            sign_count=int(item["sign_count"]["N"]),
            transports=tuple(t["S"] for t in item.get("transports", {}).get("L", [])),
            backup_eligible=item.get("backup_eligible", {}).get("BOOL", False),
            backup_state=item.get("backup_state", {}).get("BOOL", False),
            name=item.get("name", {}).get("S", ""),
            created_at=float(item.get("created_at", {}).get("N", "0")),
            last_used_at=float(item["last_used_at"]["N"]) if "last_used_at" in item else None,
        )

    def register(self, passkey: Passkey, guards: Sequence[dict[str, Any]]) -> None:
        """The passkey's item and its id in the owner's set, with ``guards`` (the
        challenge's delete), in one transaction: the item is new (a credential id is
        registered once, to one account), and the account exists, is enabled, is still
        the registering user and holds fewer than ``MAX_PASSKEYS_PER_USER``.
        ``InvalidGrant`` if any condition fails, ``TemporarilyUnavailable`` otherwise."""
        encoded = b64.encode(passkey.credential_id)
        item: dict[str, Any] = {
            "username": {"S": PASSKEY_PREFIX + encoded},
            "owner": {"S": passkey.username},
            "user_id": {"S": passkey.user_id},
            "public_key": {"B": passkey.public_key},
            "sign_count": {"N": str(passkey.sign_count)},
            "transports": {"L": [{"S": t} for t in passkey.transports]},
            "backup_eligible": {"BOOL": passkey.backup_eligible},
            "backup_state": {"BOOL": passkey.backup_state},
            "name": {"S": passkey.name},
            "created_at": _n(passkey.created_at),
        }
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(username)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"username": {"S": passkey.username}},
                    "UpdateExpression": "ADD passkeys :ids",
                    "ConditionExpression": (
                        "attribute_exists(username) AND disabled = :enabled AND user_id = :uid"
                        " AND (attribute_not_exists(passkeys) OR size(passkeys) < :max)"
                    ),
                    "ExpressionAttributeValues": {
                        ":ids": {"SS": [encoded]},
                        ":enabled": {"BOOL": False},
                        ":uid": {"S": passkey.user_id},
                        ":max": {"N": str(MAX_PASSKEYS_PER_USER)},
                    },
                }
            },
            *guards,
        ]
        self._transact(items)

    def sign_count_guard(
        self, passkey: Passkey, *, new_count: int, backup_state: bool, now: float
    ) -> dict[str, Any]:
        """An Update for the login's transaction: the new signature counter (and backup
        state, and the time of use), under the condition that the counter is still the
        value read. Two logins with one assertion cannot both move it."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"username": {"S": passkey_key(passkey.credential_id)}},
                "UpdateExpression": (
                    "SET sign_count = :new, backup_state = :bs, last_used_at = :now"
                ),
                "ConditionExpression": "sign_count = :old AND user_id = :uid",
                "ExpressionAttributeValues": {
                    ":new": {"N": str(new_count)},
                    ":old": {"N": str(passkey.sign_count)},
                    ":bs": {"BOOL": backup_state},
                    ":now": _n(now),
                    ":uid": {"S": passkey.user_id},
                },
            }
        }

    def _transact(self, items: list[Any]) -> None:
        try:
            self._db.transact_write_items(TransactItems=items)
        except ServiceError as exc:
            if "ConditionalCheckFailed" in _cancellation_codes(exc):
                raise InvalidGrant("The passkey could not be registered.") from None
            raise TemporarilyUnavailable() from None
        except TransportError:
            raise TemporarilyUnavailable() from None
