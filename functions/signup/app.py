"""Sign-up (POST /auth/signup, only with SIGNUP_ENABLED=true) and the confirmation
of an address (POST /auth/email/verify, with the token the verification mail carried)."""

from __future__ import annotations

from authcore.edge import http, requests, responses
from authcore.edge.observability import metrics
from authcore.edge.router import Response
from authcore.errors import InvalidGrant, MethodNotAllowed, NotFound
from authcore.runtime import accounts, signing

app = http.new_app("/auth/email/verify")


@app.route("/auth/signup", method=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def signup_other_methods() -> Response:
    # Closed, the route does not exist for any method: a 405 would say it does.
    if not signing.settings().signup_enabled:
        raise NotFound("No such route.")
    raise MethodNotAllowed("Method not allowed.", allow="POST")


@app.post("/auth/signup")
def signup() -> Response:
    if not signing.settings().signup_enabled:
        # Checked before the body: a closed sign-up reveals nothing, not even its rules.
        raise NotFound("No such route.")
    request = requests.signup(app.current_event)
    accounts.account_service().signup(
        username=request.username, email=request.email, password=request.password
    )
    metrics.add_metric(name="SignupRequested", unit="Count", value=1)
    return responses.accepted()


@app.post("/auth/email/verify")
def verify_email() -> Response:
    token = requests.mail_token(app.current_event)
    try:
        accounts.account_service().verify_email(token)
    except InvalidGrant:
        metrics.add_metric(name="EmailVerificationRefused", unit="Count", value=1)
        raise
    return responses.no_content()


lambda_handler = http.lambda_handler(app, capture_error=False)
