"""Passwords: POST /auth/password (change, signed in), /auth/password/forgot (ask
for a reset mail) and /auth/password/reset (set a new one with a mailed token)."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InvalidGrant
from authcore.runtime import accounts

app = http.new_app("/auth/password", "/auth/password/forgot", "/auth/password/reset")


@app.post("/auth/password")
def change() -> Response:
    request = requests.password_change(app.current_event)
    try:
        accounts.account_service().change_password(
            sub=request.caller.sub,
            sid=request.caller.sid,
            username=request.caller.username,
            current=request.current_password,
            new=request.new_password,
            amr=request.caller.amr,
            auth_time=request.caller.auth_time,
        )
    except InvalidGrant:
        metrics.add_metric(name="PasswordChangeFailed", unit="Count", value=1)
        raise
    return responses.no_content()


@app.post("/auth/password/forgot")
def forgot() -> Response:
    request = requests.forgot(app.current_event)
    accounts.account_service().forgot_password(email=request.email, username=request.username)
    # Counted here for every request; the mail function counts the mails sent.
    metrics.add_metric(name="PasswordResetRequested", unit="Count", value=1)
    return responses.accepted()


@app.post("/auth/password/reset")
def reset() -> Response:
    request = requests.reset(app.current_event)
    try:
        accounts.account_service().reset_password(request.token, request.new_password)
    except InvalidGrant:
        metrics.add_metric(name="PasswordResetRefused", unit="Count", value=1)
        raise
    return responses.no_content()


# The events hold passwords and tokens: neither is logged nor traced, nor the error.
lambda_handler = http.lambda_handler(app, capture_error=False)
