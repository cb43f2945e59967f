"""The publisher's store: the feed's objects in S3, written under S3's conditional
writes (``If-Match`` / ``If-None-Match: *``), which make concurrent publishers safe."""

from __future__ import annotations

from typing import Any

from authcore.awsjson import ServiceError, adapt
from authcore.revocation.publisher import FeedConflict

# Readers poll every few seconds with If-None-Match; caches in between (a CDN, a
# mirror) must revalidate too, or they would add their TTL to the lag.
CACHE_CONTROL = "no-cache"
_MISSING = frozenset({"NoSuchKey", "404"})
# 412 when the ETag moved; 409 when another conditional write to the key is in flight.
_LOST = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class S3FeedStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = adapt(client)
        self._bucket = bucket

    def read(self, key: str) -> tuple[bytes, str] | None:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
        except ServiceError as exc:
            if exc.code in _MISSING:
                return None
            raise
        return answer["Body"].read(), str(answer["ETag"])

    def write(self, key: str, body: bytes, *, if_match: str | None) -> str:
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        try:
            answer = self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                CacheControl=CACHE_CONTROL,
                **condition,
            )
        except ServiceError as exc:
            if exc.code in _LOST:
                raise FeedConflict from None
            raise
        return str(answer["ETag"])
