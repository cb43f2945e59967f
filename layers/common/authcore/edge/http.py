"""The HTTP edge of the /auth functions: parse API Gateway v2 requests into plain
values, and map results and ``AuthError`` to responses, in one place."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from authcore.accounts.devices import DEVICE_COOKIE, DEVICE_COOKIE_TTL_SECONDS
from authcore.config import Settings
from authcore.edge import credentials
from authcore.edge.observability import logger
from authcore.errors import (
    AccountLocked,
    AuthError,
    Forbidden,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    StrictJSONError,
    TemporarilyUnavailable,
    UnsupportedMediaType,
)
from authcore.strictjson import loads_object
from authcore.tokens.issue import IssuedTokens
from authcore.tokens.refresh import MAX_REFRESH_TOKEN_LENGTH

MAX_BODY_BYTES = 8 * 1024
MAX_FIELD_LENGTH = 1024
Delivery = Literal["cookie", "body"]

# Most specific class first: the first match wins.
_STATUS: list[tuple[type[AuthError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MethodNotAllowed, 405),
    (InvalidRequest, 400),
    (InvalidGrant, 401),
    (InvalidToken, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AccountLocked, 429),
    (TemporarilyUnavailable, 503),
]
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    status: int,
    body: dict[str, Any] | None = None,
    *,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="application/json" if body is not None else None,
        body=body,
        headers={**_NO_STORE, **(headers or {})},
        cookies=cookies,
    )


def error_response(error: AuthError) -> Response[Any]:
    status = next(code for cls, code in _STATUS if isinstance(error, cls))
    headers = {}
    if isinstance(error, AccountLocked | TemporarilyUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = error.allow  # RFC 9110 §15.5.6
    if isinstance(error, InvalidGrant | InvalidToken):
        headers["WWW-Authenticate"] = f'Bearer error="{error.code}"'
    return json_response(
        status, {"error": error.code, "error_description": error.description}, headers=headers
    )


def new_app(*paths: str, allowed: tuple[str, ...] = ("POST",)) -> APIGatewayHttpResolver:
    """A resolver whose every failure is one of the contract's answers."""
    # debug=False whatever POWERTOOLS_DEV says: Powertools' debug mode prints every raw event
    # (passwords, cookies, Authorization headers) to the function's log.
    app = APIGatewayHttpResolver(serializer=_compact_json, debug=False)
    others = [m for m in _ALL_METHODS if m not in allowed]
    for path in paths:

        def method_not_allowed() -> Response[Any]:
            raise MethodNotAllowed("Method not allowed.", allow=", ".join(allowed))

        app.route(path, method=others)(method_not_allowed)

    def handle_auth_error(error: AuthError) -> Response[Any]:
        return error_response(error)

    def handle_unexpected(error: Exception) -> Response[Any]:
        # A bug must not become a 500 with a stack trace: log where it happened
        # (class and line, never the message, which may hold input) and answer 503.
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
        logger.error("unexpected error", extra={"error_type": type(error).__name__, "at": where})
        return error_response(TemporarilyUnavailable())

    def handle_not_found(_: Exception) -> Response[Any]:
        return error_response(NotFound("No such route."))

    app.exception_handler(AuthError)(handle_auth_error)
    app.exception_handler(Exception)(handle_unexpected)
    app.not_found(handle_not_found)
    return app


def _compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


# ------------------------------------------------------------------ requests
def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidRequest("Malformed body.")
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise PayloadTooLarge("Request body too large.")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("Malformed base64 body.") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge("Request body too large.")
    return data


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') != "utf-8":
            return False
    return True


def json_body(event: APIGatewayProxyEventV2, *, required: bool) -> dict[str, Any]:
    data = raw_body(event)
    if not data and not required:
        return {}
    if not _is_json(event.headers.get("content-type")):
        raise UnsupportedMediaType("Content-Type must be application/json.")
    try:
        return loads_object(data)
    except StrictJSONError as exc:
        raise InvalidRequest(f"Malformed JSON body: {exc}.") from None


def string_field(
    body: dict[str, Any], name: str, *, max_length: int = MAX_FIELD_LENGTH, required: bool = True
) -> str | None:
    if name not in body and not required:
        return None
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{name}' must be a non-empty string.")
    if len(value) > max_length:
        raise InvalidRequest(f"'{name}' is too long.")
    return value


def bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean.")
    return value


def delivery(body: dict[str, Any]) -> Delivery:
    value = body.get("delivery", "cookie")
    if value not in ("cookie", "body"):
        raise InvalidRequest('\'delivery\' must be "cookie" or "body".')
    return "body" if value == "body" else "cookie"


def issuer(event: APIGatewayProxyEventV2, settings: Settings) -> str:
    return settings.issuer_for(event.request_context.domain_name)


EDGE_HEADER = "x-origin-verify"


def require_edge(event: APIGatewayProxyEventV2, settings: Settings) -> None:
    """Behind the opt-in edge WAF, refuse requests that did not come through it:
    API Gateway stays reachable directly, and the per-IP rate limit would be void."""
    secret = settings.edge_origin_secret
    if secret is None:
        return
    presented = event.headers.get(EDGE_HEADER, "")
    # Constant time: a byte-by-byte timing leak would let the secret be guessed.
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise Forbidden("Requests must come through the API's edge.")


def refuse_cross_site(event: APIGatewayProxyEventV2, settings: Settings) -> None:
    credentials.check_same_site(
        event.headers,
        settings.allowed_origins,
        credentials.origin_of(issuer(event, settings)),
    )


def refresh_tokens(
    event: APIGatewayProxyEventV2, body: dict[str, Any]
) -> tuple[list[str], Delivery]:
    """The refresh token from the body (API clients), else every candidate of the
    refresh cookie (browsers; several when one was planted, see session_service)."""
    from_body = string_field(
        body, "refresh_token", max_length=MAX_REFRESH_TOKEN_LENGTH, required=False
    )
    if from_body is not None:
        return [from_body], "body"
    return credentials.cookie_values(event.cookies, credentials.REFRESH_COOKIE), "cookie"


# A planted refresh cookie carries Domain= and so outlives our clearing Set-Cookie
# (host-only); Clear-Site-Data removes the site's cookies, whatever their domain.
# Sent only when cookies were tossed: it also ends sibling apps' cookies.
CLEAR_SITE_COOKIES = {"Clear-Site-Data": '"cookies"'}


# ----------------------------------------------------------------- responses
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


def tokens_response(
    issued: IssuedTokens, how: Delivery, *, device_cookie: str | None = None
) -> Response[Any]:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_expires_in": issued.refresh_expires_in,
    }
    if how == "body":
        # Contract §2: body delivery answers with no Set-Cookie at all, so no device
        # cookie either (an API client gets no device exemption from lockouts).
        body["access_token"] = issued.access_token
        body["refresh_token"] = str(issued.refresh_token)
        return json_response(200, body)
    extra = [_device_cookie(device_cookie)] if device_cookie else []
    cookies = token_cookies(
        issued.access_token,
        issued.expires_in,
        str(issued.refresh_token),
        issued.refresh_expires_in,
    )
    return json_response(200, body, cookies=cookies + extra)
