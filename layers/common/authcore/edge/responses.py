"""One response builder per outcome: tokens, a logout, session listings, JSON,
and the contract's error answers (the status table lives here, once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from authcore.accounts.devices import DEVICE_COOKIE, DEVICE_COOKIE_TTL_SECONDS
from authcore.edge import credentials
from authcore.edge.requests import Caller, Delivery, LogoutRequest, RefreshRequest
from authcore.edge.router import Response
from authcore.errors import (
    AccountLocked,
    AuthError,
    Forbidden,
    InsufficientUserAuthentication,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    MfaRequired,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    TemporarilyUnavailable,
    UnsupportedMediaType,
)
from authcore.keys.publish import JWKS_MAX_AGE_SECONDS
from authcore.records import asdict

if TYPE_CHECKING:
    # Types only: importing them loads PyJWT and cryptography's X.509 (~50 ms), which
    # the routes that issue no token (/api/me, /api/reports) never need.
    from authcore.sessions.service import SessionView
    from authcore.tokens.issue import IssuedClientToken, IssuedTokens

# Most specific class first: the first match wins.
_STATUS: list[tuple[type[AuthError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MethodNotAllowed, 405),
    (InvalidRequest, 400),
    (InvalidGrant, 401),
    (InvalidClient, 401),
    (MfaRequired, 401),
    (InsufficientUserAuthentication, 401),
    (InvalidToken, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AccountLocked, 429),
    (QuotaExceeded, 429),
    (TemporarilyUnavailable, 503),
]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# A planted refresh cookie carries Domain= and so outlives our clearing Set-Cookie
# (host-only); Clear-Site-Data removes the site's cookies, whatever their domain.
# Sent only when cookies were tossed: it also ends sibling apps' cookies.
CLEAR_SITE_COOKIES = {"Clear-Site-Data": '"cookies"'}
# Verifiers may cache the key set for JWKS_MAX_AGE_SECONDS; key rotation publishes
# a new key well before it signs anything, and an emergency revocation leaves this
# answer within JWKS_CACHE_SECONDS, 5 s (docs/keys.md, key rotation arithmetic).
_PUBLIC = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"}


def json(
    status: int,
    body: dict[str, Any] | None = None,
    *,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        status_code=status,
        content_type="application/json" if body is not None else None,
        body=body,
        headers={**_NO_STORE, **(headers or {})},
        cookies=cookies,
    )


def error(refused: AuthError) -> Response:
    status = next(code for cls, code in _STATUS if isinstance(refused, cls))
    headers = {}
    if isinstance(refused, AccountLocked | QuotaExceeded | TemporarilyUnavailable):
        headers["Retry-After"] = str(refused.retry_after)
    if isinstance(refused, MethodNotAllowed):
        headers["Allow"] = refused.allow  # RFC 9110 §15.5.6
    if isinstance(refused, InvalidClient):
        # RFC 6749 §5.2: a 401 names the scheme the client may authenticate with.
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    if isinstance(refused, InvalidGrant | InvalidToken | MfaRequired):
        # RFC 9110 §15.5.2: every 401 names a scheme.
        headers["WWW-Authenticate"] = f'Bearer error="{refused.code}"'
    body: dict[str, Any] = {"error": refused.code, "error_description": refused.description}
    if isinstance(refused, InsufficientUserAuthentication):
        # RFC 9470 §3: the error, and how recent the authentication must be.
        headers["WWW-Authenticate"] = (
            f'Bearer error="{refused.code}", '
            f'error_description="{refused.description}", max_age={refused.max_age}'
        )
    if isinstance(refused, MfaRequired):
        body |= {"mfa_token": refused.mfa_token, "methods": list(refused.methods)}
    return json(status, body, headers=headers)


def tokens(
    issued: IssuedTokens, delivery: Delivery, *, device_cookie: str | None = None
) -> Response:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_expires_in": issued.refresh_expires_in,
    }
    if delivery == "body":
        # Contract §2: body delivery answers with no Set-Cookie at all, so no device
        # cookie either (an API client gets no device exemption from lockouts).
        body["access_token"] = issued.access_token
        body["refresh_token"] = str(issued.refresh_token)
        return json(200, body)
    extra = [_device_cookie(device_cookie)] if device_cookie else []
    cookies = token_cookies(
        issued.access_token,
        issued.expires_in,
        str(issued.refresh_token),
        issued.refresh_expires_in,
    )
    return json(200, body, cookies=cookies + extra)


def refresh_refused(refused: InvalidGrant, request: RefreshRequest) -> Response:
    """A refused refresh token from a cookie is cleared, so the browser stops sending it."""
    response = error(refused)
    if request.delivery == "cookie":
        response.cookies = cleared_cookies()
        if request.tossed:
            response.headers.update(CLEAR_SITE_COOKIES)
    return response


def logged_out(request: LogoutRequest) -> Response:
    """204 with both cookies cleared, whatever was presented (RFC 7009)."""
    headers = CLEAR_SITE_COOKIES if request.tossed else None
    return json(204, cookies=cleared_cookies(), headers=headers)


def public(document: dict[str, Any]) -> Response:
    """A document anyone may cache (the .well-known routes)."""
    return Response(200, "application/json", document, headers=_PUBLIC)


def no_content() -> Response:
    return json(204)


def client_token(issued: IssuedClientToken) -> Response:
    """RFC 6749 §5.1; no refresh token in the client-credentials grant (§4.4.3)."""
    return json(
        200,
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
    )


def accepted() -> Response:
    """202 {}: the same bytes whatever happens next (forgot, sign-up)."""
    return json(202, {})


def sessions(views: Sequence[SessionView]) -> Response:
    return json(200, {"sessions": [asdict(view) for view in views]})


def me(caller: Caller) -> Response:
    return json(200, {"user": caller.username, "sub": caller.sub, "scope": caller.scope})


def reports(caller: Caller) -> Response:
    return json(200, {"reports": [], "client_id": caller.client_id, "scope": caller.scope})


# ------------------------------------------------------------------- cookies
def _cookie(name: str, value: str, path: str, same_site: SameSite, max_age: int) -> Cookie:
    return Cookie(
        name=name,
        value=value,
        path=path,
        secure=True,
        http_only=True,
        same_site=same_site,
        max_age=max_age,
    )


def token_cookies(
    access_token: str, access_ttl: int, refresh_token: str, refresh_ttl: int
) -> list[Cookie]:
    return [
        _cookie(credentials.ACCESS_COOKIE, access_token, "/", SameSite.LAX_MODE, access_ttl),
        _cookie(
            credentials.REFRESH_COOKIE, refresh_token, "/auth", SameSite.STRICT_MODE, refresh_ttl
        ),
    ]


def cleared_cookies() -> list[Cookie]:
    return token_cookies("", 0, "", 0)


def _device_cookie(value: str) -> Cookie:
    """The device cookie (authcore.accounts.devices): ``__Host-`` (this host only, Path=/, no
    Domain, so a sibling subdomain cannot plant one), Secure, HttpOnly (a script
    cannot read it), SameSite=Strict (only login reads it, and login is same-site)."""
    return _cookie(DEVICE_COOKIE, value, "/", SameSite.STRICT_MODE, DEVICE_COOKIE_TTL_SECONDS)
