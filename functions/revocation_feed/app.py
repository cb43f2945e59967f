"""Publishes the revocation feed (contract §10) from the sessions table's stream.

Invoked by Lambda's event source mapping with a batch of stream records (filtered
to revocations and deletions in template.yaml); turns the ones that end a live
session into feed entries and publishes them (``authcore.revocation.publisher``).
A failure raises: the mapping retries the batch (publishing is idempotent) until
the records are older than an access token's lifetime, when they no longer matter.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge.observability import logger, metrics
from authcore.revocation.publisher import revocations
from authcore.runtime import revocation


# Records hold session ids and token digests, never logged.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        logger.error("not a stream batch")
        return {"records": 0, "published": 0, "seq": 0}
    settings = revocation.settings()
    now = time.time()
    entries = revocations(
        (r for r in records if isinstance(r, dict)),
        access_ttl=settings.access_ttl,
        leeway=settings.leeway,
        now=now,
    )
    if not entries:  # expired sessions deleted by TTL: nothing anyone could still use
        return {"records": len(records), "published": 0, "seq": 0}
    published = revocation.publisher().publish(entries, now=now)
    if published.added:
        metrics.add_metric(name="RevocationsPublished", unit="Count", value=published.added)
    logger.info(
        "revocation feed",
        extra={"records": len(records), "published": published.added, "seq": published.seq},
    )
    return {"records": len(records), "published": published.added, "seq": published.seq}
