"""AWS Signature Version 4, by hand, for the authorizer's two reads.

Why not boto3: importing it costs more CPU than the authorizer's whole cold start,
and the authorizer makes exactly two kinds of AWS request: one DynamoDB ``Query``
of the keys table (``authcore.keys.source``) and one S3 ``GET`` of the revocation
feed (``authcore.revocation.source``). Each is one signed HTTP request: standard
library only (``hmac``, ``hashlib``), the procedure of the AWS General Reference,
"Create a signed AWS API request". A test checks the signatures against botocore's.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from authcore.errors import KeySourceError

EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        """The function's own credentials (Lambda puts them in the environment)."""
        access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise KeySourceError("no credentials")
        return cls(access_key, secret_key, env.get("AWS_SESSION_TOKEN") or None)


def region_of(env: Mapping[str, str]) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint(env: Mapping[str, str], service: str, region: str) -> str:
    """The endpoint botocore would use: a configured one (``AWS_ENDPOINT_URL_<SERVICE>``,
    then ``AWS_ENDPOINT_URL``), else the Region's."""
    configured = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{service}.{region}.{suffix}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signed_headers(
    *,
    method: str,
    host: str,
    path: str,
    region: str,
    service: str,
    credentials: Credentials,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    payload_sha256: str = EMPTY_PAYLOAD_SHA256,
) -> dict[str, str]:
    """``headers`` (lower-case names), signed, plus ``host``, ``x-amz-date``, the
    session token and ``authorization``. No query string: neither read has one.
    S3 wants the payload's digest as a header of its own; the path is URI-encoded
    once, as S3 and DynamoDB (whose path is ``/``) both expect."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {**(headers or {}), "host": host, "x-amz-date": amz_date}
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_sha256
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            "",
            *(f"{name}:{signed[name].strip()}" for name in names),
            "",
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + credentials.secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed
