"""How a reader fetches a feed object: one conditional GET.

``S3FeedSource`` signs the GET itself (``authcore.sigv4``): the authorizer must not
import boto3 (its cold start), and the bucket is private, readable through IAM only,
so nobody outside the account can make the feed answer errors to every authorizer
(which would then fail closed). ``HttpFeedSource`` reads the same objects from any
base URL (another service's mirror, a test server).

``If-None-Match`` makes an unchanged object a ``304`` with no body: the poll that
finds nothing new, which is nearly every poll, costs one small request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from authcore import sigv4, transport

# 100,000 sessions revoked within the window make a snapshot of 2.53 MiB; past about
# 633,000 (37,000 revocations a minute, sustained) it exceeds this bound and cold
# containers fail closed (bench.revocation_feed).
MAX_OBJECT_BYTES = 16 * 1024 * 1024


class FeedUnavailable(Exception):
    """The object could not be fetched; ``cause`` is safe to log (a status or a class name)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class Fetched(NamedTuple):
    status: int  # 200, 304 (unchanged) or 404 (nothing published yet)
    body: bytes
    etag: str | None


class FeedSource(Protocol):
    def fetch(self, key: str, etag: str | None) -> Fetched: ...


def _too_large(status: int) -> FeedUnavailable:
    # The feed's own cause: the key source's refusal would name the wrong component in
    # the poll's log line (and an oversized feed is an operator's problem, not a key's).
    return FeedUnavailable("too_large")


class _ClosedUnderUs(FeedUnavailable):
    """The connection was closed or reset before an answer came (not a timeout)."""


class _Connection:
    """The feed host's one connection, kept alive between polls: a warm container's
    poll pays for its request only, not for a TCP and TLS handshake (issue #20). Polls
    never overlap (``RevocationFeed`` makes one at a time), so neither do its requests.

    A kept connection the far end has closed is seen before reuse (``dropped``) and
    replaced. One closed under a request (a race with the host's idle timeout) is retried
    once, on a new connection: a GET changes nothing, and a thawed container would
    otherwise refuse session tokens until the next poll. A new connection's failure, a
    timeout, an error status: never retried (a second wait would hold the request)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self._timeout = timeout
        self._connection: transport.Connection | None = None

    def get(self, path: str, headers: Mapping[str, str]) -> Fetched:
        if transport.dropped(self._connection):
            self.close()
        # A reuse only with a socket open: after an answer that said "Connection: close"
        # (S3's 503 SlowDown) the transport has closed it, and the request opens a new one.
        reused = self._connection is not None and self._connection.sock is not None
        try:
            return self._get(path, headers)
        except _ClosedUnderUs:
            if not reused:
                raise
        return self._get(path, headers)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _get(self, path: str, headers: Mapping[str, str]) -> Fetched:
        if self._connection is None:
            opened = transport.connect(self.url, self._timeout)
            if opened is None:
                raise FeedUnavailable("not_https")
            self._connection = opened[0]
        try:
            # Read to its end (an error's body too), the answer leaves the connection
            # ready for the next poll.
            status, body, answered = self._connection.request(
                "GET", path, headers, limit=MAX_OBJECT_BYTES, too_large=_too_large
            )
        except FeedUnavailable:
            self.close()
            raise
        except ConnectionError as exc:
            self.close()
            raise _ClosedUnderUs(type(exc).__name__) from None
        except Exception as exc:
            self.close()
            raise FeedUnavailable(type(exc).__name__) from None
        if status not in (200, 304, 404):
            raise FeedUnavailable(f"status_{status}")
        return Fetched(status, body if status == 200 else b"", answered.get("etag"))


class S3FeedSource:
    """GetObject on the feed's bucket, signed with the function's own credentials.

    A missing object is ``404`` only to a caller allowed ``s3:ListBucket`` (else S3
    answers ``403``): the template grants it, so "nothing published yet" is told
    apart from "not allowed"."""

    def __init__(
        self, bucket: str, *, env: Mapping[str, str] | None = None, timeout: float = 1.0
    ) -> None:
        self._bucket = bucket
        self._env = os.environ if env is None else env
        self._timeout = timeout
        self._connection: _Connection | None = None

    def fetch(self, key: str, etag: str | None) -> Fetched:
        env = self._env
        region = sigv4.region_of(env)
        base, prefix = sigv4.s3_bucket(env, self._bucket, region)
        path = f"{prefix}/{key}"
        host = base.split("://", 1)[1]
        try:
            credentials = sigv4.Credentials.from_env(env)
        except Exception:
            raise FeedUnavailable("no_credentials") from None
        headers = sigv4.signed_headers(
            method="GET",
            host=host,
            path=path,
            region=region,
            service="s3",
            credentials=credentials,
            now=sigv4.now(),
        )
        if etag:
            headers["if-none-match"] = etag
        # The endpoint is the container's for its life, unless its variables change.
        if self._connection is None or self._connection.url != base:
            if self._connection is not None:
                self._connection.close()
            self._connection = _Connection(base, self._timeout)
        return self._connection.get(path, headers)


class HttpFeedSource:
    """The same objects under a base URL (``<base>/revocations/delta.json``)."""

    def __init__(self, base_url: str, *, timeout: float = 1.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._connection = _Connection(self._base, timeout)

    def fetch(self, key: str, etag: str | None) -> Fetched:
        url = f"{self._base}/{key}"
        path = "/" + url.split("://", 1)[-1].split("/", 1)[1]
        headers = {"accept-encoding": "identity"}
        if etag:
            headers["if-none-match"] = etag
        return self._connection.get(path, headers)
