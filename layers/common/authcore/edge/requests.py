"""API Gateway v2 events in, typed requests out: one call per route.

Each builder checks what today's handler checked, in the same order (so the
same error wins when several apply), and answers a frozen record the handler
hands to one service call. Tokens and passwords never show in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus

from authcore.accounts.devices import DEVICE_COOKIE
from authcore.clients.model import ClientAuthentication
from authcore.config import Settings
from authcore.edge import credentials
from authcore.edge.router import Event
from authcore.errors import (
    Forbidden,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    NotFound,
    NoUserSession,
    PayloadTooLarge,
    StrictJSONError,
    UnsupportedMediaType,
)
from authcore.records import record
from authcore.strictjson import loads_object
from authcore.tokens.credential import Credential
from authcore.tokens.refresh import MAX_REFRESH_TOKEN_LENGTH, is_sid

MAX_BODY_BYTES = 8 * 1024
MAX_FIELD_LENGTH = 1024
EDGE_HEADER = "x-origin-verify"
Delivery = Literal["cookie", "body"]


# ------------------------------------------------------------------ requests
@record(repr=False)
class LoginRequest:
    username: str
    password: str
    delivery: Delivery
    issuer: str
    user_agent: str
    device_cookie: str | None


@record(repr=False)
class LoginMfaRequest:
    mfa_token: str
    # Exactly one of the two.
    code: str | None
    recovery_code: str | None
    issuer: str
    user_agent: str


@record(repr=False)
class RefreshRequest:
    """Never empty; several only when the refresh cookie came more than once."""

    presented: tuple[Credential, ...]
    issuer: str

    @property
    def tokens(self) -> list[str]:
        return [credential.value for credential in self.presented]

    @property
    def delivery(self) -> Delivery:
        """The answer goes back the way the token came (contract §2)."""
        return "body" if self.presented[0].via == "body" else "cookie"

    @property
    def tossed(self) -> bool:
        """Several refresh cookies: one was planted (cookie tossing)."""
        return len(self.presented) > 1


@record(repr=False)
class LogoutRequest:
    """``presented`` may be empty: logout answers 204 whatever came (RFC 7009)."""

    presented: tuple[Credential, ...]
    everywhere: bool
    issuer: str

    @property
    def tossed(self) -> bool:
        return len(self.presented) > 1


@record
class Caller:
    """Who the authorizer's context says the caller is; nothing else is trusted.
    A machine client (contract §9) has an empty ``sid`` and ``username``, and its
    ``client_id`` as ``sub``."""

    sub: str
    sid: str
    username: str = ""
    scope: str = ""
    client_id: str = ""
    amr: frozenset[str] = frozenset()
    auth_time: float = 0.0


@record
class RevokeRequest:
    caller: Caller
    sid: str


@record(repr=False)
class PasswordChangeRequest:
    caller: Caller
    current_password: str
    new_password: str


@record(repr=False)
class ForgotRequest:
    """Exactly one of the two."""

    email: str | None
    username: str | None


@record(repr=False)
class ResetRequest:
    token: str
    new_password: str


@record(repr=False)
class SignupRequest:
    username: str
    email: str
    password: str


# Mail tokens are 43 characters; anything up to this length is answered as a
# token that does not work (401), longer input as malformed (400).
MAX_MAIL_TOKEN_LENGTH = 512


def login(event: Event, settings: Settings) -> LoginRequest:
    require_edge(event, settings)
    # Login CSRF: a hostile page must not log the victim into the attacker's account.
    _, issuer = _present(event, settings)
    body = json_body(event, required=True)
    return LoginRequest(
        username=string_field(body, "username", max_length=256) or "",
        password=string_field(body, "password", max_length=1024) or "",
        delivery=delivery(body),
        issuer=issuer,
        user_agent=event.headers.get("user-agent", ""),
        # Browsers and API clients alike send it in the Cookie header.
        device_cookie=credentials.cookie_value(event.cookies, DEVICE_COOKIE),
    )


def login_mfa(event: Event, settings: Settings) -> LoginMfaRequest:
    require_edge(event, settings)
    # The same login-CSRF check as the first step: the second one makes the session.
    _, issuer = _present(event, settings)
    body = json_body(event, required=True)
    code = string_field(body, "code", max_length=64, required=False)
    recovery_code = string_field(body, "recovery_code", max_length=64, required=False)
    if (code is None) == (recovery_code is None):
        raise InvalidRequest("Give either 'code' or 'recovery_code'.")
    return LoginMfaRequest(
        mfa_token=string_field(body, "mfa_token", max_length=128) or "",
        code=code,
        recovery_code=recovery_code,
        issuer=issuer,
        user_agent=event.headers.get("user-agent", ""),
    )


def mfa_code(event: Event) -> str:
    body = json_body(event, required=True)
    return string_field(body, "code", max_length=64) or ""


def refresh(event: Event, settings: Settings) -> RefreshRequest:
    body = json_body(event, required=False)
    # Checked before anything is consumed: a refused request leaves the token valid.
    presented, issuer = _present(event, settings, body=body, refresh_cookie=True)
    if not presented:
        raise InvalidGrant("No refresh token was presented.")
    return RefreshRequest(presented, issuer)


def logout(event: Event, settings: Settings) -> LogoutRequest:
    body = json_body(event, required=False)
    everywhere = bool_field(body, "all")
    # A refresh token (body, else cookie); without one, the access token (header,
    # else cookie) names the session.
    presented, issuer = _present(event, settings, body=body, refresh_cookie=True, access_token=True)
    return LogoutRequest(presented, everywhere, issuer)


def principal(event: Event) -> Caller:
    """Whoever the token speaks for, a user or a machine client (an empty ``sid``):
    for routes that serve both."""
    context = event.authorizer_context
    sub = context.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("missing_context")

    def text(name: str) -> str:
        value = context.get(name, "")
        return value if isinstance(value, str) else ""

    auth_time = context.get("auth_time", 0)
    return Caller(
        sub=sub,
        sid=text("sid"),
        username=text("username"),
        scope=text("scope"),
        client_id=text("client_id"),
        amr=frozenset(text("amr").split()),
        # API Gateway hands REST context values on as strings.
        auth_time=_number(auth_time),
    )


def _number(value: object) -> float:
    try:
        return float(value) if isinstance(value, int | float | str) else 0.0
    except ValueError:
        return 0.0


def caller(event: Event) -> Caller:
    """The caller of a route that acts on a user's session: the authorizer's context
    must name both the user and the session. A machine client's token (no session,
    contract §9) gets 403: the token is valid, this route is not for it."""
    who = principal(event)
    if not who.sid:
        raise NoUserSession
    return who


def me(event: Event) -> Caller:
    # /api/me describes a user (contract §9 lists it among the routes a client's token
    # may not use).
    return caller(event)


def password_change(event: Event) -> PasswordChangeRequest:
    who = caller(event)
    username = event.authorizer_context.get("username")
    if not isinstance(username, str) or not username:
        raise InvalidToken("missing_context")
    body = json_body(event, required=True)
    return PasswordChangeRequest(
        caller=Caller(who.sub, who.sid, username=username, amr=who.amr, auth_time=who.auth_time),
        current_password=string_field(body, "current_password") or "",
        new_password=string_field(body, "new_password") or "",
    )


def forgot(event: Event) -> ForgotRequest:
    body = json_body(event, required=True)
    email = string_field(body, "email", max_length=256, required=False)
    username = string_field(body, "username", max_length=256, required=False)
    if (email is None) == (username is None):
        raise InvalidRequest("Give either 'email' or 'username'.")
    return ForgotRequest(email, username)


def reset(event: Event) -> ResetRequest:
    body = json_body(event, required=True)
    return ResetRequest(
        token=string_field(body, "token", max_length=MAX_MAIL_TOKEN_LENGTH) or "",
        new_password=string_field(body, "new_password") or "",
    )


def signup(event: Event) -> SignupRequest:
    body = json_body(event, required=True)
    return SignupRequest(
        username=string_field(body, "username", max_length=256) or "",
        email=string_field(body, "email", max_length=256) or "",
        password=string_field(body, "password") or "",
    )


def mail_token(event: Event) -> str:
    body = json_body(event, required=True)
    return string_field(body, "token", max_length=MAX_MAIL_TOKEN_LENGTH) or ""


def revoke_session(event: Event, sid: str) -> RevokeRequest:
    who = caller(event)
    if not is_sid(sid):
        raise NotFound("No such session.")
    return RevokeRequest(who, sid)


def issuer(event: Event, settings: Settings) -> str:
    return settings.issuer_for(event.domain_name)


def _present(
    event: Event,
    settings: Settings,
    *,
    body: dict[str, Any] | None = None,
    refresh_cookie: bool = False,
    access_token: bool = False,
) -> tuple[tuple[Credential, ...], str]:
    """What the request presents (``credentials.present``), and the issuer it is for."""
    from_body = None
    if body is not None:
        from_body = string_field(
            body, "refresh_token", max_length=MAX_REFRESH_TOKEN_LENGTH, required=False
        )
    issuer = settings.issuer_for(event.domain_name)
    presented = credentials.present(
        event.headers,
        event.cookies,
        method=event.method,
        allowed_origins=settings.allowed_origins,
        own_origin=credentials.origin_of(issuer),
        body_refresh_token=from_body,
        refresh_cookie=refresh_cookie,
        access_token=access_token,
    )
    return presented, issuer


# ------------------------------------------------------------------- pieces
def require_edge(event: Event, settings: Settings) -> None:
    """Behind the opt-in edge WAF, refuse requests that did not come through it:
    API Gateway stays reachable directly, and the per-IP rate limit would be void."""
    secret = settings.edge_origin_secret
    if secret is None:
        return
    presented = event.headers.get(EDGE_HEADER, "")
    # Constant time: a byte-by-byte timing leak would let the secret be guessed.
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise Forbidden("Requests must come through the API's edge.")


def raw_body(event: Event) -> bytes:
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


def json_body(event: Event, *, required: bool) -> dict[str, Any]:
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


# ------------------------------------------------------------------ OAuth 2.0 forms
FORM_TYPE = "application/x-www-form-urlencoded"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@record(repr=False)
class TokenRequest:
    auth: ClientAuthentication
    grant_type: str
    scope: str | None
    issuer: str


@record(repr=False)
class TokenPresented:
    """An introspection or revocation request: the client, and the token it asks about."""

    auth: ClientAuthentication
    token: str
    issuer: str


def oauth_form(event: Event) -> dict[str, str]:
    """RFC 6749 §3.2: the body is ``application/x-www-form-urlencoded``, and no
    parameter may come twice (two ``scope``s or two ``client_id``s would let a
    proxy and this server read different requests)."""
    data = raw_body(event)
    media_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise UnsupportedMediaType(f"Content-Type must be {FORM_TYPE}.")
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(data))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("Malformed form body.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"'{name[:64]}' is given more than once.")
        if len(value) > MAX_BODY_BYTES:
            raise InvalidRequest(f"'{name[:64]}' is too long.")
        form[name] = value
    return form


def client_authentication(event: Event, form: dict[str, str]) -> ClientAuthentication:
    """Exactly one of RFC 6749 §2.3.1's two methods (Basic, or the secret in the
    form) or RFC 7523's assertion. Two at once is ``invalid_request`` (§2.3: "MUST
    NOT use more than one authentication method"); none is ``invalid_client``."""
    header = event.headers.get("authorization", "")
    scheme, _, credentials_part = header.partition(" ")
    basic = scheme.lower() == "basic"
    methods = [
        basic,
        "client_secret" in form,
        "client_assertion" in form or "client_assertion_type" in form,
    ]
    if sum(methods) > 1:
        raise InvalidRequest("Use one client authentication method, not several.")
    body_client_id = form.get("client_id")
    if basic:
        client_id, secret = _basic_credentials(credentials_part.strip())
        if body_client_id is not None and body_client_id != client_id:
            raise InvalidRequest("client_id differs from the authenticated client.")
        return ClientAuthentication("client_secret_basic", client_id, secret=secret)
    if "client_secret" in form:
        if not body_client_id:
            raise InvalidClient()
        return ClientAuthentication(
            "client_secret_post", body_client_id, secret=form["client_secret"]
        )
    if methods[2]:
        if form.get("client_assertion_type") != _ASSERTION_TYPE or not form.get("client_assertion"):
            raise InvalidRequest("client_assertion_type must be jwt-bearer, with an assertion.")
        return ClientAuthentication(
            "private_key_jwt", body_client_id or "", assertion=form["client_assertion"]
        )
    raise InvalidClient()


def _basic_credentials(encoded: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: base64 of ``id:secret``, each form-encoded *before* base64
    (so ``+`` is a space and ``%2B`` a plus; ``:`` in a secret arrives as ``%3A``)."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient() from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient()
    return unquote_plus(client_id), unquote_plus(secret)


def token_request(event: Event, settings: Settings) -> TokenRequest:
    form = oauth_form(event)
    auth = client_authentication(event, form)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required.")
    return TokenRequest(auth, grant_type, form.get("scope"), issuer(event, settings))


def token_presented(event: Event, settings: Settings) -> TokenPresented:
    form = oauth_form(event)
    auth = client_authentication(event, form)
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required.")
    return TokenPresented(auth, token, issuer(event, settings))
