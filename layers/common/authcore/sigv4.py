"""AWS Signature Version 4, by hand, for every AWS request the functions make.

Why not botocore: importing it and building a client costs more CPU than the rest of
a cold start (issue #20), and each call here is one HTTP request (``authcore.awsjson``,
the authorizers' ``authcore.keys.source`` and ``authcore.revocation.source``): the
procedure of the AWS General Reference, "Create a signed AWS API request", with the
digests of ``cryptography``, which every function has loaded already (``hashlib`` would
be ~1.5 ms more of the stateless authorizer's cold start). Tests check the signatures
against botocore's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes, hmac

from authcore.errors import KeySourceError
from authcore.records import field, record


def sha256_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


EMPTY_PAYLOAD_SHA256 = sha256_hex(b"")


@record
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        """The function's own credentials: in the environment, where Lambda puts them,
        or (SnapStart, whose restored containers have no keys in the environment) from
        the container credentials endpoint it names instead."""
        access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if access_key and secret_key:
            return cls(access_key, secret_key, env.get("AWS_SESSION_TOKEN") or None)
        if env.get(CONTAINER_URI):
            return _container_credentials(env)
        raise KeySourceError("no credentials")


# ---------------------------------------------------------------- container credentials
# The provider botocore calls "container": one GET of AWS_CONTAINER_CREDENTIALS_FULL_URI
# with AWS_CONTAINER_AUTHORIZATION_TOKEN (or the file it names) as Authorization. Only
# over http to the hosts botocore accepts without TLS: the loopback (Lambda's endpoint)
# and the ECS and EKS link-local addresses. Never logged: the token, the answer.
CONTAINER_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
CONTAINER_HOSTS = frozenset({"localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"})
CONTAINER_TIMEOUT_SECONDS = 2.0
CONTAINER_MAX_BODY = 16 * 1024
# Credentials are used until this long before their Expiration, then fetched again.
CONTAINER_REFRESH_MARGIN_SECONDS = 300.0

_container_cache: dict[str, tuple[Credentials, float]] = {}
now = time.time


def forget_credentials() -> None:
    """Drop the cached container credentials (a restored container fetches its own)."""
    _container_cache.clear()


def _container_credentials(env: Mapping[str, str]) -> Credentials:
    uri = env[CONTAINER_URI]
    cached = _container_cache.get(uri)
    if cached is not None and now() < cached[1]:
        return cached[0]
    credentials, expires_at = _fetch_container_credentials(uri, _container_token(env))
    _container_cache[uri] = (credentials, expires_at - CONTAINER_REFRESH_MARGIN_SECONDS)
    return credentials


def _container_token(env: Mapping[str, str]) -> str | None:
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    path = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if not token and path:
        try:
            with open(path, encoding="utf-8") as file:
                token = file.read(4096).strip()
        except OSError:
            raise KeySourceError("container credentials: token file unreadable") from None
    if token and ("\r" in token or "\n" in token):
        raise KeySourceError("container credentials: invalid token")
    return token or None


def _allowed_host(host: str) -> bool:
    import ipaddress

    if host in CONTAINER_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch_container_credentials(uri: str, token: str | None) -> tuple[Credentials, float]:
    # Imported here: only SnapStart containers come this way.
    from datetime import datetime
    from urllib.parse import urlsplit

    from authcore import transport

    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme != "http" or not _allowed_host(host):
        raise KeySourceError("container credentials: endpoint refused")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection = transport.Connection(host, parts.port, CONTAINER_TIMEOUT_SECONDS)
    try:
        status, body, _ = connection.request(
            "GET",
            path,
            {"Authorization": token} if token else {},
            limit=CONTAINER_MAX_BODY,
            too_large=lambda _: KeySourceError("container credentials: answer too large"),
        )
    except (OSError, ValueError):  # ValueError: a path or token the transport will not send
        raise KeySourceError("container credentials: endpoint unreachable") from None
    finally:
        connection.close()
    if status != 200:
        raise KeySourceError(f"container credentials: HTTP {status}")
    try:
        answer = json.loads(body)
        credentials = Credentials(
            str(answer["AccessKeyId"]), str(answer["SecretAccessKey"]), answer.get("Token")
        )
        expiration = answer.get("Expiration")
        expires_at = (
            datetime.fromisoformat(str(expiration)).timestamp()
            if expiration
            else now() + CONTAINER_REFRESH_MARGIN_SECONDS
        )
    except (ValueError, TypeError, KeyError):
        raise KeySourceError("container credentials: malformed answer") from None
    if not credentials.access_key or not credentials.secret_key:
        raise KeySourceError("container credentials: malformed answer")
    return credentials, expires_at


def region_of(env: Mapping[str, str]) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint(
    env: Mapping[str, str],
    service: str,
    region: str,
    *,
    host: str | None = None,
    service_id: str | None = None,
) -> str:
    """The endpoint botocore would use: a configured one, else the Region's (``host``: the
    service's endpoint prefix where it is not its name, SES's ``email``)."""
    configured = _configured(env, service_id or service)
    if configured:
        return configured
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{host or service}.{region}.{suffix}"


def _configured(env: Mapping[str, str], service_id: str) -> str | None:
    """``AWS_ENDPOINT_URL_<SERVICE_ID>``, then ``AWS_ENDPOINT_URL``, as botocore reads them."""
    configured = env.get(f"AWS_ENDPOINT_URL_{service_id.upper()}") or env.get("AWS_ENDPOINT_URL")
    return configured.rstrip("/") if configured else None


def s3_bucket(env: Mapping[str, str], bucket: str, region: str) -> tuple[str, str]:
    """Where a bucket's objects are, as botocore addresses them: the endpoint and the
    path prefix of its keys. Path-style on a configured endpoint (what local ones, moto,
    serve), else virtual-hosted on the Region's."""
    configured = _configured(env, "s3")
    if configured:
        return configured, f"/{bucket}"
    return endpoint({}, "s3", region, host=f"{bucket}.s3"), ""


def _hmac(key: bytes, text: str) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(text.encode("utf-8"))
    return mac.finalize()


# RFC 3986's unreserved characters, and "/": what SigV4's UriEncode leaves as it is.
_UNENCODED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/")


def uri_encode(path: str) -> str:
    """``path`` percent-encoded as SigV4's UriEncode does (AWS's "Create a canonical
    request"): UTF-8, every byte but the unreserved characters and "/" as ``%XY`` in upper
    case. ``urllib.parse.quote(path, safe="/-_.~")`` does the same; its module and the
    ``ipaddress`` module it imports are ~3 ms of the authorizers' cold start."""
    return "".join(
        chr(byte) if byte in _UNENCODED else f"%{byte:02X}" for byte in path.encode("utf-8")
    )


def signed_headers(
    *,
    method: str,
    host: str,
    path: str,
    region: str,
    service: str,
    credentials: Credentials,
    now: float,
    headers: Mapping[str, str] | None = None,
    payload_sha256: str = EMPTY_PAYLOAD_SHA256,
) -> dict[str, str]:
    """``headers`` (lower-case names), signed, plus ``host``, ``x-amz-date``, the
    session token and ``authorization``, for a request to ``path`` sent URI-encoded
    once (``uri_encode``). No query string: no call here has one. S3
    wants the payload's digest as a header of its own and signs the path as sent;
    every other service signs it encoded once more (a Lambda ARN's ``:`` is sent as
    ``%3A`` and signed as ``%253A``), as the SigV4 procedure says."""
    # POSIX seconds, not a datetime: the datetime module is ~1.5 ms of every cold start.
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = amz_date[:8]
    signed = {**(headers or {}), "host": host, "x-amz-date": amz_date}
    if service == "s3":
        signed["x-amz-content-sha256"] = payload_sha256
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    names = sorted(signed)
    sent = uri_encode(path)
    canonical = "\n".join(
        [
            method,
            sent if service == "s3" else uri_encode(sent),
            "",
            *(f"{name}:{signed[name].strip()}" for name in names),
            "",
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(canonical.encode())])
    key = _hmac(("AWS4" + credentials.secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = _hmac(key, to_sign).hex()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed
