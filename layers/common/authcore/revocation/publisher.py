"""The writing side: stream records of the sessions table in, the feed's two objects out.

Why the table's stream: every way a session ends (logout, logout everywhere, theft
detection, a disabled user, a password change or reset, an admin or a script with
table access) ends in one write that sets ``revoked_at``; the stream sees each of
them, including paths added later, with no second write on the revocation's side
and no hot partition of our own (DynamoDB shards the stream).

Each publication rewrites the snapshot (the state: every live entry and the recent
publications) under ``If-Match``, so publishers running side by side (one per stream
shard) never lose each other's entries; the loser reads again and retries. The delta
is then rebuilt from the snapshot it committed, and only ever moved forward (its
``seq`` never goes back), also under ``If-Match``. A publisher that dies between the
two writes leaves the delta behind; the stream's retry of the same batch finds its
entries already published and brings the delta forward.

Entries live until the last token of their session has expired: the revocation (or
the session's own expiry, if earlier) + the access token lifetime + the verifiers'
leeway + ``SLACK_SECONDS``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from authcore.records import record
from authcore.revocation.document import (
    DELTA_KEY,
    DELTA_WINDOW_SECONDS,
    MAX_SID_LENGTH,
    SNAPSHOT_KEY,
    FeedDocument,
    expiry_group,
    group,
    parse,
)

# A refresh that passed its "not revoked" condition just before the revocation signs
# its token just after: its iat may be a few seconds past revoked_at (a function's
# timeout bounds it), and the functions' clocks differ by a little. A minute covers both.
SLACK_SECONDS = 60
ATTEMPTS = 8


class FeedConflict(Exception):
    """A conditional write lost: someone else wrote the object first."""


class FeedContention(Exception):
    """Every attempt lost: the batch fails and the stream delivers it again."""


class FeedStore(Protocol):
    def read(self, key: str) -> tuple[bytes, str] | None:
        """The object's body and ETag, or None when there is none."""

    def write(self, key: str, body: bytes, *, if_match: str | None) -> str:
        """Write ``body`` if the object's ETag is ``if_match`` (if there is no object,
        with None); its new ETag. ``FeedConflict`` otherwise."""


def _number(image: Mapping[str, Any], name: str) -> float | None:
    try:
        value = float(image[name]["N"])
    except (KeyError, TypeError, ValueError):
        return None
    # NaN or an infinity is no time (and would break the rounding to a granule).
    return value if math.isfinite(value) else None


def revocations(
    records: Iterable[Mapping[str, Any]], *, access_ttl: float, leeway: float, now: float
) -> dict[str, int]:
    """sid -> the second after which no token of it can be accepted, for the records
    that end a session: ``revoked_at`` set (MODIFY), or a live session deleted
    (REMOVE). Expired sessions and everything else yield nothing."""
    found: dict[str, int] = {}
    for stream_record in records:
        change = stream_record.get("dynamodb")
        if not isinstance(change, Mapping):
            continue
        new, old = change.get("NewImage"), change.get("OldImage")
        if isinstance(new, Mapping) and "revoked_at" in new:
            image, ended = new, _number(new, "revoked_at")
        elif stream_record.get("eventName") == "REMOVE" and isinstance(old, Mapping):
            if "revoked_at" in old:
                continue  # published when it was revoked
            image, ended = old, now
        else:
            continue
        try:
            sid = str(image["sid"]["S"])
        except (KeyError, TypeError):
            continue
        if not 0 < len(sid) <= MAX_SID_LENGTH:
            continue  # the readers refuse a document that holds one: never publish it
        # A revocation is never later than now (give or take the clocks' skew, which
        # SLACK_SECONDS covers): a far-future revoked_at must not pin an entry for ever.
        ended = now if ended is None else min(ended, now + SLACK_SECONDS)
        for expiry in ("idle_expires_at", "absolute_expires_at"):
            value = _number(image, expiry)
            if value is not None:
                ended = min(ended, value)
        until = expiry_group(ended + access_ttl + leeway + SLACK_SECONDS)
        if until > now and found.get(sid, 0) < until:
            found[sid] = until
    return found


@record
class Published:
    seq: int  # the feed's publication after this call
    added: int  # entries this call added (0: all were known)


class Publisher:
    def __init__(self, store: FeedStore) -> None:
        self._store = store

    def publish(self, entries: Mapping[str, int], *, now: float) -> Published:
        for _ in range(ATTEMPTS):
            current = self._store.read(SNAPSHOT_KEY)
            if current is None:
                state = FeedDocument(secrets.token_hex(8), 0, 0, now)
                etag = None
            else:
                state, etag = parse(current[0], with_recent=True), current[1]
            known = {sid: until for sid, until in state.entries() if until > now}
            new = {s: u for s, u in entries.items() if u > now and known.get(s, 0) < u}
            if not new:
                self._advance_delta(state)
                return Published(state.seq, 0)
            known.update(new)
            state.seq += 1
            state.at = now
            state.revoked = group(known)
            # Drop old publications from the front only: the delta must tell every
            # publication after its ``since``, even when publishers' clocks disagree and
            # a later publication carries an earlier time.
            recent = list(state.recent)
            while recent and recent[0][1] <= now - DELTA_WINDOW_SECONDS:
                del recent[0]
            state.recent = [*recent, (state.seq, now, group(new))]
            try:
                self._store.write(SNAPSHOT_KEY, state.encode(with_recent=True), if_match=etag)
            except FeedConflict:
                continue
            self._advance_delta(state)
            return Published(state.seq, len(new))
        raise FeedContention

    def _advance_delta(self, state: FeedDocument) -> None:
        """Make the delta tell at least ``state`` (never move it back)."""
        if not state.recent:
            return
        merged: dict[str, int] = {}
        for _, _, groups in state.recent:
            for until, sids in groups.items():
                for sid in sids:
                    merged[sid] = max(merged.get(sid, 0), until)
        delta = FeedDocument(
            state.feed, state.seq, state.recent[0][0] - 1, state.at, group(merged)
        ).encode()
        for _ in range(ATTEMPTS):
            current = self._store.read(DELTA_KEY)
            if current is not None:
                try:
                    seen = parse(current[0])
                    if seen.feed == state.feed and seen.seq >= state.seq:
                        return
                except ValueError:
                    pass  # unreadable: overwrite it
            try:
                self._store.write(DELTA_KEY, delta, if_match=current[1] if current else None)
            except FeedConflict:
                continue
            return
        raise FeedContention
