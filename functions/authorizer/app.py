"""API Gateway Lambda authorizer: verification of access tokens, stateless or
session-checked.

One code, two modes (``AUTHORIZER_MODE``), deployed as two functions:

- ``stateless`` (the default): signature and claims only, no I/O. A logout takes
  effect when the access token expires.
- ``session``: additionally, the token's session must be live in the sessions
  table (``authcore.sessions.check``: one cached GetItem), so a logout takes
  effect within ``REVOCATION_MAX_LAG_SECONDS``. When DynamoDB fails, the request
  is refused.

One function for both API Gateway flavours; the event's shape decides:

- HTTP API, payload format 2.0 (``"version": "2.0"``): a simple response,
  ``{"isAuthorized": ..., "context": ...}``.
- REST API TOKEN and REQUEST events: an IAM policy. An allow covers the whole
  API (``arn:...:<api>/<stage>/*/*``), so API Gateway's result cache can never
  hand a policy made for one route to another; an unusable token raises
  ``Exception("Unauthorized")``, which REST answers with 401; a cross-site
  cookie request gets an explicit deny of this method only (403).

It runs before every protected route, so its import graph is part of its
latency: standard library, ``cryptography`` and the light modules of
``authcore`` only. No Powertools, no PyJWT, and no boto3 unless in session mode
(imported when the first session check builds its client). Keys come from the
keys table, read directly with one hand-signed ``Query`` (``authcore.keys.source``):
never through the public, throttled JWKS route, which anyone can make fail, and
which a ring that fails closed must therefore not depend on. ``JWKS_URL`` (or,
without a keys table, ``$ISSUER/.well-known/jwks.json``) names a JWKS instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.edge import credentials
from authcore.errors import (
    AuthError,
    ConfigError,
    Forbidden,
    InvalidRequest,
    InvalidToken,
    IssuerNotConfigured,
    KeysUnconfirmed,
    TemporarilyUnavailable,
)
from authcore.keys.ring import RELOAD_INTERVAL_SECONDS, KeyRing, fetch_jwks
from authcore.tokens.claims import AccessClaims
from authcore.tokens.verify import AccessTokenVerifier

if TYPE_CHECKING:
    from authcore.sessions.check import SessionChecker

log = logging.getLogger("authorizer")
log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))

DENY: dict[str, Any] = {"isAuthorized": False}
Context = dict[str, str | int | float | bool]

# arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<resource path>
_METHOD_ARN = re.compile(
    r"(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9]+/[A-Za-z0-9_$-]+)/[A-Z*]+/.*",
    re.DOTALL,
)


_clock: Clock = system_clock


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def key_ring() -> KeyRing:
    """One ring per container, whatever the request's host: with ``IssuerUrl``
    empty behind a wildcard domain every new ``Host`` is a new issuer, and a ring
    per issuer would let anyone turn each request into a key read."""
    config = settings()
    source: Any
    if config.jwks_url:
        jwks_url = config.jwks_url
        source = lambda: fetch_jwks(jwks_url)  # noqa: E731
    elif config.keys_table:
        from authcore.keys.source import KeysTableSource

        source = KeysTableSource(config.keys_table)
    elif config.issuer:
        jwks_url = f"{config.issuer}/.well-known/jwks.json"
        source = lambda: fetch_jwks(jwks_url)  # noqa: E731
    else:
        raise ConfigError("set KEYS_TABLE (or JWKS_URL, or ISSUER) to tell where the keys are")
    ring = KeyRing(
        source,
        clock=_clock,
        max_age=config.key_ring_max_age,
        reload_interval=min(RELOAD_INTERVAL_SECONDS, config.key_ring_max_age),
    )
    ring.load()
    return ring


# Issuers differ only by the request's host (IssuerUrl empty): each verifier holds
# just its issuer and a cache of verified tokens, over the one shared ring, so a
# spray of new hosts costs a few microseconds each and never a key read.
@lru_cache(maxsize=8)
def verifier_for(issuer: str) -> AccessTokenVerifier:
    config = settings()
    return AccessTokenVerifier(
        key_ring(),
        issuer=issuer,
        audience=config.audience,
        max_lifetime=config.access_ttl,
        leeway=config.leeway,
        clock=_clock,
    )


@lru_cache(maxsize=1)
def session_checker() -> SessionChecker | None:
    """The session check in session mode, else None. Imported and built on first
    use, so the stateless mode never loads it (nor boto3 behind it)."""
    config = settings()
    if config.authorizer_mode != "session":
        return None
    from authcore.sessions import check as session_check

    reader = session_check.dynamo_reader(config.sessions_table_name)
    return session_check.SessionChecker(
        reader, max_lag=config.revocation_max_lag, leeway=config.leeway, clock=_clock
    )


def reset(clock: Clock = system_clock) -> None:
    """Forget configuration, keys and the session cache: a new container (tests,
    benchmarks), whose key ring, verifier and session check run on ``clock``."""
    global _clock
    _clock = clock
    settings.cache_clear()
    key_ring.cache_clear()
    verifier_for.cache_clear()
    session_checker.cache_clear()
    loaded = sys.modules.get("authcore.sessions.check")
    if loaded is not None:
        loaded.dynamodb_client.cache_clear()


def authorize_claims(token: str, issuer: str) -> AccessClaims:
    """The claims of a token this authorizer accepts: verified, and in session
    mode, of a live session."""
    claims = verifier_for(issuer).verify(token)
    checker = session_checker()
    if checker is not None:
        checker.check(claims)
    return claims


def _context(claims: AccessClaims) -> Context:
    # API Gateway accepts only strings, numbers and booleans as context values.
    return {
        "sub": claims["sub"],
        "username": claims.get("username", ""),
        "scope": claims.get("scope", ""),
        "sid": claims["sid"],
        "client_id": claims.get("client_id", ""),
        "exp": claims["exp"],
    }


# ---------------------------------------------------------------- HTTP API 2.0
def authorize_http(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP API, payload format 2.0, simple responses."""
    headers = event.get("headers") or {}
    if "authorization" not in headers:
        # API Gateway lowercases 2.0 header names; an emulator may not. (The
        # Bearer case, with its lowercase name present, skips the copy.)
        headers = {name.lower(): value for name, value in headers.items()}
    request_context = event.get("requestContext") or {}
    config = settings()
    issuer = config.issuer_for(request_context.get("domainName"))
    token = credentials.bearer_token(headers)
    if token is None:
        token = credentials.cookie_value(event.get("cookies"), credentials.ACCESS_COOKIE)
        if token is None:
            raise InvalidToken("missing_token")
        method = str((request_context.get("http") or {}).get("method", "")).upper()
        if method not in credentials.SAFE_METHODS:
            # A cookie rides along on cross-site requests; a Bearer header never does.
            credentials.check_same_site(
                headers, config.allowed_origins, credentials.origin_of(issuer)
            )
    claims = authorize_claims(token, issuer)
    return {"isAuthorized": True, "context": _context(claims)}


# ---------------------------------------------------------------- REST API
def whole_api(method_arn: object) -> str:
    """``.../<api id>/<stage>/*/*`` from the methodArn of this request."""
    if not isinstance(method_arn, str):
        raise InvalidRequest("malformed methodArn")
    return _whole_api(method_arn)


@lru_cache(maxsize=256)
def _whole_api(method_arn: str) -> str:
    match = _METHOD_ARN.fullmatch(method_arn)
    if match is None:
        raise InvalidRequest("malformed methodArn")
    return f"{match.group(1)}/*/*"


def _rest_headers(event: dict[str, Any]) -> dict[str, list[str]]:
    """Every value of every header, names lowercased. REST keeps the client's
    spelling of names and, in ``headers``, only the last of repeated headers:
    ``multiValueHeaders`` is the complete view."""
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        pairs = [(name, v) for name, vs in multi.items() if isinstance(vs, list) for v in vs]
    else:
        pairs = list((event.get("headers") or {}).items())
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if isinstance(name, str) and isinstance(value, str):
            values.setdefault(name.lower(), []).append(value)
    return values


def _bearer(authorization: object) -> str:
    """The token of an ``Authorization`` value, which must use the Bearer scheme."""
    if not isinstance(authorization, str) or not authorization:
        raise InvalidToken("missing_token")
    token = credentials.bearer_token({"authorization": authorization})
    if token is None:
        raise InvalidToken("missing_token")
    return token


def _rest_request_token(event: dict[str, Any], issuer: str, config: Settings) -> str:
    headers = _rest_headers(event)
    authorization = headers.get("authorization")
    if authorization:
        if len(authorization) > 1:
            raise InvalidRequest("more than one Authorization header")
        return _bearer(authorization[0])
    # No cookies list here (that is 2.0): the raw Cookie header(s), "a=1; b=2".
    token = credentials.cookie_value(headers.get("cookie"), credentials.ACCESS_COOKIE)
    if token is None:
        raise InvalidToken("missing_token")
    method = event.get("httpMethod") or (event.get("requestContext") or {}).get("httpMethod")
    if str(method or "").upper() not in credentials.SAFE_METHODS:
        allowed, own_origin = config.allowed_origins, credentials.origin_of(issuer)
        # A browser sends each of these once; every value sent must pass.
        for origin in headers.get("origin", []):
            credentials.check_same_site({"origin": origin}, allowed, own_origin)
        for site in headers.get("sec-fetch-site", []):
            credentials.check_same_site({"sec-fetch-site": site}, allowed, own_origin)
    return token


def authorize_rest(event: dict[str, Any]) -> dict[str, Any]:
    """REST API TOKEN or REQUEST authorizer: an IAM policy for the whole API."""
    resource = whole_api(event.get("methodArn"))
    config = settings()
    if not config.issuer:
        # A REST API's domain is not the issuer's: deriving the issuer from it
        # would make the authorizer trust whatever that API's domain serves.
        raise IssuerNotConfigured("ISSUER is not set")
    issuer = config.issuer
    if event.get("type") == "TOKEN":
        # The identity source's value, normally the Authorization header.
        token = _bearer(event.get("authorizationToken"))
    else:
        token = _rest_request_token(event, issuer, config)
    claims = authorize_claims(token, issuer)
    return policy(claims["sub"], "Allow", resource, _context(claims))


def policy(
    principal: str, effect: str, resource: str, context: Context | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        answer["context"] = context
    return answer


# ---------------------------------------------------------------- entry point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        event = {}
    if event.get("version") == "2.0":
        try:
            return authorize_http(event)
        except Exception as denied:
            _log_denial(denied)
        return DENY
    if event.get("type") in ("TOKEN", "REQUEST"):
        try:
            return authorize_rest(event)
        except Forbidden as denied:
            # A valid credential used cross-site: 403 for this method only (a
            # cached deny must not lock the user out of the rest of the API).
            _log_denial(denied)
            return policy("anonymous", "Deny", event["methodArn"])
        except Exception as denied:
            _log_denial(denied)
    else:
        _log_denial(InvalidRequest("unrecognised event shape"))
    # The exact message API Gateway turns into 401 Unauthorized.
    raise Exception("Unauthorized")  # noqa: TRY002


def _log_denial(denied: Exception) -> None:
    # Reasons and class names only: never a token, a cookie or a library's message.
    level, fields = logging.INFO, {"message": "denied"}
    if isinstance(denied, KeysUnconfirmed):
        # Fail closed: the ring may still hold a revoked key. Every refusal here
        # is an outage of the key source: say so loudly (the metric's reason too).
        level = logging.ERROR
        fields["reason"] = denied.reason
        fields["detail"] = "the signing keys could not be re-confirmed: request refused"
    elif isinstance(denied, InvalidToken):
        fields["reason"] = denied.reason
    elif isinstance(denied, IssuerNotConfigured):
        # Every REST request is refused until someone sets it: say so loudly.
        level = logging.ERROR
        fields["reason"] = "issuer_not_configured"
        fields["detail"] = "set ISSUER (the IssuerUrl parameter) to authorize REST API requests"
    elif isinstance(denied, TemporarilyUnavailable):
        # Only the session check has a dependency on the request path. Refusing is
        # the point (fail closed), but every refusal here is an outage: say so loudly.
        level = logging.ERROR
        fields["reason"] = "session_check_unavailable"
        fields["cause"] = getattr(denied, "cause", type(denied).__name__)
        fields["detail"] = "the sessions table could not be read: request refused (fail closed)"
    elif isinstance(denied, ConfigError):
        level = logging.ERROR
        fields["reason"] = "configuration"
        fields["detail"] = str(denied)  # names variables, never a secret's value
    elif isinstance(denied, AuthError):
        fields["reason"] = denied.code
    else:
        fields["reason"] = "error"
        fields["error_type"] = type(denied).__name__
    log.log(level, json.dumps(fields))
    _denied_metric(fields)


def _denied_metric(fields: dict[str, str]) -> None:
    """One CloudWatch embedded-metric-format line per denial: the log line *is* the
    metric (AuthorizerDenied by reason), with no Powertools import on the hot path.
    Allowed requests are the function's Invocations minus these."""
    dimensions = {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "authorizer")}
    if os.environ.get("STACK_NAME"):
        dimensions["stack"] = os.environ["STACK_NAME"]
    document = {
        "_aws": {
            "Timestamp": int(system_clock() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ServerlessAuth"),
                    "Dimensions": [[*dimensions, "reason"]],
                    "Metrics": [{"Name": "AuthorizerDenied", "Unit": "Count"}],
                }
            ],
        },
        **dimensions,
        "AuthorizerDenied": 1,
        **fields,
    }
    sys.stdout.write(json.dumps(document) + "\n")
