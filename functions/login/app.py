"""POST /auth/login: username + password -> access token + refresh token."""

from __future__ import annotations

from typing import Any

from authcore import credentials, runtime, web
from authcore.devices import DEVICE_COOKIE
from authcore.errors import AccountLocked, InvalidGrant
from authcore.observability import logger, metrics, tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

app = web.new_app("/auth/login")


@app.post("/auth/login")
def login() -> Response[Any]:
    event = app.current_event
    settings = runtime.settings()
    web.require_edge(event, settings)
    # Login CSRF: a hostile page must not log the victim into the attacker's account.
    web.refuse_cross_site(event, settings)
    body = web.json_body(event, required=True)
    username = web.string_field(body, "username", max_length=256) or ""
    password = web.string_field(body, "password", max_length=1024) or ""
    how = web.delivery(body)
    try:
        result = runtime.login_service().login(
            username,
            password,
            issuer=web.issuer(event, settings),
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
    return web.tokens_response(result.tokens, how, device_cookie=result.device_cookie)


# Explicit, whatever the environment says: the event holds the password, and the
# response the tokens.
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
