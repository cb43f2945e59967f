"""The users table in DynamoDB: accounts, failure counters and the conditions that
make counting an attempt and checking the lock one atomic step."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from authcore.accounts.lockout import Failures, LockoutPolicy
from authcore.accounts.mailtokens import PURPOSES, StoredToken
from authcore.accounts.users import Counter, LoginRecord, User
from authcore.aws import conditional_failed, is_conditional_failure, unavailable_on_error
from authcore.awsjson import ServiceError, adapt
from authcore.errors import (
    CounterLocked,
    MailBudgetSpent,
    TemporarilyUnavailable,
    UnknownUser,
    UserExists,
    WriteConflict,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import TransactGetItemTypeDef
_CONFLICT_RETRIES = 2
_CONFLICT_PAUSE_SECONDS = 0.01
# Items beside the accounts, keyed so that no canonical username can collide
# with them ("#" is not allowed in one): an address's claim (its uniqueness) and
# a mail token's digest.
EMAIL_PREFIX = "#email#"
MAIL_TOKEN_PREFIX = "#mailtoken#"
_BUDGETED = ("reset", "verify", "notice")


def _cancellation_codes(exc: ServiceError) -> list[str]:
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


def _encode_times(times: tuple[float, ...]) -> str:
    return ",".join(f"{t:.3f}" for t in times)


def _decode_times(raw: str) -> tuple[float, ...]:
    return tuple(float(part) for part in raw.split(",") if part)


def _spend_budget(
    user: User,
    kind: str,
    times: tuple[float, ...],
    conditions: list[str],
    values: dict[str, Any],
) -> str:
    """The SET clause recording ``times`` as the account's recent mails of
    ``kind``, with the condition that they are still what ``user`` read: a
    rolling window kept exactly, written optimistically."""
    name = f"mail_sent_{kind}"
    before = user.mail_sent.get(kind)
    if before is None:
        conditions.append(f"attribute_not_exists({name})")
    else:
        conditions.append(f"{name} = :sent_before")
        values[":sent_before"] = {"S": _encode_times(before)}
    values[":sent"] = {"S": _encode_times(times)}
    return f"{name} = :sent"


def unlocked_condition(
    policy: LockoutPolicy,
    now: float,
    *,
    count: str = "failed_logins",
    last: str = "last_failed_at",
) -> tuple[str, dict[str, Any]]:
    """A condition expression true exactly when a counter is not locked at ``now``
    (``Failures.retry_after`` == 0), with its values.

    The back-off doubles with the count, which an expression cannot compute, so
    each step up to the cap is spelled out: "count c and the last failure at
    least lock(c) ago". Evaluated by DynamoDB on the item as it is when the write
    applies, it makes counting an attempt and checking the lock one atomic step."""
    terms = [f"attribute_not_exists({count})", f"{count} < :lk_threshold"]
    values: dict[str, Any] = {":lk_threshold": {"N": str(policy.threshold)}}
    failures = policy.threshold
    for step in range(33):
        lock = policy.lock_seconds(failures)
        final = lock >= policy.max_seconds or step == 32
        operator = ">=" if final else "="
        terms.append(f"({count} {operator} :lk_c{step} AND {last} <= :lk_u{step})")
        values[f":lk_c{step}"] = {"N": str(failures)}
        values[f":lk_u{step}"] = {"N": f"{now - lock:.3f}"}
        if final:
            break
        failures += 1
    return "(" + " OR ".join(terms) + ")", values


def stored_failures(
    item: dict[str, Any], count: str = "failed_logins", last: str = "last_failed_at"
) -> Failures:
    return Failures(
        count=int(item.get(count, {}).get("N", "0")),
        last_at=float(item.get(last, {}).get("N", "0")),
    )


class DynamoUserStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    @staticmethod
    def _from_item(item: dict[str, Any]) -> User:
        return User(
            username=item["username"]["S"],
            user_id=item["user_id"]["S"],
            password_hash=item["password_hash"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            disabled=item.get("disabled", {}).get("BOOL", False),
            failures=stored_failures(item),
            email=item.get("email", {}).get("S", ""),
            email_verified=item.get("email_verified", {}).get("BOOL", False),
            mail_tokens={
                purpose: item[f"mail_token_{purpose}"]["S"]
                for purpose in PURPOSES
                if f"mail_token_{purpose}" in item
            },
            mail_sent={
                kind: _decode_times(item[f"mail_sent_{kind}"]["S"])
                for kind in _BUDGETED
                if f"mail_sent_{kind}" in item
            },
            totp_secret=bytes(item["totp_secret"]["B"]) if "totp_secret" in item else None,
            totp_pending=bytes(item["totp_pending"]["B"]) if "totp_pending" in item else None,
            totp_last_step=int(item.get("totp_last_step", {}).get("N", "0")),
            recovery_codes=frozenset(item.get("recovery_codes", {}).get("SS", ())),
            mfa_failures=stored_failures(item, "mfa_failed", "mfa_last_failed_at"),
        )

    def unchanged_condition(self, user: User, *, clear_failures: bool = False) -> dict[str, Any]:
        """A TransactWriteItems ConditionCheck: the account is still enabled and
        still has the password just verified. Written with the session, it closes
        the race with a concurrent disable or password reset, whose revoke-all
        could otherwise list the user's sessions before this one exists.

        With ``clear_failures`` it is an Update under the same condition that also
        resets the account's failure count: the success resets the attempt it
        counted, in the same write as the session, at no extra round trip."""
        check: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"username": {"S": user.username}},
            "ConditionExpression": "password_hash = :hash AND disabled = :enabled",
            "ExpressionAttributeValues": {
                ":hash": {"S": user.password_hash},
                ":enabled": {"BOOL": False},
            },
        }
        if clear_failures:
            check["UpdateExpression"] = "REMOVE failed_logins, last_failed_at"
            return {"Update": check}
        return {"ConditionCheck": check}

    def get(self, username: str) -> User | None:
        with unavailable_on_error():
            response = self._db.get_item(
                TableName=self._table, Key={"username": {"S": username}}, ConsistentRead=True
            )
        item = response.get("Item")
        return self._from_item(item) if item else None

    def get_by_email(self, email: str) -> User | None:
        """The account an address (canonical) belongs to, through its claim item."""
        with unavailable_on_error():
            response = self._db.get_item(
                TableName=self._table,
                Key={"username": {"S": EMAIL_PREFIX + email}},
                ConsistentRead=True,
            )
        owner = response.get("Item", {}).get("owner", {}).get("S")
        user = self.get(owner) if owner else None
        # A claim whose account changed its address since is no claim.
        return user if user is not None and user.email == email else None

    def create(self, user: User, *, now: float) -> None:
        """The account and, with an address, the address's claim, in one
        transaction: both are new or nothing is written. ``UserExists.taken``
        names which of the two someone holds already."""
        item: dict[str, Any] = {
            "username": {"S": user.username},
            "user_id": {"S": user.user_id},
            "password_hash": {"S": user.password_hash},
            "scope": {"S": user.scope},
            "disabled": {"BOOL": user.disabled},
            "created_at": {"N": str(int(now))},
        }
        if not user.email:
            with unavailable_on_error(), conditional_failed(UserExists):
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(username)",
                )
            return
        item["email"] = {"S": user.email}
        item["email_verified"] = {"BOOL": user.email_verified}
        claim = {"username": {"S": EMAIL_PREFIX + user.email}, "owner": {"S": user.username}}
        # The claim is written with the account, so no two accounts ever hold one address.
        put: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": new_item,
                    "ConditionExpression": "attribute_not_exists(username)",
                }
            }
            for new_item in (item, claim)
        ]
        with unavailable_on_error():
            try:
                self._db.transact_write_items(TransactItems=put)
            except ServiceError as exc:
                codes = _cancellation_codes(exc)
                taken = frozenset(
                    name
                    for name, code in zip(("username", "email"), codes, strict=False)
                    if code == "ConditionalCheckFailed"
                )
                if not taken:
                    raise
                raise UserExists(taken) from None

    def _update(self, username: str, expression: str, values: dict[str, Any]) -> None:
        with unavailable_on_error(), conditional_failed(UnknownUser):
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
    def find_for_login(
        self, username: str, unknown_key: str, device_key: str | None = None
    ) -> LoginRecord:
        """The account and the unknown-username counter (and the device counter,
        when the request carried a device cookie), read together.

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
            for key in (username, unknown_key, *([device_key] if device_key else []))
        ]
        with unavailable_on_error():
            for attempt in range(_CONFLICT_RETRIES + 1):
                try:
                    response = self._db.transact_get_items(TransactItems=items)
                    break
                except ServiceError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code != "TransactionCanceledException" or attempt == _CONFLICT_RETRIES:
                        raise
                    time.sleep(_CONFLICT_PAUSE_SECONDS * (attempt + 1))
        user_item, unknown_item, *device_item = (
            entry.get("Item") for entry in response["Responses"]
        )
        device = stored_failures(device_item[0] or {}) if device_item else Failures()
        if user_item:
            user = self._from_item(user_item)
            return LoginRecord(user, user.failures, unknown_key, device_key, device)
        return LoginRecord(
            None, stored_failures(unknown_item or {}), unknown_key, device_key, device
        )

    def count_attempt(
        self, counter: Counter, *, now: float, policy: LockoutPolicy, _retries: int = 2
    ) -> int:
        """Count one attempt *before* its password is checked; returns the new count
        (0 if the account vanished). Raises ``CounterLocked`` while the counter is
        locked, decided by DynamoDB in the same write.

        Deciding on a count read earlier and written after argon2 let a burst of
        guesses all pass the check before any was counted. Here the ADD and the
        lock check are one conditional update, so of any number of concurrent
        attempts at most ``threshold`` get a password checked; a success resets
        the count (``unchanged_condition``). Failures past the forget window
        restart at 1 instead, on the condition that nobody wrote in between (else
        the attempt is counted on top of what is there now).
        """
        values: dict[str, Any] = {":one": {"N": "1"}, ":now": {"N": f"{now:.3f}"}}
        conditions = []
        if counter.account:
            conditions.append("attribute_exists(username)")
            expiry = ""
        else:
            values[":expires"] = {"N": str(int(now) + policy.item_lifetime())}
            expiry = ", expires_at = :expires"
        restart = counter.failures.is_stale(policy, now)
        if restart:
            update = "SET failed_logins = :one, last_failed_at = :now" + expiry
            conditions.append("last_failed_at = :seen")
            values[":seen"] = {"N": f"{counter.failures.last_at:.3f}"}
        else:
            update = "SET last_failed_at = :now" + expiry + " ADD failed_logins :one"
            unlocked, lock_values = unlocked_condition(policy, now)
            conditions.append(unlocked)
            values.update(lock_values)
        try:
            with unavailable_on_error():
                response = self._db.update_item(
                    TableName=self._table,
                    Key={"username": {"S": counter.key}},
                    UpdateExpression=update,
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise
            item: Any = exc.response.get("Item")
            if item is None and counter.account:
                return 0  # the account is gone: nothing to count on, and no stub
            stored = stored_failures(item or {})
            if not restart:
                raise CounterLocked(stored) from None
            if _retries == 0:
                raise TemporarilyUnavailable() from None
            # Someone else counted (or reset) since we read: count on top of it.
            fresh = Counter(counter.key, stored, counter.account)
            return self.count_attempt(fresh, now=now, policy=policy, _retries=_retries - 1)
        return int(response["Attributes"]["failed_logins"]["N"])

    def clear_counter(self, key: str) -> None:
        """Reset a device's failure counter after a success from that device."""
        try:
            with unavailable_on_error():
                self._db.update_item(
                    TableName=self._table,
                    Key={"username": {"S": key}},
                    UpdateExpression="REMOVE failed_logins, last_failed_at",
                    ConditionExpression="attribute_exists(username)",
                )
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise

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
        except ServiceError as exc:
            if not is_conditional_failure(exc):
                raise

    def clear_failures(self, username: str) -> None:
        """Lift a lock (admin ``unlock``); ``UnknownUser`` if there is no such user."""
        with unavailable_on_error(), conditional_failed(UnknownUser):
            self._db.update_item(
                TableName=self._table,
                Key={"username": {"S": username}},
                UpdateExpression="REMOVE failed_logins, last_failed_at",
                ConditionExpression="attribute_exists(username)",
            )

    # ------------------------------------------------------------ passwords
    def change_password(self, user: User, password_hash: str, *, now: float) -> None:
        """Replace the password just verified; ``WriteConflict`` if it changed (or
        the account was disabled) meanwhile. Lifts a lock: the right password was
        given."""
        with unavailable_on_error(), conditional_failed(WriteConflict):
            self._db.update_item(
                TableName=self._table,
                Key={"username": {"S": user.username}},
                UpdateExpression=(
                    "SET password_hash = :new, password_changed_at = :now"
                    " REMOVE failed_logins, last_failed_at"
                ),
                ConditionExpression="password_hash = :old AND disabled = :enabled",
                ExpressionAttributeValues={
                    ":new": {"S": password_hash},
                    ":old": {"S": user.password_hash},
                    ":now": {"N": str(int(now))},
                    ":enabled": {"BOOL": False},
                },
            )

    # ------------------------------------------------------------ mail tokens
    def find_mail_token(self, digest: str) -> StoredToken | None:
        with unavailable_on_error():
            response = self._db.get_item(
                TableName=self._table,
                Key={"username": {"S": MAIL_TOKEN_PREFIX + digest}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        if not item:
            return None
        purpose = item["purpose"]["S"]
        if purpose not in PURPOSES:
            return None
        return StoredToken(
            digest=digest,
            purpose=purpose,  # checked against PURPOSES above
            username=item["owner"]["S"],
            expires_at=float(item["expires_at"]["N"]),
            email=item.get("email", {}).get("S", ""),
        )

    def issue_mail_token(
        self,
        user: User,
        stored: StoredToken,
        *,
        now: float,
        budget: tuple[str, tuple[float, ...]] | None,
    ) -> None:
        """Store a new token and make it the account's current one of its purpose,
        voiding (and deleting) the previous one; with ``budget`` (kind, new mail
        times) also record the mail against the account's hourly allowance.

        One transaction, conditioned on what was read: the account's current token
        and its mail times unchanged. Two concurrent requests cannot both spend the
        last mail of an hour (``MailBudgetSpent`` for the loser) or leave two live
        tokens."""
        field_name = f"mail_token_{stored.purpose}"
        values: dict[str, Any] = {":digest": {"S": stored.digest}}
        conditions = ["attribute_exists(username)"]
        previous = user.mail_tokens.get(stored.purpose)
        if previous is None:
            conditions.append(f"attribute_not_exists({field_name})")
        else:
            conditions.append(f"{field_name} = :previous")
            values[":previous"] = {"S": previous}
        sets = [f"{field_name} = :digest"]
        if budget is not None:
            sets.append(_spend_budget(user, *budget, conditions, values))
        token_item: dict[str, Any] = {
            "username": {"S": MAIL_TOKEN_PREFIX + stored.digest},
            "owner": {"S": user.username},
            "purpose": {"S": stored.purpose},
            # Also the table's TTL attribute: DynamoDB removes the item some time after.
            "expires_at": {"N": str(int(stored.expires_at))},
            "created_at": {"N": str(int(now))},
        }
        if stored.email:
            token_item["email"] = {"S": stored.email}
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": token_item,
                    "ConditionExpression": "attribute_not_exists(username)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"username": {"S": user.username}},
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeValues": values,
                }
            },
        ]
        if previous is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"username": {"S": MAIL_TOKEN_PREFIX + previous}},
                    }
                }
            )
        with unavailable_on_error():
            try:
                self._db.transact_write_items(TransactItems=items)
            except ServiceError as exc:
                if "ConditionalCheckFailed" in _cancellation_codes(exc):
                    raise MailBudgetSpent("the account changed meanwhile") from None
                raise

    def record_mail(self, user: User, kind: str, times: tuple[float, ...]) -> None:
        """Record a mail without a token (a notice) against the hourly allowance,
        on the condition that nobody else did since ``user`` was read."""
        conditions = ["attribute_exists(username)"]
        values: dict[str, Any] = {}
        update = "SET " + _spend_budget(user, kind, times, conditions, values)
        with unavailable_on_error(), conditional_failed(MailBudgetSpent):
            self._db.update_item(
                TableName=self._table,
                Key={"username": {"S": user.username}},
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeValues=values,
            )

    def consume_mail_token(
        self, stored: StoredToken, *, now: float, password_hash: str | None
    ) -> None:
        """Spend a token: delete its item and clear the account's reference to it,
        in one transaction under conditions (still the account's current token of
        that purpose, not expired, the account enabled; a verification also still
        for the address it was sent to). ``WriteConflict`` if any fails: of two
        concurrent uses, exactly one succeeds.

        What the token was for happens in the same write: the address is verified
        (every purpose proves the mailbox), and with ``password_hash`` the password
        is set and a lock lifted. Nothing touches a second factor."""
        field_name = f"mail_token_{stored.purpose}"
        values: dict[str, Any] = {
            ":digest": {"S": stored.digest},
            ":enabled": {"BOOL": False},
            ":true": {"BOOL": True},
        }
        conditions = [f"{field_name} = :digest", "disabled = :enabled"]
        if stored.email:
            conditions.append("email = :email")
            values[":email"] = {"S": stored.email}
        update = "SET email_verified = :true"
        removed = [field_name]
        if password_hash is not None:
            update += ", password_hash = :hash, password_changed_at = :now_s"
            values[":hash"] = {"S": password_hash}
            values[":now_s"] = {"N": str(int(now))}
            removed += ["failed_logins", "last_failed_at"]
        items: list[Any] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"username": {"S": MAIL_TOKEN_PREFIX + stored.digest}},
                    "ConditionExpression": "purpose = :p AND expires_at > :now AND #o = :o",
                    "ExpressionAttributeNames": {"#o": "owner"},
                    "ExpressionAttributeValues": {
                        ":p": {"S": stored.purpose},
                        ":now": {"N": str(int(now))},
                        ":o": {"S": stored.username},
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"username": {"S": stored.username}},
                    "UpdateExpression": update + " REMOVE " + ", ".join(removed),
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeValues": values,
                }
            },
        ]
        with unavailable_on_error():
            for attempt in range(_CONFLICT_RETRIES + 1):
                try:
                    self._db.transact_write_items(TransactItems=items)
                except ServiceError as exc:
                    codes = _cancellation_codes(exc)
                    if "ConditionalCheckFailed" in codes:
                        raise WriteConflict("token spent") from None
                    # Another write to the account in flight (a failed login being
                    # counted): retried briefly. Its twin, if that is what it was,
                    # has committed by then and the retry finds the token spent.
                    if "TransactionConflict" not in codes or attempt == _CONFLICT_RETRIES:
                        raise
                    time.sleep(_CONFLICT_PAUSE_SECONDS * (attempt + 1))
                else:
                    return
