"""The feed's two objects and their one JSON shape.

``revocations/snapshot.json``: every session revoked whose tokens may still be
alive, as of publication ``seq``. ``revocations/delta.json``: what was published
after publication ``since`` up to ``seq`` (the last ``DELTA_WINDOW_SECONDS`` of
publications). Both read::

    {"v": 1, "feed": "<id>", "seq": 42, "since": 37, "at": 1764300000,
     "revoked": {"1764300960": ["<sid>", ...], ...}}

``revoked`` groups the session ids by the second after which none of their
tokens can be accepted (rounded up to ``GRANULE`` seconds, so groups are few and
the per-entry cost is the sid and its quotes). ``feed`` names one history: a
reader that sees another id (the bucket was emptied, the feed restarted) cannot
resume and reloads the snapshot. The snapshot's ``since`` is 0: it is whole.

The snapshot also carries ``recent``, the publications the next delta is built
from (the publisher's state; readers ignore it).

Standard library only: the authorizer imports this.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from authcore.records import field, record

VERSION = 1
SNAPSHOT_KEY = "revocations/snapshot.json"
DELTA_KEY = "revocations/delta.json"
# Expiry times are rounded up to this many seconds: an entry outlives its last token
# by less than this, and 100,000 entries make about a hundred groups.
GRANULE = 10
# A delta holds this long of publications: a container that polled within it resumes
# from the delta; one idle for longer reloads the snapshot (a gap).
DELTA_WINDOW_SECONDS = 60
# Bounds for what a reader accepts: a sid is 22 characters here (128 bits, base64url).
MAX_SID_LENGTH = 128
MAX_FEED_ID_LENGTH = 64


class FeedFormatError(ValueError):
    """A feed object that is not what this module writes (the member at fault)."""


def expiry_group(until: float) -> int:
    return int(math.ceil(until / GRANULE) * GRANULE)


@record(frozen=False)
class FeedDocument:
    feed: str
    seq: int
    since: int
    at: float
    revoked: dict[int, list[str]] = field(default_factory=dict)
    # Snapshot only: (seq, at, {until: [sid]}) of the publications within the delta window.
    recent: list[tuple[int, float, dict[int, list[str]]]] = field(default_factory=list)

    def entries(self) -> Iterable[tuple[str, int]]:
        for until, sids in self.revoked.items():
            for sid in sids:
                yield sid, until

    def encode(self, *, with_recent: bool = False) -> bytes:
        document: dict[str, Any] = {
            "v": VERSION,
            "feed": self.feed,
            "seq": self.seq,
            "since": self.since,
            "at": int(self.at),
            "revoked": _groups_out(self.revoked),
        }
        if with_recent:
            document["recent"] = [[s, int(a), _groups_out(g)] for s, a, g in self.recent]
        return json.dumps(document, separators=(",", ":")).encode()


def group(entries: Mapping[str, int]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for sid, until in entries.items():
        grouped.setdefault(until, []).append(sid)
    return grouped


def _groups_out(groups: Mapping[int, list[str]]) -> dict[str, list[str]]:
    return {str(until): sorted(sids) for until, sids in sorted(groups.items())}


def _integer(value: Any, name: str) -> int:
    # bool is an int to Python, never to this format.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FeedFormatError(name)
    return value


def _groups_in(value: Any) -> dict[int, list[str]]:
    if not isinstance(value, dict):
        raise FeedFormatError("revoked")
    groups: dict[int, list[str]] = {}
    for until, sids in value.items():
        if not until.isdecimal() or len(until) > 12 or not isinstance(sids, list):
            raise FeedFormatError("revoked")
        for sid in sids:
            if not isinstance(sid, str) or not 0 < len(sid) <= MAX_SID_LENGTH:
                raise FeedFormatError("sid")
        groups[int(until)] = sids
    return groups


def parse(body: bytes, *, with_recent: bool = False) -> FeedDocument:
    """A feed object, checked member by member: a reader must never act on a
    half-understood feed (it keeps what it has and counts the poll as failed)."""
    try:
        document = json.loads(body)
    except ValueError:
        raise FeedFormatError("json") from None
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise FeedFormatError("version")
    feed = document.get("feed")
    if not isinstance(feed, str) or not 0 < len(feed) <= MAX_FEED_ID_LENGTH:
        raise FeedFormatError("feed")
    seq, since = _integer(document.get("seq"), "seq"), _integer(document.get("since"), "since")
    if since > seq:
        raise FeedFormatError("since")
    at = document.get("at")
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise FeedFormatError("at")
    parsed = FeedDocument(feed, seq, since, float(at), _groups_in(document.get("revoked")))
    if with_recent:
        for entry in document.get("recent", []):
            if not isinstance(entry, list) or len(entry) != 3:
                raise FeedFormatError("recent")
            pub_seq, pub_at, groups = entry
            parsed.recent.append(
                (_integer(pub_seq, "recent"), float(_integer(pub_at, "recent")), _groups_in(groups))
            )
    return parsed
