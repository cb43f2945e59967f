"""The second factor of a signed-in user (contract §8): POST /auth/mfa/totp (start TOTP
enrolment), POST /auth/mfa/totp/confirm (TOTP on, recovery codes shown once), DELETE
/auth/mfa/totp (off, with a recent second factor), POST /auth/mfa/recovery-codes (a new
set, the old one void). Behind the session-checked authorizer."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InsufficientUserAuthentication, InvalidGrant
from authcore.mfa.service import Authenticated
from authcore.runtime import mfa, signing

app = http.new_app("/auth/mfa/totp/confirm", "/auth/mfa/recovery-codes")
http.only(app, "/auth/mfa/totp", ("POST", "DELETE"))


def _caller() -> Authenticated:
    who = requests.caller(app.current_event)
    return Authenticated(who.sub, who.username, who.amr, who.auth_time)


def _step_up_counted() -> None:
    metrics.add_metric(name="MfaStepUpRequired", unit="Count", value=1)


@app.post("/auth/mfa/totp")
def start() -> Response:
    try:
        enrolment = mfa.mfa_service().start_totp(
            _caller(), issuer_name=signing.settings().totp_issuer_name
        )
    except InsufficientUserAuthentication:
        _step_up_counted()
        raise
    return responses.json(
        200,
        {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.otpauth_uri,
            "otpauth_qr": enrolment.qr,
        },
    )


@app.post("/auth/mfa/totp/confirm")
def confirm() -> Response:
    caller = _caller()
    code = requests.mfa_code(app.current_event)
    try:
        codes = mfa.mfa_service().confirm_totp(caller, code)
    except InvalidGrant:
        metrics.add_metric(name="MfaEnrolmentRefused", unit="Count", value=1)
        raise
    return responses.json(200, {"recovery_codes": codes})


@app.delete("/auth/mfa/totp")
def disable() -> Response:
    try:
        mfa.mfa_service().disable_totp(_caller())
    except InsufficientUserAuthentication:
        _step_up_counted()
        raise
    return responses.no_content()


@app.post("/auth/mfa/recovery-codes")
def regenerate() -> Response:
    try:
        codes = mfa.mfa_service().new_recovery_codes(_caller())
    except InsufficientUserAuthentication:
        _step_up_counted()
        raise
    return responses.json(200, {"recovery_codes": codes})


# The answers hold TOTP secrets and recovery codes: never logged nor traced.
lambda_handler = http.lambda_handler(app, capture_error=False)
