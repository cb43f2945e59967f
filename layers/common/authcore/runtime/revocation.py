"""The wiring of the revocation feed's publisher, built once per container. A module
of its own: the publisher needs settings, S3 and nothing of the signing wiring."""

from __future__ import annotations

from functools import cache

from authcore import awsjson
from authcore.config import Settings
from authcore.errors import ConfigError
from authcore.revocation.publisher import Publisher
from authcore.revocation.s3 import S3FeedStore


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def publisher() -> Publisher:
    bucket = settings().revocation_feed_bucket
    if not bucket:
        raise ConfigError("set REVOCATION_FEED_BUCKET: the bucket the feed is published to")
    return Publisher(S3FeedStore(awsjson.S3(bucket), bucket))


def reset() -> None:
    for cached in (settings, publisher):
        cached.cache_clear()
