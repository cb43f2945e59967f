"""The reading side: the set of revoked sessions one container keeps, and the check.

Checking a token is a clock read and a dict lookup. At most once per ``interval``
the check first polls: a conditional GET of the delta (``304`` when nothing is
new), or of the snapshot when this container has nothing yet or has fallen behind
the delta's window (a gap). The poll runs inside the request that finds it due:
Lambda freezes a container between invocations, so a background thread could not
keep time, and the lag bound needs every answer to rest on a poll younger than
``interval``.

A container whose last successful poll is older than ``stale_after`` (3 x the
interval) cannot vouch that a session was not revoked, so it refuses every token
that names one (fail closed, ``RevocationFeedStale``); machine clients' tokens name
none and are never revocable through the feed, so they pass. A failed poll is
retried after ``RETRY_SECONDS``, not on every request.

Worst-case lag, logout to refusal: the publisher's delay (stream and two S3 writes,
under a second) + ``interval``. Standard library only.
"""

from __future__ import annotations

import json
import logging

from authcore.clock import Clock, system_clock
from authcore.errors import InvalidToken, RevocationFeedStale
from authcore.revocation.document import DELTA_KEY, SNAPSHOT_KEY, FeedDocument, parse
from authcore.revocation.source import FeedSource, FeedUnavailable
from authcore.tokens.claims import AccessClaims

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
STALE_AFTER_POLLS = 3
# Expired entries are dropped this often (an O(n) pass), never on the request path otherwise.
PURGE_SECONDS = 60.0
# The feed id a reader holds before anything was ever published (no object yet).
NOTHING_PUBLISHED = ""


class RevocationFeed:
    def __init__(
        self,
        source: FeedSource,
        *,
        interval: float,
        clock: Clock = system_clock,
        stale_after: float | None = None,
    ) -> None:
        self._source = source
        self._interval = interval
        self._stale_after = STALE_AFTER_POLLS * interval if stale_after is None else stale_after
        self._clock = clock
        self.revoked: dict[str, int] = {}  # sid -> the second its last token dies
        self.feed: str | None = None  # None: no snapshot loaded yet (a cold container)
        self.seq = 0
        self._delta_etag: str | None = None
        self.confirmed_at = float("-inf")
        self._next_poll = float("-inf")
        self._next_purge = float("-inf")
        # Until then no poll is due and the feed is not stale: the check is one
        # comparison and one lookup (the repeated-token path, issue #19's 0.5 us).
        self._quiet_until = float("-inf")
        self.polls = self.snapshots = self.failures = 0

    def check(self, claims: AccessClaims) -> None:
        """Return if the token's session is not known revoked; raise
        ``InvalidToken("session_revoked")`` or ``RevocationFeedStale``."""
        sid = claims.get("sid")
        if sid is None:
            return
        now = self._clock()
        if now >= self._quiet_until:
            if self.due(now):
                self.poll(now)
            if now - self.confirmed_at > self._stale_after:
                raise RevocationFeedStale
        until = self.revoked.get(sid)
        if until is not None and now < until:
            raise InvalidToken("session_revoked")

    def due(self, now: float) -> bool:
        """Whether ``check`` would poll before answering at ``now``."""
        return now >= self._next_poll

    def poll(self, now: float) -> bool:
        """One poll (two requests on a gap); False if it failed. ``now`` is read
        before the request leaves, so "confirmed at" never claims more than it saw."""
        self.polls += 1
        try:
            if self.feed is None:
                self._load_snapshot(now)
            else:
                self._follow_delta(now)
        except Exception as exc:
            self.failures += 1
            # From when the failure was known, not from ``now``: a poll that failed by
            # timing out would otherwise be due again at once (the authorizer's first
            # request polls in a thread, then checks).
            self._next_poll = self._clock() + min(RETRY_SECONDS, self._interval)
            cause = exc.cause if isinstance(exc, FeedUnavailable) else type(exc).__name__
            log.warning(json.dumps({"message": "revocation feed poll failed", "cause": cause}))
            return False
        self.confirmed_at = now
        self._next_poll = now + self._interval
        # Staleness is checked against ">", so the quiet window may end with the poll.
        self._quiet_until = min(self._next_poll, now + self._stale_after)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_SECONDS
            self.revoked = {sid: until for sid, until in self.revoked.items() if until > now}
        return True

    def _load_snapshot(self, now: float) -> None:
        self.snapshots += 1
        fetched = self._source.fetch(SNAPSHOT_KEY, None)
        if fetched.status == 404:
            self.feed, self.seq = NOTHING_PUBLISHED, 0
        elif fetched.status == 200:
            document = parse(fetched.body)
            self._apply(document, now)
            self.feed, self.seq = document.feed, document.seq
        else:  # a 304 to a request that named no ETag: not S3
            raise FeedUnavailable(f"status_{fetched.status}")
        # The next poll reads the delta whole once, then conditionally.
        self._delta_etag = None

    def _follow_delta(self, now: float) -> None:
        fetched = self._source.fetch(DELTA_KEY, self._delta_etag)
        if fetched.status == 304:
            return
        if fetched.status == 404:
            # Nothing published yet, or the feed was deleted: what this container
            # learnt stays (until it expires); the next publication starts afresh.
            self.feed, self.seq, self._delta_etag = NOTHING_PUBLISHED, 0, None
            return
        document = parse(fetched.body)
        if document.feed != self.feed or document.since > self.seq:
            # Another history, or publications this container missed fell out of the
            # delta's window: only the snapshot can tell what they were.
            self._load_snapshot(now)
            return
        self._apply(document, now)
        self.seq = max(self.seq, document.seq)
        self._delta_etag = fetched.etag

    def _apply(self, document: FeedDocument, now: float) -> None:
        revoked = self.revoked
        for sid, until in document.entries():
            if until > now and revoked.get(sid, 0) < until:
                revoked[sid] = until
