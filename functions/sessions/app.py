"""GET /auth/sessions and DELETE /auth/sessions/{sid}: the caller's own sessions.

Behind the authorizer: the caller is whoever its context names, nothing else.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import http
from authcore.edge.observability import logger, metrics, tracer
from authcore.errors import InvalidToken, NotFound
from authcore.runtime import signing
from authcore.tokens.refresh import is_sid

app = http.new_app()


def _caller() -> tuple[str, str]:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    sub, sid = context.get("sub"), context.get("sid")
    if not isinstance(sub, str) or not isinstance(sid, str) or not sub:
        raise InvalidToken("missing_context")
    return sub, sid


@app.get("/auth/sessions")
def list_sessions() -> Response[Any]:
    sub, sid = _caller()
    return http.json_response(200, {"sessions": signing.session_service().list_sessions(sub, sid)})


@app.delete("/auth/sessions/<sid>")
def revoke_session(sid: str) -> Response[Any]:
    sub, _ = _caller()
    if not is_sid(sid):
        raise NotFound("No such session.")
    signing.session_service().revoke_session(sub, sid)
    metrics.add_metric(name="SessionRevoked", unit="Count", value=1)
    return http.json_response(204)


# log_event pinned, whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries
# the caller's tokens (cookies, Authorization, body).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
