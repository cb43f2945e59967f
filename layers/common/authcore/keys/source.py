"""The authorizer's private key source: the keys table, read directly.

Why not the public JWKS route: that route is open to the internet and throttled
with every other route of the stage, so anyone can make it answer 429 to the
authorizer too; an authorizer that must refuse a ring it cannot re-confirm
(fail closed, docs/keys.md "Revoked keys stop fast") would then refuse everyone. The
keys table sits behind IAM and DynamoDB's own capacity: nobody outside the
account can starve it, and a strongly consistent read sees a revocation the
moment ``infra.keys revoke`` commits it.

Why not boto3: importing it costs more CPU than the authorizer's whole cold
start. One DynamoDB ``Query`` is one signed POST (``authcore.awsjson``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from authcore.awsjson import AUTHORIZER_MAX_BYTES, AwsError, DynamoDB
from authcore.errors import KeySourceError

# The states the JWKS publishes (authcore.keys.table.PUBLISHED; a test keeps them equal).
PUBLISHED_STATES = frozenset({"pending", "current", "previous"})
_PARTITION = "ring"
MAX_PAGES = 8


class KeysTableSource:
    """``source()`` for a ``KeyRing``: the published public keys as a JWKS
    document, from one strongly consistent ``Query`` of the keys table."""

    def __init__(
        self, table: str, *, env: Mapping[str, str] | None = None, timeout: float = 2.0
    ) -> None:
        self._table = table
        # Two tries at once, no pause, 1 MiB at most: the authorizer holds a request.
        self._dynamodb = DynamoDB(
            env=env, timeout=timeout, attempts=2, backoff=False, max_bytes=AUTHORIZER_MAX_BYTES
        )

    def __call__(self) -> dict[str, Any]:
        keys: list[Any] = []
        start: Any = None
        for _ in range(MAX_PAGES):
            page = self._query(start)
            for item in page.get("Items", []):
                state = item.get("state", {}).get("S")
                text = item.get("public_jwk", {}).get("S")
                if state in PUBLISHED_STATES and isinstance(text, str):
                    keys.append(json.loads(text))
            start = page.get("LastEvaluatedKey")
            if not start:
                return {"keys": keys}
        raise KeySourceError("too many pages")

    def _query(self, start: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :ring",
            "ExpressionAttributeValues": {":ring": {"S": _PARTITION}},
            "ProjectionExpression": "#state, public_jwk",
            "ExpressionAttributeNames": {"#state": "state"},
            # Strongly consistent: a revocation is seen as soon as it is committed.
            "ConsistentRead": True,
        }
        if start:
            request["ExclusiveStartKey"] = start
        try:
            return self._dynamodb.call("Query", request)
        except AwsError as failed:
            raise KeySourceError(str(failed)) from None
