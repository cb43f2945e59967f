"""POST /auth/refresh: rotate the refresh token, issue a new access token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import http
from authcore.edge.observability import logger, metrics, tracer
from authcore.errors import InvalidGrant
from authcore.runtime import signing

app = http.new_app("/auth/refresh")


@app.post("/auth/refresh")
def refresh() -> Response[Any]:
    event = app.current_event
    settings = signing.settings()
    body = http.json_body(event, required=False)
    tokens, how = http.refresh_tokens(event, body)
    if how == "cookie":
        # Checked before anything is consumed: a refused request leaves the token valid.
        http.refuse_cross_site(event, settings)
    if not tokens:
        raise InvalidGrant("No refresh token was presented.")
    try:
        issued = signing.session_service(signing=True).refresh_any(
            tokens, issuer=http.issuer(event, settings)
        )
    except InvalidGrant as error:
        response = http.error_response(error)
        if how == "cookie":
            response.cookies = http.cleared_cookies()
            if len(tokens) > 1:
                response.headers.update(http.CLEAR_SITE_COOKIES)
        return response
    metrics.add_metric(name="RefreshSucceeded", unit="Count", value=1)
    return http.tokens_response(issued, how)


# log_event pinned, whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries
# the caller's tokens (cookies, Authorization, body).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
