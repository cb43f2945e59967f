"""The authorizer's private key source: the keys table, read directly.

Why not the public JWKS route: that route is open to the internet and throttled
with every other route of the stage, so anyone can make it answer 429 to the
authorizer too; an authorizer that must refuse a ring it cannot re-confirm
(fail closed, docs/keys.md "Revoked keys stop fast") would then refuse everyone. The
keys table sits behind IAM and DynamoDB's own capacity: nobody outside the
account can starve it, and a strongly consistent read sees a revocation the
moment ``infra.keys revoke`` commits it.

Why not boto3: importing it costs more CPU than the authorizer's whole cold
start. One DynamoDB ``Query`` is one signed POST, so this module signs it with
Signature Version 4 by hand (standard library only: ``hmac``, ``hashlib``,
``http.client``) with the function's own credentials from the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from authcore.errors import KeySourceError
from authcore.keys.ring import connect, read_bounded

# The states the JWKS publishes (authcore.keys.table.PUBLISHED; a test keeps them equal).
PUBLISHED_STATES = frozenset({"pending", "current", "previous"})
_PARTITION = "ring"
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_PAGES = 8


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sigv4_headers(
    *,
    host: str,
    region: str,
    target: str,
    body: bytes,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    now: datetime,
    service: str = "dynamodb",
) -> dict[str, str]:
    """The headers of a signed AWS JSON-protocol POST to ``/`` (SigV4, the
    procedure of the AWS General Reference, "Create a signed AWS API request")."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": target,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            *(f"{name}:{headers[name].strip()}" for name in names),
            "",
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def dynamodb_endpoint(env: Mapping[str, str], region: str) -> str:
    """The same endpoint botocore would use: a configured one, else the Region's."""
    configured = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://dynamodb.{region}.{suffix}"


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
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise KeySourceError("no credentials")
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
        headers = sigv4_headers(
            host=parts.netloc,
            region=region,
            target="DynamoDB_20120810.Query",
            body=body,
            access_key=access_key,
            secret_key=secret_key,
            session_token=env.get("AWS_SESSION_TOKEN"),
            now=datetime.now(UTC),
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
