"""POST /auth/login: username + password -> access token + refresh token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.accounts.devices import DEVICE_COOKIE
from authcore.edge import credentials, http
from authcore.edge.observability import logger, metrics, tracer
from authcore.errors import AccountLocked, InvalidGrant
from authcore.runtime import signing

app = http.new_app("/auth/login")


@app.post("/auth/login")
def login() -> Response[Any]:
    event = app.current_event
    settings = signing.settings()
    http.require_edge(event, settings)
    # Login CSRF: a hostile page must not log the victim into the attacker's account.
    http.refuse_cross_site(event, settings)
    body = http.json_body(event, required=True)
    username = http.string_field(body, "username", max_length=256) or ""
    password = http.string_field(body, "password", max_length=1024) or ""
    how = http.delivery(body)
    try:
        result = signing.login_service().login(
            username,
            password,
            issuer=http.issuer(event, settings),
            user_agent=event.headers.get("user-agent", ""),
            # Browsers and API clients alike send it in the Cookie header.
            device_cookie=credentials.cookie_value(event.cookies, DEVICE_COOKIE),
        )
    except InvalidGrant:
        metrics.add_metric(name="LoginFailed", unit="Count", value=1)
        raise
    except AccountLocked:
        # One per refused attempt: the pressure on locked accounts, not the locks.
        metrics.add_metric(name="LoginLocked", unit="Count", value=1)
        raise
    metrics.add_metric(name="LoginSucceeded", unit="Count", value=1)
    return http.tokens_response(result.tokens, how, device_cookie=result.device_cookie)


# Explicit, whatever the environment says: the event holds the password, and the
# response the tokens.
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
