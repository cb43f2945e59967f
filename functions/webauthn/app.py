"""Passkeys (contract §8): POST /auth/webauthn/register/options and /register (signed in,
session-checked), POST /auth/webauthn/login/options and /login (anyone)."""

from __future__ import annotations

from authcore.edge import http, passkeys, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InvalidGrant
from authcore.mfa.passkeys import CeremonyOptions
from authcore.runtime import passkeys as runtime
from authcore.runtime import signing

app = http.new_app(
    "/auth/webauthn/register/options",
    "/auth/webauthn/register",
    "/auth/webauthn/login/options",
    "/auth/webauthn/login",
)


def _options(options: CeremonyOptions) -> Response:
    return responses.json(
        200, {"challenge_id": options.challenge_id, "publicKey": options.public_key}
    )


@app.post("/auth/webauthn/register/options")
def register_options() -> Response:
    request = passkeys.register_options(app.current_event)
    caller = request.caller
    options = runtime.passkey_service().registration_options(
        user_id=caller.sub, username=caller.username, amr=caller.amr, auth_time=caller.auth_time
    )
    return _options(options)


@app.post("/auth/webauthn/register")
def register() -> Response:
    request = passkeys.register(app.current_event, signing.settings())
    registered = runtime.passkey_service().register(
        user_id=request.caller.sub,
        username=request.caller.username,
        challenge_id=request.challenge_id,
        credential=request.credential,
        name=request.name,
        own_origin=request.own_origin,
    )
    metrics.add_metric(name="PasskeyRegistered", unit="Count", value=1)
    return responses.json(
        201,
        {
            "credential_id": registered.credential_id,
            "name": registered.name,
            "backed_up": registered.backed_up,
        },
    )


@app.post("/auth/webauthn/login/options")
def login_options() -> Response:
    request = passkeys.login_options(app.current_event)
    return _options(runtime.passkey_service().login_options(request.username))


@app.post("/auth/webauthn/login")
def login() -> Response:
    request = passkeys.login(app.current_event, signing.settings())
    try:
        issued = runtime.passkey_service().login(
            challenge_id=request.challenge_id,
            credential=request.credential,
            issuer=request.issuer,
            own_origin=request.own_origin,
            user_agent=request.user_agent,
        )
    except InvalidGrant:
        metrics.add_metric(name="PasskeyLoginFailed", unit="Count", value=1)
        raise
    metrics.add_metric(name="PasskeyLoginSucceeded", unit="Count", value=1)
    return responses.tokens(issued, request.delivery)


# The responses carry tokens and the requests signed assertions: neither is logged nor
# traced, nor the error.
lambda_handler = http.lambda_handler(app, capture_error=False)
