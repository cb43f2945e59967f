"""The second factor's writes on the users table: the account's TOTP attributes and
recovery codes, the second step's failure counter, and the pending logins that an
``mfa_token`` names (items of their own, keyed by the token's digest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authcore.accounts.dynamo import stored_failures, unlocked_condition
from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.users import User
from authcore.aws import conditional_failed, is_conditional_failure, unavailable_on_error
from authcore.awsjson import ServiceError, adapt
from authcore.errors import CounterLocked, WriteConflict
from authcore.mfa.pending import PendingLogin

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

# "#" never occurs in a canonical username: no account can collide with these.
PENDING_PREFIX = "#mfa#"


class DynamoMfaStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    def _key(self, username: str) -> dict[str, Any]:
        return {"username": {"S": username}}

    # ------------------------------------------------------------ pending logins
    def put_pending(self, digest: str, pending: PendingLogin) -> None:
        with unavailable_on_error():
            self._db.put_item(
                TableName=self._table,
                Item={
                    "username": {"S": PENDING_PREFIX + digest},
                    "pending_for": {"S": pending.username},
                    "delivery": {"S": pending.delivery},
                    "password_hash": {"S": pending.password_hash},
                    "pending_until": {"N": f"{pending.expires_at:.3f}"},
                    # TTL only cleans up; expiry is decided in code and in conditions.
                    "expires_at": {"N": str(int(pending.expires_at) + 1)},
                },
                ConditionExpression="attribute_not_exists(username)",
            )

    def get_pending(self, digest: str) -> PendingLogin | None:
        with unavailable_on_error():
            item = self._db.get_item(
                TableName=self._table, Key=self._key(PENDING_PREFIX + digest), ConsistentRead=True
            ).get("Item")
        if not item or "pending_for" not in item:
            return None
        return PendingLogin(
            username=item["pending_for"]["S"],
            delivery="body" if item["delivery"]["S"] == "body" else "cookie",
            password_hash=item["password_hash"]["S"],
            expires_at=float(item["pending_until"]["N"]),
        )

    def spend_pending(self, digest: str, *, now: float) -> dict[str, Any]:
        """A transaction entry: the pending login deleted while it is live, so that of
        two completions racing, one session is made."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": self._key(PENDING_PREFIX + digest),
                "ConditionExpression": "attribute_exists(pending_for) AND pending_until > :now",
                "ExpressionAttributeValues": {":now": {"N": f"{now:.3f}"}},
            }
        }

    # ------------------------------------------------------------ second step
    def count_attempt(self, user: User, *, now: float, policy: LockoutPolicy) -> int:
        """Count a second-step attempt before its code is checked, refused (``CounterLocked``)
        while the counter is locked: as for passwords, of any number of concurrent
        guesses at most ``threshold`` get a code checked."""
        unlocked, values = unlocked_condition(
            policy, now, count="mfa_failed", last="mfa_last_failed_at"
        )
        stale = user.mfa_failures.is_stale(policy, now)
        values |= {":one": {"N": "1"}, ":now": {"N": f"{now:.3f}"}}
        update = (
            "SET mfa_failed = :one, mfa_last_failed_at = :now"
            if stale
            else "SET mfa_last_failed_at = :now ADD mfa_failed :one"
        )
        try:
            with unavailable_on_error():
                answer = self._db.update_item(
                    TableName=self._table,
                    Key=self._key(user.username),
                    UpdateExpression=update,
                    ConditionExpression=f"attribute_exists(username) AND {unlocked}",
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise
            item: Any = exc.response.get("Item") or {}
            raise CounterLocked(stored_failures(item, "mfa_failed", "mfa_last_failed_at")) from None
        return int(answer["Attributes"]["mfa_failed"]["N"])

    def _guard(
        self, user: User, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        # The account as the first step found it: enabled, the same password, the same
        # TOTP secret (turned off or re-enrolled in between: refused).
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(user.username),
                "UpdateExpression": update + " REMOVE mfa_failed, mfa_last_failed_at",
                "ConditionExpression": (
                    "password_hash = :hash AND disabled = :enabled AND totp_secret = :secret AND "
                    + condition
                ),
                "ExpressionAttributeValues": {
                    ":hash": {"S": user.password_hash},
                    ":enabled": {"BOOL": False},
                    ":secret": {"B": user.totp_secret or b""},
                    **values,
                },
            }
        }

    def totp_guard(self, user: User, step: int) -> dict[str, Any]:
        """Spend a time step: only a step later than the last one used passes, decided
        by DynamoDB, so the same code sent twice at once gives one session."""
        return self._guard(
            user,
            "SET totp_last_step = :step",
            "(attribute_not_exists(totp_last_step) OR totp_last_step < :step)",
            {":step": {"N": str(step)}},
        )

    def recovery_guard(self, user: User, digest: str) -> dict[str, Any]:
        """Spend a recovery code: removed from the set on the condition it is in it."""
        return self._guard(
            user,
            "DELETE recovery_codes :spent",
            "contains(recovery_codes, :code)",
            {":spent": {"SS": [digest]}, ":code": {"S": digest}},
        )

    # ------------------------------------------------------------ enrolment
    def start_enrolment(self, user: User, sealed: bytes) -> None:
        with unavailable_on_error(), conditional_failed(WriteConflict):
            self._db.update_item(
                TableName=self._table,
                Key=self._key(user.username),
                UpdateExpression="SET totp_pending = :sealed",
                ConditionExpression="attribute_exists(username) AND disabled = :enabled",
                ExpressionAttributeValues={":sealed": {"B": sealed}, ":enabled": {"BOOL": False}},
            )

    def confirm_enrolment(self, user: User, pending: bytes, step: int, codes: list[str]) -> None:
        """TOTP on: the pending secret becomes the secret, the confirming code's step is
        spent (it cannot log in again), a new set of recovery codes replaces any old."""
        with unavailable_on_error(), conditional_failed(WriteConflict):
            self._db.update_item(
                TableName=self._table,
                Key=self._key(user.username),
                UpdateExpression=(
                    "SET totp_secret = :pending, totp_last_step = :step, recovery_codes = :codes "
                    "REMOVE totp_pending, mfa_failed, mfa_last_failed_at"
                ),
                ConditionExpression="totp_pending = :pending AND disabled = :enabled",
                ExpressionAttributeValues={
                    ":pending": {"B": pending},
                    ":step": {"N": str(step)},
                    ":codes": {"SS": codes},
                    ":enabled": {"BOOL": False},
                },
            )

    def disable(self, user: User) -> None:
        with unavailable_on_error():
            self._db.update_item(
                TableName=self._table,
                Key=self._key(user.username),
                UpdateExpression=(
                    "REMOVE totp_secret, totp_pending, totp_last_step, recovery_codes, "
                    "mfa_failed, mfa_last_failed_at"
                ),
                ConditionExpression="attribute_exists(username)",
            )

    def replace_recovery_codes(self, user: User, codes: list[str]) -> None:
        """A new set voids the old one; only while TOTP is on."""
        with unavailable_on_error(), conditional_failed(WriteConflict):
            self._db.update_item(
                TableName=self._table,
                Key=self._key(user.username),
                UpdateExpression="SET recovery_codes = :codes",
                ConditionExpression="attribute_exists(totp_secret)",
                ExpressionAttributeValues={":codes": {"SS": codes}},
            )
