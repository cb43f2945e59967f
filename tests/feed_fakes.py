"""An in-memory bucket for the revocation feed: the publisher's ``FeedStore`` and the
reader's ``FeedSource`` over the same objects, as S3 is for both in production.

- ``write(key, body, if_match=etag)`` succeeds only while the object's ETag is
  ``etag``; ``if_match=None`` only while there is no object (S3's ``If-None-Match: *``).
  A lost condition raises ``FeedConflict``. Every write gets a new ETag, even with
  the same body.
- ``fetch(key, etag)`` answers ``304`` with an empty body when ``etag`` is the
  object's, ``404`` when there is none, ``200`` with the body and ETag otherwise.
- Every request is counted per operation and key (``count``); ``fetches`` logs what
  the reader asked (the ETag it sent) and what it got.
- ``fail(...)`` makes matching requests raise ``FeedUnavailable`` (a number of times,
  or until ``heal()``); ``before_next_write(...)`` runs a callback once, just before
  the next write of a key is decided (another publisher winning the race).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from authcore.revocation.publisher import FeedConflict
from authcore.revocation.source import FeedUnavailable, Fetched

READ, WRITE, FETCH = "read", "write", "fetch"


@dataclass
class _Failure:
    op: str | None
    key: str | None
    times: int | None  # None: until healed
    cause: str

    def matches(self, op: str, key: str) -> bool:
        return self.op in (None, op) and self.key in (None, key)


@dataclass(frozen=True)
class FetchLog:
    key: str
    sent_etag: str | None
    status: int


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        self.fetches: list[FetchLog] = []
        self._etags = itertools.count(1)
        self._failures: list[_Failure] = []
        self._hooks: list[tuple[str | None, Callable[[], None]]] = []

    # ------------------------------------------------------------ test controls
    def put(self, key: str, body: bytes) -> str:
        """An unconditional write that is not counted (the test's own hand)."""
        etag = f'"{next(self._etags)}"'
        self.objects[key] = (body, etag)
        return etag

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def clear(self) -> None:
        self.objects.clear()

    def body(self, key: str) -> bytes:
        return self.objects[key][0]

    def etag(self, key: str) -> str | None:
        stored = self.objects.get(key)
        return stored[1] if stored else None

    def count(self, key: str | None = None, op: str | None = None) -> int:
        return sum(
            n
            for (o, k), n in self.requests.items()
            if (key is None or k == key) and (op is None or o == op)
        )

    def fail(
        self,
        *,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        cause: str = "injected",
    ) -> None:
        self._failures.append(_Failure(op, key, times, cause))

    def heal(self) -> None:
        self._failures.clear()

    def before_next_write(self, callback: Callable[[], None], *, key: str | None = None) -> None:
        """Run ``callback`` once, before the next write of ``key`` (any key: None) is
        decided. The hook is gone before it runs, so writes it makes do not re-trigger it."""
        self._hooks.append((key, callback))

    # ------------------------------------------------------------ the requests
    def _request(self, op: str, key: str) -> None:
        self.requests[(op, key)] += 1
        for failure in self._failures:
            if failure.matches(op, key):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times == 0:
                        self._failures.remove(failure)
                raise FeedUnavailable(failure.cause)

    # FeedStore
    def read(self, key: str) -> tuple[bytes, str] | None:
        self._request(READ, key)
        return self.objects.get(key)

    def write(self, key: str, body: bytes, *, if_match: str | None) -> str:
        self._request(WRITE, key)
        for index, (hooked, callback) in enumerate(self._hooks):
            if hooked in (None, key):
                del self._hooks[index]
                callback()
                break
        current = self.objects.get(key)
        if (current is None) != (if_match is None):
            raise FeedConflict
        if current is not None and current[1] != if_match:
            raise FeedConflict
        return self.put(key, body)

    # FeedSource
    def fetch(self, key: str, etag: str | None) -> Fetched:
        self._request(FETCH, key)
        current = self.objects.get(key)
        if current is None:
            fetched = Fetched(404, b"", None)
        elif etag is not None and etag == current[1]:
            fetched = Fetched(304, b"", current[1])
        else:
            fetched = Fetched(200, current[0], current[1])
        self.fetches.append(FetchLog(key, etag, fetched.status))
        return fetched
