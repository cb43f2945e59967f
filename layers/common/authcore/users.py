"""User accounts: canonical usernames and the users table."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from authcore.aws import conditional_failed, unavailable_on_error
from authcore.errors import InvalidRequest

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

MAX_USERNAME_LENGTH = 64
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

    @classmethod
    def new(cls, username: str, password_hash: str, scope: str = "") -> User:
        return cls(canonical_username(username), str(uuid.uuid4()), password_hash, scope)


class UserExists(Exception):
    pass


class UserStore(Protocol):
    def get(self, username: str) -> User | None: ...
    def create(self, user: User, *, now: float) -> None: ...
    def set_password_hash(self, username: str, password_hash: str, *, now: float) -> None: ...
    def set_disabled(self, username: str, disabled: bool, *, now: float) -> None: ...


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
        )

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
        self._update(
            username,
            "SET password_hash = :h, password_changed_at = :now",
            {":h": {"S": password_hash}, ":now": {"N": str(int(now))}},
        )

    def set_disabled(self, username: str, disabled: bool, *, now: float) -> None:
        self._update(
            username,
            "SET disabled = :d, updated_at = :now",
            {":d": {"BOOL": disabled}, ":now": {"N": str(int(now))}},
        )
