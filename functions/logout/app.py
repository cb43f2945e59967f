"""POST /auth/logout: revoke this session (or, with {"all": true}, every one)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import credentials, http
from authcore.edge.observability import logger, metrics, tracer
from authcore.errors import InvalidToken
from authcore.runtime import signing

app = http.new_app("/auth/logout")


@app.post("/auth/logout")
def logout() -> Response[Any]:
    event = app.current_event
    settings = signing.settings()
    body = http.json_body(event, required=False)
    everywhere = http.bool_field(body, "all")
    service = signing.session_service()
    tokens, how = http.refresh_tokens(event, body)
    if not tokens:
        # No refresh token: the access token (header, else cookie) names the session.
        token_from_header = credentials.bearer_token(event.headers)
        access = token_from_header or credentials.cookie_value(
            event.cookies, credentials.ACCESS_COOKIE
        )
        if token_from_header is None and access is not None:
            how = "cookie"
        if how == "cookie":
            http.refuse_cross_site(event, settings)
        if access is not None:
            try:
                claims = signing.access_verifier(http.issuer(event, settings)).verify(access)
            except InvalidToken:
                claims = None  # RFC 7009: an unusable token is not an error
            if claims is not None:
                service.logout_with_access_claims(claims, everywhere=everywhere)
    else:
        if how == "cookie":
            http.refuse_cross_site(event, settings)
        service.logout_any(tokens, everywhere=everywhere)
    metrics.add_metric(name="Logout", unit="Count", value=1)
    tossed = how == "cookie" and len(tokens) > 1
    return http.json_response(
        204,
        cookies=http.cleared_cookies(),
        headers=http.CLEAR_SITE_COOKIES if tossed else None,
    )


# log_event pinned, whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries
# the caller's tokens (cookies, Authorization, body).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
