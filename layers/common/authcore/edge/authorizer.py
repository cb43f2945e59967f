"""API Gateway Lambda authorizer events and answers, as small typed classes.

Light equivalents of Powertools' ``APIGatewayAuthorizerEventV2``,
``APIGatewayAuthorizerTokenEvent``, ``APIGatewayAuthorizerRequestEvent`` and
their responses, without Powertools: the authorizer runs before every protected
route, so its import graph is part of its latency (standard library and light
``authcore`` modules only).

One function serves both API Gateway flavours; the event's shape decides
(``request_class``):

- HTTP API, payload format 2.0 (``"version": "2.0"``): a simple response,
  ``{"isAuthorized": ..., "context": ...}``.
- REST API TOKEN and REQUEST events: an IAM policy. An allow covers the whole
  API (``arn:...:<api>/<stage>/*/*``), so API Gateway's result cache can never
  hand a policy made for one route to another; an unusable token raises
  ``Exception("Unauthorized")``, which REST answers with 401; a cross-site
  cookie request gets an explicit deny of this method only (403).

Route scopes (``ROUTE_SCOPES``, ``Settings.route_scopes``): an HTTP API request
on a route whose scopes the token lacks is refused (403). A REST policy stays
the same whatever method asked, so that its cache stays safe: the whole API is
allowed, and every scoped route the token lacks a scope for is denied explicitly
(an explicit Deny wins over the Allow in IAM's evaluation).

Each request class reads the token its request presents and the issuer it must
come from (``token_and_issuer``), refusing a cookie sent cross-site on an unsafe
method, and shapes the allow and the denial of its flavour.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NoReturn

from authcore.config import RouteScopes, Settings
from authcore.edge import credentials, emf
from authcore.errors import (
    AuthError,
    ConfigError,
    Forbidden,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    IssuerNotConfigured,
    KeysUnconfirmed,
    RevocationFeedStale,
    TemporarilyUnavailable,
)
from authcore.tokens.claims import AccessClaims

log = logging.getLogger("authorizer")
log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))

# API Gateway accepts only strings, numbers and booleans as context values.
Context = dict[str, str | int | float | bool]
Answer = dict[str, Any]

# arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<resource path>
# Compiled by ``re`` (and kept in its cache) on the first REST request only: an HTTP
# API's cold start does not pay for it.
_METHOD_ARN = (
    r"(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9]+/[A-Za-z0-9_$-]+)/[A-Z*]+/.*"
)


NO_ROUTE_SCOPES = RouteScopes()


def context_of(claims: AccessClaims) -> Context:
    # A machine client's token has no sid and no username: empty strings, so that the
    # context has the same keys for everyone (routes tell a client by its empty sid).
    return {
        "sub": claims["sub"],
        "username": claims.get("username", ""),
        "scope": claims.get("scope", ""),
        "sid": claims.get("sid", ""),
        "client_id": claims.get("client_id", ""),
        "exp": claims["exp"],
        # Scalars only in a context: the methods space-separated; 0 when unknown.
        "amr": " ".join(claims.get("amr", ())),
        "auth_time": claims.get("auth_time", 0),
    }


@lru_cache(maxsize=256)
def granted(scope: str) -> frozenset[str]:
    """The scopes of a ``scope`` claim (RFC 6749 §3.3: space-separated)."""
    return frozenset(scope.split())


def lacks_scope(needed: frozenset[str], claims: AccessClaims) -> bool:
    return not needed <= granted(claims.get("scope", ""))


def unauthorized() -> NoReturn:
    # The exact message API Gateway turns into 401 Unauthorized (REST).
    raise Exception("Unauthorized") from None  # noqa: TRY002


# ---------------------------------------------------------------- HTTP API 2.0
class HttpApiRequest:
    """HTTP API, payload format 2.0, simple responses."""

    __slots__ = ("event", "headers")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event
        headers = event.get("headers") or {}
        if "authorization" not in headers:
            # API Gateway lowercases 2.0 header names; an emulator may not. (The
            # Bearer case, with its lowercase name present, skips the copy.)
            headers = {name.lower(): value for name, value in headers.items()}
        self.headers: Mapping[str, str] = headers

    # The rest is read when needed: this runs before every protected route.
    @property
    def request_context(self) -> Mapping[str, Any]:
        context: Mapping[str, Any] = self.event.get("requestContext") or {}
        return context

    @property
    def domain_name(self) -> str | None:
        name: str | None = self.request_context.get("domainName")
        return name

    @property
    def cookies(self) -> list[str] | None:
        cookies: list[str] | None = self.event.get("cookies")
        return cookies

    @property
    def method(self) -> str:
        return str((self.request_context.get("http") or {}).get("method", "")).upper()

    def token_and_issuer(self, settings: Settings) -> tuple[str, str]:
        issuer = settings.issuer or settings.issuer_for(self.domain_name)
        token = credentials.bearer_token(self.headers)
        if token is None:
            token = credentials.cookie_value(self.cookies, credentials.ACCESS_COOKIE)
            if token is None:
                raise InvalidToken("missing_token")
            if self.method not in credentials.SAFE_METHODS:
                # A cookie rides along on cross-site requests; a Bearer header never does.
                credentials.check_same_site(
                    self.headers, settings.allowed_origins, credentials.origin_of(issuer)
                )
        return token, issuer

    def allow(self, claims: AccessClaims, route_scopes: RouteScopes = NO_ROUTE_SCOPES) -> Answer:
        if route_scopes:
            # routeKey is API Gateway's ("GET /api/reports"), never the client's. A
            # cached answer is per route only if routeKey is an identity source too
            # (BearerAuthorizer in template.yaml).
            needed = route_scopes.get(self.event.get("routeKey", ""))
            if needed is not None and lacks_scope(needed, claims):
                raise InsufficientScope
        return {"isAuthorized": True, "context": context_of(claims)}

    @staticmethod
    def deny(event: Mapping[str, Any], denied: Exception) -> Answer:
        return {"isAuthorized": False}


# ---------------------------------------------------------------- REST API
def whole_api(method_arn: object) -> str:
    """``.../<api id>/<stage>/*/*`` from the methodArn of this request."""
    if not isinstance(method_arn, str):
        raise InvalidRequest("malformed methodArn")
    return _whole_api(method_arn)


@lru_cache(maxsize=256)
def _whole_api(method_arn: str) -> str:
    match = re.fullmatch(_METHOD_ARN, method_arn, re.DOTALL)
    if match is None:
        raise InvalidRequest("malformed methodArn")
    return f"{match.group(1)}/*/*"


@lru_cache(maxsize=256)
def rest_route(route_key: str) -> str:
    """A route key as the tail of a REST method ARN: ``GET /api/reports`` ->
    ``GET/api/reports``. ``ANY`` and path variables (``{id}``, ``{proxy+}``) become
    IAM wildcards, which match across ``/`` as well: a Deny errs on the safe side."""
    method, _, path = route_key.partition(" ")
    segments = ["*" if s.startswith("{") and s.endswith("}") else s for s in path.split("/")]
    return ("*" if method == "ANY" else method) + "/".join(segments)


@lru_cache(maxsize=256)
def scope_denials(api: str, scope: str, route_scopes: RouteScopes) -> tuple[str, ...]:
    """The method ARNs (under ``api``, ``arn:...:<api id>/<stage>``) of the scoped routes
    a token with this ``scope`` lacks a scope for. Depends on the token alone, never on
    the request; memoized, since a few scope strings serve most tokens."""
    have = granted(scope)
    return tuple(
        sorted(
            f"{api}/{rest_route(route)}"
            for route, needed in route_scopes.items()
            if not needed <= have
        )
    )


def policy(principal: str, effect: str, resource: str, context: Context | None = None) -> Answer:
    """An IAM policy answer: ``effect`` on ``execute-api:Invoke`` of ``resource``."""
    answer: Answer = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        answer["context"] = context
    return answer


def _bearer(authorization: object) -> str:
    """The token of an ``Authorization`` value, which must use the Bearer scheme."""
    if not isinstance(authorization, str) or not authorization:
        raise InvalidToken("missing_token")
    token = credentials.bearer_token({"authorization": authorization})
    if token is None:
        raise InvalidToken("missing_token")
    return token


class RestTokenRequest:
    """REST API TOKEN authorizer: the identity source's value (normally the
    ``Authorization`` header) and the methodArn."""

    __slots__ = ("event", "resource")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event
        self.resource = whole_api(event.get("methodArn"))

    def issuer(self, settings: Settings) -> str:
        if not settings.issuer:
            # A REST API's domain is not the issuer's: deriving the issuer from it
            # would make the authorizer trust whatever that API's domain serves.
            raise IssuerNotConfigured("ISSUER is not set")
        return settings.issuer

    def token_and_issuer(self, settings: Settings) -> tuple[str, str]:
        issuer = self.issuer(settings)
        return _bearer(self.event.get("authorizationToken")), issuer

    def allow(self, claims: AccessClaims, route_scopes: RouteScopes = NO_ROUTE_SCOPES) -> Answer:
        answer = policy(claims["sub"], "Allow", self.resource, context_of(claims))
        if route_scopes:
            # Not a refusal of this request's route: API Gateway caches the policy by
            # token and reuses it for every route, so it must name every scoped route.
            api = self.resource[: -len("/*/*")]
            denied = scope_denials(api, claims.get("scope", ""), route_scopes)
            if denied:
                answer["policyDocument"]["Statement"].append(
                    {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": list(denied)}
                )
        return answer

    @staticmethod
    def deny(event: Mapping[str, Any], denied: Exception) -> Answer:
        if isinstance(denied, Forbidden):
            # A valid credential used cross-site: 403 for this method only (a
            # cached deny must not lock the user out of the rest of the API).
            return policy("anonymous", "Deny", event["methodArn"])
        unauthorized()


class RestRequest(RestTokenRequest):
    """REST API REQUEST authorizer: headers (every value of each), method, methodArn."""

    __slots__ = ()

    def headers(self) -> dict[str, list[str]]:
        """Every value of every header, names lowercased. REST keeps the client's
        spelling of names and, in ``headers``, only the last of repeated headers:
        ``multiValueHeaders`` is the complete view."""
        multi = self.event.get("multiValueHeaders")
        if isinstance(multi, dict) and multi:
            pairs = [(name, v) for name, vs in multi.items() if isinstance(vs, list) for v in vs]
        else:
            pairs = list((self.event.get("headers") or {}).items())
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            if isinstance(name, str) and isinstance(value, str):
                values.setdefault(name.lower(), []).append(value)
        return values

    @property
    def method(self) -> str:
        event = self.event
        method = event.get("httpMethod") or (event.get("requestContext") or {}).get("httpMethod")
        return str(method or "").upper()

    def token_and_issuer(self, settings: Settings) -> tuple[str, str]:
        issuer = self.issuer(settings)
        headers = self.headers()
        authorization = headers.get("authorization")
        if authorization:
            if len(authorization) > 1:
                raise InvalidRequest("more than one Authorization header")
            return _bearer(authorization[0]), issuer
        # No cookies list here (that is 2.0): the raw Cookie header(s), "a=1; b=2".
        token = credentials.cookie_value(headers.get("cookie"), credentials.ACCESS_COOKIE)
        if token is None:
            raise InvalidToken("missing_token")
        if self.method not in credentials.SAFE_METHODS:
            allowed, own_origin = settings.allowed_origins, credentials.origin_of(issuer)
            # A browser sends each of these once; every value sent must pass.
            for origin in headers.get("origin", []):
                credentials.check_same_site({"origin": origin}, allowed, own_origin)
            for site in headers.get("sec-fetch-site", []):
                credentials.check_same_site({"sec-fetch-site": site}, allowed, own_origin)
        return token, issuer


AuthorizerRequest = HttpApiRequest | RestTokenRequest


def request_class(event: Mapping[str, Any]) -> type[HttpApiRequest] | type[RestTokenRequest] | None:
    """The class that reads this event, by its shape; None for any other event."""
    if event.get("version") == "2.0":
        return HttpApiRequest
    kind = event.get("type")
    if kind == "TOKEN":
        return RestTokenRequest
    if kind == "REQUEST":
        return RestRequest
    return None


def read(event: object) -> AuthorizerRequest:
    """The typed request of an authorizer event: ``InvalidRequest`` for any other
    event, or for a REST event without a usable methodArn."""
    if isinstance(event, dict):
        if event.get("version") == "2.0":  # the common case, without a further call
            return HttpApiRequest(event)
        kind = request_class(event)
        if kind is not None:
            return kind(event)
    raise InvalidRequest("unrecognised event shape")


def deny(event: object, denied: Exception) -> Answer:
    """The answer of a denial, in the event's flavour (REST: raises, for a 401)."""
    if isinstance(event, dict):
        kind = request_class(event)
        if kind is not None:
            return kind.deny(event, denied)
    unauthorized()


# ---------------------------------------------------------------- denials
def log_denial(denied: Exception) -> None:
    """One log line and one ``AuthorizerDenied`` metric (by reason) per denial.
    Reasons and class names only: never a token, a cookie or a library's message."""
    level, fields = logging.INFO, {"message": "denied"}
    if isinstance(denied, KeysUnconfirmed):
        # Fail closed: the ring may still hold a revoked key. Every refusal here
        # is an outage of the key source: say so loudly (the metric's reason too).
        level = logging.ERROR
        fields["reason"] = denied.reason
        fields["detail"] = "the signing keys could not be re-confirmed: request refused"
    elif isinstance(denied, RevocationFeedStale):
        # Fail closed as well: the feed is down or unreadable (docs/revocation.md).
        level = logging.ERROR
        fields["reason"] = denied.reason
        fields["detail"] = "the revocation feed could not be read: request refused"
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
        # NoUserSession and InsufficientScope say more than their 403's code.
        fields["reason"] = getattr(denied, "reason", denied.code)
    else:
        fields["reason"] = "error"
        fields["error_type"] = type(denied).__name__
    log.log(level, json.dumps(fields))
    # The log line *is* the metric. Allowed requests are the function's
    # Invocations minus these.
    emf.put_metric(
        emf.metric_document(
            "AuthorizerDenied",
            dimensions=emf.service_dimensions("authorizer"),
            by=("reason",),
            properties=fields,
        )
    )
