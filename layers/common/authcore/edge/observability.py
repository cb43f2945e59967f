"""Powertools Logger, Metrics and Tracer: one instance of each per function.

Security defaults are set here rather than trusted to the environment: events
are never logged and the tracer never records responses (they carry tokens).
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

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
tracer = Tracer()
