"""The shape every HTTP function shares: a resolver whose every failure is one of
the contract's answers, and the decorated ``lambda_handler`` in front of it.

Requests are parsed in ``authcore.edge.requests``, answers built in
``authcore.edge.responses``; a function module only routes between them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge import responses
from authcore.edge.observability import logger, metrics, traced
from authcore.edge.router import Response, Router
from authcore.errors import AuthError, MethodNotAllowed, NotFound, TemporarilyUnavailable
from authcore.runtime import snapstart

# The context is Any: Lambda's object, or a test's or a benchmark's stand-in.
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def new_app(*paths: str, allowed: tuple[str, ...] = ("POST",)) -> Router:
    """A resolver whose every failure is one of the contract's answers."""
    app = Router(serializer=_compact_json)
    for path in paths:
        only(app, path, allowed)

    def handle_unexpected(error: Exception) -> Response:
        # A bug must not become a 500 with a stack trace: log where it happened
        # (class and line, never the message, which may hold input) and answer 503.
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
        logger.error("unexpected error", extra={"error_type": type(error).__name__, "at": where})
        return responses.error(TemporarilyUnavailable())

    def handle_not_found() -> Response:
        return responses.error(NotFound("No such route."))

    app.exception_handler(AuthError)(responses.error)
    app.exception_handler(Exception)(handle_unexpected)
    app.not_found(handle_not_found)
    return app


def only(app: Router, path: str, allowed: tuple[str, ...]) -> None:
    """``path`` answers 405 (with ``Allow``) to every method but ``allowed``."""

    def method_not_allowed() -> Response:
        raise MethodNotAllowed("Method not allowed.", allow=", ".join(allowed))

    app.route(path, method=[m for m in _ALL_METHODS if m not in allowed])(method_not_allowed)


def lambda_handler(
    app: Router,
    *,
    with_metrics: bool = True,
    capture_error: bool | None = None,
) -> Handler:
    """The function's entry point: ``app`` behind the logger, metrics and (when the
    stack traces) the tracer.

    Pinned, whatever the environment says (POWERTOOLS_LOGGER_LOG_EVENT,
    POWERTOOLS_TRACER_CAPTURE_RESPONSE): the event is never logged (it carries
    passwords, cookies, Authorization headers and bodies) and the tracer never
    records the response (it carries tokens). Built at import, as a decorator would
    be, so a cold start reads the environment once.

    Under SnapStart, the restore hooks are registered (``authcore.runtime.snapstart``).
    """
    snapstart.install()

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    handler: Handler = metrics.log_metrics(lambda_handler) if with_metrics else lambda_handler
    handler = traced(handler, capture_error=capture_error)
    decorated: Handler = logger.inject_lambda_context(
        handler, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
    )
    return decorated


def _compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
