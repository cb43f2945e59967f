"""Powertools Logger, Metrics and Tracer: one instance of each per function.

Security defaults are set here rather than trusted to the environment: events
are never logged and the tracer never records responses (they carry tokens).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ServerlessAuth")

logger = Logger(log_uncaught_exceptions=False)
metrics = Metrics()
tracer = Tracer()
