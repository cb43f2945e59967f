"""POST /auth/login: username + password -> access token + refresh token; or, for an
account with a second factor, 401 mfa_required and POST /auth/login/mfa to finish."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import AccountLocked, InvalidGrant, MfaRequired
from authcore.runtime import signing

app = http.new_app("/auth/login", "/auth/login/mfa")


@app.post("/auth/login")
def login() -> Response:
    request = requests.login(app.current_event, signing.settings())
    try:
        result = signing.login_service().login(
            request.username,
            request.password,
            issuer=request.issuer,
            user_agent=request.user_agent,
            device_cookie=request.device_cookie,
            delivery=request.delivery,
        )
    except InvalidGrant:
        metrics.add_metric(name="LoginFailed", unit="Count", value=1)
        raise
    except AccountLocked:
        # One per refused attempt: the pressure on locked accounts, not the locks.
        metrics.add_metric(name="LoginLocked", unit="Count", value=1)
        raise
    except MfaRequired:
        metrics.add_metric(name="LoginMfaRequired", unit="Count", value=1)
        raise
    metrics.add_metric(name="LoginSucceeded", unit="Count", value=1)
    return responses.tokens(result.tokens, request.delivery, device_cookie=result.device_cookie)


@app.post("/auth/login/mfa")
def second_step() -> Response:
    # pyotp and the KMS wiring only for the second step, not at every cold start.
    from authcore.runtime import mfa

    request = requests.login_mfa(app.current_event, signing.settings())
    try:
        result = mfa.mfa_service().complete_login(
            request.mfa_token,
            code=request.code,
            recovery_code=request.recovery_code,
            issuer=request.issuer,
            user_agent=request.user_agent,
        )
    except InvalidGrant:
        metrics.add_metric(name="LoginMfaFailed", unit="Count", value=1)
        raise
    except AccountLocked:
        metrics.add_metric(name="LoginMfaLocked", unit="Count", value=1)
        raise
    metrics.add_metric(name="LoginSucceeded", unit="Count", value=1)
    return responses.tokens(result.tokens, result.delivery)


# The event holds the password and the response the tokens: neither is logged nor
# traced, and the tracer records no error either (its message may quote input).
lambda_handler = http.lambda_handler(app, capture_error=False)
