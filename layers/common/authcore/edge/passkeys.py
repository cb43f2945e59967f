"""The passkey routes' requests (contract §8): API Gateway events in, typed requests out.

Only the shape of a WebAuthn response is checked here (the fields of
``PublicKeyCredential.toJSON()``, their types, their lengths): a malformed body is a 400,
judged before anything is read. Whether the response is genuine is the core's business
(``authcore.mfa.passkeys``), and a refusal there is a 401.
"""

from __future__ import annotations

from typing import Any

from authcore.config import Settings
from authcore.edge import credentials, requests
from authcore.edge.requests import Caller, Delivery
from authcore.edge.router import Event
from authcore.errors import InvalidRequest, InvalidToken
from authcore.records import record

# A challenge id is 43 base64url characters; longer input is malformed.
MAX_CHALLENGE_ID_LENGTH = 128
MAX_PASSKEY_NAME_LENGTH = 64
# The longest each base64url field of a response may be. Real ones are far shorter (a
# credential id of 16 to 64 bytes, an ES256 signature of 72, "none" attestation of a few
# hundred); together they fit the 8 KiB a body may have (requests.MAX_BODY_BYTES).
_LIMITS = {
    "id": 512,
    "rawId": 512,
    "clientDataJSON": 1024,
    "attestationObject": 3072,
    "authenticatorData": 512,
    "signature": 768,
    "userHandle": 128,
}
_REGISTRATION_FIELDS = ("clientDataJSON", "attestationObject")
_ASSERTION_FIELDS = ("clientDataJSON", "authenticatorData", "signature")
_MAX_TRANSPORTS = 8
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@record
class RegisterOptionsRequest:
    caller: Caller


@record(repr=False)
class RegisterRequest:
    caller: Caller
    challenge_id: str
    credential: dict[str, Any]
    name: str | None
    own_origin: str


@record
class LoginOptionsRequest:
    username: str | None


@record(repr=False)
class LoginRequest:
    challenge_id: str
    credential: dict[str, Any]
    delivery: Delivery
    issuer: str
    own_origin: str
    user_agent: str


def _signed_in(event: Event) -> Caller:
    """The caller of a registration route: a user's session (never a machine client's
    token) and its username, as the session-checked authorizer put them in the context."""
    who = requests.caller(event)
    if not who.username:
        raise InvalidToken("missing_context")
    return who


def register_options(event: Event) -> RegisterOptionsRequest:
    who = _signed_in(event)
    # A body is optional (there is nothing to send), but if one comes it must be JSON.
    requests.json_body(event, required=False)
    return RegisterOptionsRequest(who)


def register(event: Event, settings: Settings) -> RegisterRequest:
    who = _signed_in(event)
    body = requests.json_body(event, required=True)
    name = requests.string_field(body, "name", max_length=256, required=False)
    return RegisterRequest(
        caller=who,
        challenge_id=_challenge_id(body),
        credential=_credential(body, _REGISTRATION_FIELDS, transports=True),
        name=_passkey_name(name),
        own_origin=credentials.origin_of(requests.issuer(event, settings)),
    )


def login_options(event: Event) -> LoginOptionsRequest:
    body = requests.json_body(event, required=False)
    username = requests.string_field(body, "username", max_length=256, required=False)
    return LoginOptionsRequest(username)


def login(event: Event, settings: Settings) -> LoginRequest:
    issuer = requests.issuer(event, settings)
    own_origin = credentials.origin_of(issuer)
    # Login CSRF, as for POST /auth/login: a hostile page must not sign the victim in
    # (with cookies) as someone else, with an assertion of the attacker's own passkey.
    credentials.check_same_site(event.headers, settings.allowed_origins, own_origin)
    body = requests.json_body(event, required=True)
    return LoginRequest(
        challenge_id=_challenge_id(body),
        credential=_credential(body, _ASSERTION_FIELDS, user_handle=True),
        delivery=requests.delivery(body),
        issuer=issuer,
        own_origin=own_origin,
        user_agent=event.headers.get("user-agent", ""),
    )


def _challenge_id(body: dict[str, Any]) -> str:
    return requests.string_field(body, "challenge_id", max_length=MAX_CHALLENGE_ID_LENGTH) or ""


def _passkey_name(value: str | None) -> str | None:
    """A name the user gives the passkey ("Work laptop"): printable, at most 64
    characters, runs of white space made one space (it is shown back in lists)."""
    if value is None:
        return None
    name = " ".join(value.split())
    if not name or len(name) > MAX_PASSKEY_NAME_LENGTH or not name.isprintable():
        raise InvalidRequest(f"'name' must be 1 to {MAX_PASSKEY_NAME_LENGTH} printable characters.")
    return name


def _base64url(container: dict[str, Any], name: str, *, empty: bool = False) -> None:
    value = container.get(name)
    if (
        not isinstance(value, str)
        or (not value and not empty)
        or len(value) > _LIMITS[name]
        or not _BASE64URL.issuperset(value)
    ):
        raise InvalidRequest(f"'{name}' must be base64url, at most {_LIMITS[name]} characters.")


def _credential(
    body: dict[str, Any],
    fields: tuple[str, ...],
    *,
    transports: bool = False,
    user_handle: bool = False,
) -> dict[str, Any]:
    """The credential's JSON (``PublicKeyCredential.toJSON()``), its shape checked: the
    verifier then only ever sees strings where it expects them."""
    for name in ("id", "rawId"):
        _base64url(body, name)
    if body.get("type") != "public-key":
        raise InvalidRequest("'type' must be \"public-key\".")
    response = body.get("response")
    if not isinstance(response, dict):
        raise InvalidRequest("'response' must be an object.")
    for name in fields:
        _base64url(response, name)
    if transports and "transports" in response:
        value = response["transports"]
        if (
            not isinstance(value, list)
            or len(value) > _MAX_TRANSPORTS
            or not all(isinstance(t, str) and len(t) <= 32 for t in value)
        ):
            raise InvalidRequest("'transports' must be a list of at most 8 short strings.")
    if user_handle and response.get("userHandle") is not None:
        _base64url(response, "userHandle", empty=True)
    attachment = body.get("authenticatorAttachment")
    if attachment is not None and (not isinstance(attachment, str) or len(attachment) > 32):
        raise InvalidRequest("'authenticatorAttachment' must be a short string.")
    # Only what the verifier reads goes on: nothing else of the body (the challenge id,
    # the delivery, the name) reaches it.
    kept_response = {name: response[name] for name in fields}
    if transports and "transports" in response:
        kept_response["transports"] = response["transports"]
    if user_handle and "userHandle" in response:
        kept_response["userHandle"] = response["userHandle"]
    kept: dict[str, Any] = {
        "id": body["id"],
        "rawId": body["rawId"],
        "type": "public-key",
        "response": kept_response,
    }
    if isinstance(attachment, str) and attachment in ("platform", "cross-platform"):
        kept["authenticatorAttachment"] = attachment
    return kept
