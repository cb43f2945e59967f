"""GET /api/me: an example protected route.

It trusts only what the authorizer put in the request context; it never parses
the token itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import http
from authcore.edge.observability import logger, tracer
from authcore.errors import InvalidToken

app = http.new_app()


@app.get("/api/me")
def me() -> Response[Any]:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    if not context.get("sub"):
        raise InvalidToken("missing_context")
    return http.json_response(
        200,
        {
            "user": context.get("username", ""),
            "sub": context["sub"],
            "scope": context.get("scope", ""),
        },
    )


# log_event pinned, whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries
# the caller's tokens (cookies, Authorization, body).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
