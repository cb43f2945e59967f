"""The authorizer's private key source: the keys table, read directly.

Why not the public JWKS route: that route is open to the internet and throttled
with every other route of the stage, so anyone can make it answer 429 to the
authorizer too; an authorizer that must refuse a ring it cannot re-confirm
(fail closed, docs/keys.md "Revoked keys stop fast") would then refuse everyone. The
keys table sits behind IAM and DynamoDB's own capacity: nobody outside the
account can starve it, and a strongly consistent read sees a revocation the
moment ``infra.keys revoke`` commits it.

Why not boto3: importing it costs more CPU than the authorizer's whole cold
start. One DynamoDB ``Query`` is one signed POST (``authcore.sigv4``), sent with
``http.client`` and the function's own credentials from the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from authcore import sigv4
from authcore.errors import KeySourceError
from authcore.keys.ring import connect, read_bounded

# The states the JWKS publishes (authcore.keys.table.PUBLISHED; a test keeps them equal).
PUBLISHED_STATES = frozenset({"pending", "current", "previous"})
_PARTITION = "ring"
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_PAGES = 8


def dynamodb_endpoint(env: Mapping[str, str], region: str) -> str:
    """The same endpoint botocore would use: a configured one, else the Region's."""
    return sigv4.endpoint(env, "dynamodb", region)


class KeysTableSource:
    """``source()`` for a ``KeyRing``: the published public keys as a JWKS
    document, from one strongly consistent ``Query`` of the keys table."""

    def __init__(
        self, table: str, *, env: Mapping[str, str] | None = None, timeout: float = 2.0
    ) -> None:
        self._table = table
        self._env = os.environ if env is None else env
        self._timeout = timeout

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
        env = self._env
        region = sigv4.region_of(env)
        credentials = sigv4.Credentials.from_env(env)
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
        body = json.dumps(request).encode("utf-8")
        opened = connect(dynamodb_endpoint(env, region), self._timeout)
        if opened is None:
            raise KeySourceError("the DynamoDB endpoint must be https")
        connection, parts = opened
        headers = sigv4.signed_headers(
            method="POST",
            host=parts.netloc,
            path="/",
            region=region,
            service="dynamodb",
            credentials=credentials,
            now=datetime.now(UTC),
            headers={
                "content-type": "application/x-amz-json-1.0",
                "x-amz-target": "DynamoDB_20120810.Query",
            },
            payload_sha256=hashlib.sha256(body).hexdigest(),
        )
        deadline = time.monotonic() + self._timeout
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            data = read_bounded(response, MAX_RESPONSE_BYTES, deadline)
            if response.status != 200:
                raise KeySourceError(f"DynamoDB answered {response.status}")
        finally:
            connection.close()
        page = json.loads(data)
        if not isinstance(page, dict):
            raise KeySourceError("not a Query answer")
        return page
