"""Powertools Logger and Metrics, one instance of each per function, and the X-Ray tracer
when the stack turns tracing on (template parameter ``Tracing``).

Security defaults are set here rather than trusted to the environment: events
are never logged and the tracer never records responses (they carry tokens).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessAuth")

# An error path that adds no metric is normal, not worth a warning per request.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)

logger = Logger(log_uncaught_exceptions=False)
metrics = Metrics()
# Dev and prod stacks in one account and Region would otherwise add up in one
# metric (and trip each other's alarms): every metric carries its stack.
if os.environ.get("STACK_NAME"):
    metrics.set_default_dimensions(stack=os.environ["STACK_NAME"])

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """On only where the template says so (POWERTOOLS_TRACE_DISABLED "false", set when
    the ``Tracing`` parameter is Active or PassThrough). Off when unset: Powertools'
    Tracer imports the X-Ray SDK (~130 ms of every cold start) even when disabled, so
    the only way not to pay for it is not to build one."""
    value = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower()
    return value in ("false", "0", "no", "off")


@cache
def tracer() -> Tracer:
    """The function's one Powertools Tracer (it patches botocore when built, and
    ``trace_aws_calls`` the functions' own clients)."""
    from aws_lambda_powertools import Tracer

    built = Tracer()
    trace_aws_calls(built.provider)
    return built


def trace_aws_calls(provider: Any) -> None:
    """One X-Ray subsegment per AWS call of the functions' clients (``authcore.awsjson``,
    its retries inside), as the X-Ray SDK records botocore's: in the ``aws`` namespace,
    named after the service, with the operation and Region. Never the request nor the
    answer: they carry session ids, digests and signatures."""
    from authcore import awsjson

    untraced = awsjson.Client.request

    def request(
        self: awsjson.Client,
        operation: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        method: str = "POST",
    ) -> awsjson.Answer:
        with provider.in_subsegment(self.service, namespace="aws") as subsegment:
            subsegment.set_aws({"operation": operation, "region": self.region})
            return untraced(self, operation, path, body, headers, method)

    awsjson.Client.request = request  # type: ignore[method-assign]


def traced(handler: Handler, *, capture_error: bool | None = None) -> Handler:
    """``handler`` as a traced Lambda entry point when tracing is on, itself when off.
    Never records the response (it carries tokens). Decided once, at import, as a
    decorator would be."""
    if not tracing_enabled():
        return handler
    wrapped = tracer().capture_lambda_handler(
        handler, capture_response=False, capture_error=capture_error
    )
    return cast("Handler", wrapped)


# Built at import when on, as before: its patching of botocore traces the AWS calls of
# every function, including the ones whose handler is not wrapped (mail, rotation, feed).
if tracing_enabled():
    tracer()
