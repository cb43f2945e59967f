"""Session-checked authorization: a valid access token is not enough, its session
(``sid``) must still be live in the sessions table.

A stateless verifier cannot take a token back before ``exp``; a session store on
every request can, at the price of a read. This sits in between: one
``GetItem`` per session per container per ``REVOCATION_MAX_LAG_SECONDS``. A
"live" answer is trusted for at most that long, so a logout, a logout
everywhere, a detected refresh-token theft or a disabled user (all of which
revoke the session) stop the token within that lag. A "not live" answer is
final (nothing ever un-revokes or un-expires a session) and is remembered until
the token itself expires, so a revoked token hammering the API costs no reads.

No AWS SDK: the read is one signed POST (``authcore.awsjson``), so the
session-checked authorizer's cold start stays within a few milliseconds of the
stateless one's (botocore would add 150-300 ms of CPU to its first event).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from authcore.awsjson import AUTHORIZER_MAX_BYTES, AwsError, DynamoDB
from authcore.clock import Clock, system_clock
from authcore.errors import InvalidToken, NoUserSession, SessionCheckUnavailable
from authcore.records import record
from authcore.tokens.claims import AccessClaims

DEFAULT_CACHE_SIZE = 10_000
# Only what the decision needs: never the token digests or the sealed successor.
PROJECTION = "user_id, revoked_at, idle_expires_at, absolute_expires_at"


@record
class SessionStatus:
    """What the check reads of a session item."""

    user_id: str
    revoked: bool
    expires_at: float  # the earlier of the idle and the absolute expiry

    def refusal(self, user_id: str, now: float) -> str | None:
        """Why a token of ``user_id`` may not use this session at ``now``, or None."""
        if self.user_id != user_id:
            return "session_mismatch"
        if self.revoked:
            return "session_revoked"
        if now >= self.expires_at:
            # DynamoDB TTL deletes days late: expiry is decided here, as sessions.py does.
            return "session_expired"
        return None


class SessionReader(Protocol):
    def status(self, sid: str) -> SessionStatus | None: ...


def status_from_item(item: Mapping[str, Any]) -> SessionStatus:
    """A session item (DynamoDB JSON) as the check sees it. An item missing its
    expiry reads as expired: a malformed session never authorizes anything."""

    def number(name: str) -> float:
        try:
            return float(item[name]["N"])
        except (KeyError, TypeError, ValueError):
            return 0.0

    try:
        user_id = str(item["user_id"]["S"])
    except (KeyError, TypeError):
        user_id = ""
    return SessionStatus(
        user_id=user_id,
        revoked="revoked_at" in item,
        expires_at=min(number("idle_expires_at"), number("absolute_expires_at")),
    )


class DynamoSessionReader:
    """One ``GetItem`` on the sessions table, by key.

    Strongly consistent by default: such a read reflects every write that was
    acknowledged before it (the revocation included), so DynamoDB adds nothing
    to the revocation lag. It costs one read request unit instead of half of one,
    on cache misses only.
    """

    def __init__(self, dynamodb: DynamoDB, table: str, *, consistent_read: bool = True) -> None:
        self.dynamodb = dynamodb
        self._table = table
        self._consistent = consistent_read

    def status(self, sid: str) -> SessionStatus | None:
        try:
            answer = self.dynamodb.call(
                "GetItem",
                {
                    "TableName": self._table,
                    "Key": {"sid": {"S": sid}},
                    "ConsistentRead": self._consistent,
                    "ProjectionExpression": PROJECTION,
                },
            )
        except AwsError as failed:
            # Throttling, 5xx, timeouts, credentials: whatever it is, we cannot
            # tell whether the session is live, so the answer is no.
            raise SessionCheckUnavailable(failed.cause) from None
        item = answer.get("Item")
        return status_from_item(item) if isinstance(item, dict) and item else None


# Tighter than the other functions' clients (authcore.aws): an authorizer that
# waits on a sick table holds every request of every session-checked route, and
# DynamoDB answers a GetItem in milliseconds when healthy. Worst case about 2 x 1 s
# before the request is refused.
READ_TIMEOUT_SECONDS = 1.0
READ_ATTEMPTS = 2


def dynamo_reader(table: str) -> DynamoSessionReader:
    """The production reader, built once per container: it belongs to the session
    checker its runtime keeps (``authcore.runtime.verifying``), and goes with it on
    ``reset``, its connection with it."""
    return DynamoSessionReader(
        DynamoDB(
            timeout=READ_TIMEOUT_SECONDS,
            attempts=READ_ATTEMPTS,
            backoff=False,
            max_bytes=AUTHORIZER_MAX_BYTES,
        ),
        table,
    )


class CacheEntry(NamedTuple):
    until: float
    refusal: str | None  # None: live
    user_id: str  # whose session it is: a hit counts only for the same ``sub``


class SessionCache:
    """Per container: sid -> what was learnt about it, and until when.

    Bounded: past ``max_entries`` the oldest entry goes. Losing an entry only
    costs a read, never a wrong answer.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._max_entries = max(1, max_entries)

    def get(self, sid: str, now: float) -> CacheEntry | None:
        entry = self._entries.get(sid)
        if entry is not None and now >= entry.until:
            del self._entries[sid]
            return None
        return entry

    def put(self, sid: str, entry: CacheEntry) -> None:
        self._entries.pop(sid, None)
        self._entries[sid] = entry
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sid: object) -> bool:
        return sid in self._entries


class SessionChecker:
    """Confirms that verified claims belong to a live session.

    ``max_lag``: seconds a "live" answer may be reused. The clock is read before
    the session is, so a slow read never stretches the lag: an entry made from a
    read sent before a revocation dies at most ``max_lag`` after it.
    """

    def __init__(
        self,
        reader: SessionReader,
        *,
        max_lag: float,
        leeway: float = 60,
        clock: Clock = system_clock,
        cache: SessionCache | None = None,
    ) -> None:
        self.reader = reader
        self.cache = cache if cache is not None else SessionCache()
        self._max_lag = max(0.0, max_lag)
        self._leeway = leeway
        self._clock = clock

    def check(self, claims: AccessClaims) -> None:
        """Return if the session is live; raise ``InvalidToken`` (the session is
        not live), ``NoUserSession`` (a machine client's token: there is no session
        to check, so no session-checked route takes it) or ``SessionCheckUnavailable``
        (cannot tell: refuse)."""
        sid = claims.get("sid")
        if sid is None:
            raise NoUserSession
        sub = claims["sub"]
        now = self._clock()
        cached = self.cache.get(sid, now)
        if cached is not None and cached.user_id == sub:
            if cached.refusal is None:
                return
            raise InvalidToken(cached.refusal)
        status = self.reader.status(sid)  # a failure is never cached
        refusal: str | None
        if status is None:
            # Gone (TTL cleans up expired sessions) or never written. Login writes
            # the session before it hands out the token, and the read is strongly
            # consistent, so a brand-new session is never mistaken for this.
            refusal = "session_unknown"
        else:
            refusal = status.refusal(sub, now)
            if refusal is None:
                # Never trust "live" past the session's own expiry either.
                until = min(now + self._max_lag, status.expires_at)
                if until > now:
                    self.cache.put(sid, CacheEntry(until, None, sub))
                return
            if refusal == "session_mismatch":
                # Only a token we never issued could get here: refuse it, but let
                # it leave no trace that could stand for the session's real owner.
                raise InvalidToken(refusal)
        # Final: remembered for as long as the verifier would accept the token.
        until = float(claims["exp"]) + self._leeway
        if until > now:
            self.cache.put(sid, CacheEntry(until, refusal, sub))
        raise InvalidToken(refusal)
