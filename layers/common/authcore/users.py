"""User accounts: canonical usernames and the users table."""

from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from authcore.aws import conditional_failed, is_conditional_failure, unavailable_on_error
from authcore.errors import InvalidRequest
from authcore.lockout import Failures, LockoutPolicy

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import TransactGetItemTypeDef

MAX_USERNAME_LENGTH = 64
_CONFLICT_RETRIES = 2
_CONFLICT_PAUSE_SECONDS = 0.01
_USERNAME_PUNCTUATION = frozenset("._-@+")


def canonical_username(username: str) -> str:
    """NFKC + case fold, in the spirit of RFC 8265's UsernameCaseMapped profile:
    ``Sam``, ``SAM`` and its full-width form are one account, for login and
    lockout alike, so variants cannot dodge a lock or register look-alikes."""
    canonical = unicodedata.normalize("NFKC", username).casefold()
    canonical = unicodedata.normalize("NFKC", canonical)
    if not 0 < len(canonical) <= MAX_USERNAME_LENGTH:
        raise InvalidRequest("username must have 1 to 64 characters")
    if not all(ch.isalnum() or ch in _USERNAME_PUNCTUATION for ch in canonical):
        raise InvalidRequest("username has characters that are not allowed")
    return canonical


@dataclass(frozen=True)
class User:
    username: str
    user_id: str
    password_hash: str
    scope: str = ""
    disabled: bool = False
    failures: Failures = field(default_factory=Failures)

    @classmethod
    def new(cls, username: str, password_hash: str, scope: str = "") -> User:
        return cls(canonical_username(username), str(uuid.uuid4()), password_hash, scope)


class UserExists(Exception):
    pass


@dataclass(frozen=True)
class LoginRecord:
    """What a login attempt reads, in one round trip: the account (if any) and
    the failure counter that applies to it — the account's own, or for an
    unknown username the counter kept under ``unknown_key``."""

    user: User | None
    failures: Failures
    unknown_key: str

    @property
    def counter_key(self) -> str:
        return self.user.username if self.user else self.unknown_key


class UserStore(Protocol):
    def get(self, username: str) -> User | None: ...
    def unchanged_condition(self, user: User) -> dict[str, Any]: ...
    def create(self, user: User, *, now: float) -> None: ...
    def set_password_hash(self, username: str, password_hash: str, *, now: float) -> None: ...
    def set_disabled(self, username: str, disabled: bool, *, now: float) -> None: ...
    def find_for_login(self, username: str, unknown_key: str) -> LoginRecord: ...
    def record_failure(self, record: LoginRecord, *, now: float, policy: LockoutPolicy) -> int: ...
    def after_login(
        self, user: User, *, clear_failures: bool, new_hash: str | None, now: float
    ) -> None: ...
    def clear_failures(self, username: str) -> None: ...


def _failures(item: dict[str, Any]) -> Failures:
    return Failures(
        count=int(item.get("failed_logins", {}).get("N", "0")),
        last_at=float(item.get("last_failed_at", {}).get("N", "0")),
    )


class DynamoUserStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    @staticmethod
    def _from_item(item: dict[str, Any]) -> User:
        return User(
            username=item["username"]["S"],
            user_id=item["user_id"]["S"],
            password_hash=item["password_hash"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            disabled=item.get("disabled", {}).get("BOOL", False),
            failures=_failures(item),
        )

    def unchanged_condition(self, user: User) -> dict[str, Any]:
        """A TransactWriteItems ConditionCheck: the account is still enabled and
        still has the password just verified. Written with the session, it closes
        the race with a concurrent disable or password reset, whose revoke-all
        could otherwise list the user's sessions before this one exists."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"username": {"S": user.username}},
                "ConditionExpression": "password_hash = :hash AND disabled = :enabled",
                "ExpressionAttributeValues": {
                    ":hash": {"S": user.password_hash},
                    ":enabled": {"BOOL": False},
                },
            }
        }

    def get(self, username: str) -> User | None:
        with unavailable_on_error():
            response = self._db.get_item(
                TableName=self._table, Key={"username": {"S": username}}, ConsistentRead=True
            )
        item = response.get("Item")
        return self._from_item(item) if item else None

    def create(self, user: User, *, now: float) -> None:
        with unavailable_on_error(), conditional_failed(UserExists):
            self._db.put_item(
                TableName=self._table,
                Item={
                    "username": {"S": user.username},
                    "user_id": {"S": user.user_id},
                    "password_hash": {"S": user.password_hash},
                    "scope": {"S": user.scope},
                    "disabled": {"BOOL": user.disabled},
                    "created_at": {"N": str(int(now))},
                },
                ConditionExpression="attribute_not_exists(username)",
            )

    def _update(self, username: str, expression: str, values: dict[str, Any]) -> None:
        with unavailable_on_error(), conditional_failed(LookupError):
            self._db.update_item(
                TableName=self._table,
                Key={"username": {"S": username}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(username)",
                ExpressionAttributeValues=values,
            )

    def set_password_hash(self, username: str, password_hash: str, *, now: float) -> None:
        # A new password set by an administrator also lifts a lock: it is the
        # usual answer to "I am locked out", and an attacker cannot trigger it.
        self._update(
            username,
            "SET password_hash = :h, password_changed_at = :now"
            " REMOVE failed_logins, last_failed_at",
            {":h": {"S": password_hash}, ":now": {"N": str(int(now))}},
        )

    def set_disabled(self, username: str, disabled: bool, *, now: float) -> None:
        self._update(
            username,
            "SET disabled = :d, updated_at = :now",
            {":d": {"BOOL": disabled}, ":now": {"N": str(int(now))}},
        )

    # ------------------------------------------------------------ login attempts
    def find_for_login(self, username: str, unknown_key: str) -> LoginRecord:
        """The account and the unknown-username counter, read together.

        One TransactGetItems for every attempt, whether the account exists or
        not: the same single round trip either way, so neither the answer nor
        its timing depends on the account's existence (and a successful login
        pays no extra read). Transactional reads are strongly consistent.

        A transactional read is refused while a plain write to one of its items
        is in flight (a burst of guesses at one account, each counting a
        failure): that conflict lasts milliseconds, so it is retried briefly
        rather than turned into a 503.
        """
        items: list[TransactGetItemTypeDef] = [
            {"Get": {"TableName": self._table, "Key": {"username": {"S": key}}}}
            for key in (username, unknown_key)
        ]
        with unavailable_on_error():
            for attempt in range(_CONFLICT_RETRIES + 1):
                try:
                    response = self._db.transact_get_items(TransactItems=items)
                    break
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code != "TransactionCanceledException" or attempt == _CONFLICT_RETRIES:
                        raise
                    time.sleep(_CONFLICT_PAUSE_SECONDS * (attempt + 1))
        user_item, unknown_item = (entry.get("Item") for entry in response["Responses"])
        if user_item:
            user = self._from_item(user_item)
            return LoginRecord(user, user.failures, unknown_key)
        return LoginRecord(None, _failures(unknown_item or {}), unknown_key)

    def record_failure(self, record: LoginRecord, *, now: float, policy: LockoutPolicy) -> int:
        """Count one failure atomically; returns the new count (0 if the account vanished).

        ADD is atomic, so concurrent guesses are all counted. Failures past the
        forget window restart at 1 instead, on the condition that nobody wrote
        in between (else the ADD is retried). An account's counter lives on its
        item and is only written while the item exists (no stub accounts);
        an unknown username's counter is an item of its own that expires.
        """
        values: dict[str, Any] = {":one": {"N": "1"}, ":now": {"N": f"{now:.3f}"}}
        conditions = []
        if record.user is not None:
            conditions.append("attribute_exists(username)")
            expiry = ""
        else:
            values[":expires"] = {"N": str(int(now) + policy.item_lifetime())}
            expiry = ", expires_at = :expires"
        restart = record.failures.is_stale(policy, now)
        if restart:
            update = "SET failed_logins = :one, last_failed_at = :now" + expiry
            conditions.append("last_failed_at = :seen")
            values[":seen"] = {"N": f"{record.failures.last_at:.3f}"}
        else:
            update = "SET last_failed_at = :now" + expiry + " ADD failed_logins :one"
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"username": {"S": record.counter_key}},
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_NEW",
        }
        if conditions:
            arguments["ConditionExpression"] = " AND ".join(conditions)
        try:
            with unavailable_on_error():
                response = self._db.update_item(**arguments)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            if restart:
                # Someone else counted a failure since we read: count on top of it.
                fresh = LoginRecord(record.user, Failures(), record.unknown_key)
                return self.record_failure(fresh, now=now, policy=policy)
            return 0
        return int(response["Attributes"]["failed_logins"]["N"])

    def after_login(
        self, user: User, *, clear_failures: bool, new_hash: str | None, now: float
    ) -> None:
        """After a successful login: reset the failure count and/or store a hash
        made at the current argon2 parameters, in one write, and only when needed."""
        if not clear_failures and new_hash is None:
            return
        parts: list[str] = []
        values: dict[str, Any] = {}
        condition = "attribute_exists(username)"
        if new_hash is not None:
            parts.append("SET password_hash = :new, password_rehashed_at = :now")
            values.update({":new": {"S": new_hash}, ":now": {"N": str(int(now))}})
            # Never overwrite a password an administrator changed meanwhile.
            condition += " AND password_hash = :old"
            values[":old"] = {"S": user.password_hash}
        if clear_failures:
            parts.append("REMOVE failed_logins, last_failed_at")
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"username": {"S": user.username}},
            "UpdateExpression": " ".join(parts),
            "ConditionExpression": condition,
        }
        if values:
            arguments["ExpressionAttributeValues"] = values
        try:
            with unavailable_on_error():
                self._db.update_item(**arguments)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def clear_failures(self, username: str) -> None:
        """Lift a lock (admin ``unlock``); LookupError if there is no such user."""
        with unavailable_on_error(), conditional_failed(LookupError):
            self._db.update_item(
                TableName=self._table,
                Key={"username": {"S": username}},
                UpdateExpression="REMOVE failed_logins, last_failed_at",
                ConditionExpression="attribute_exists(username)",
            )
