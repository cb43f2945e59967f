"""CloudWatch embedded metric format: a log line on stdout that *is* a metric.

Written by hand so that the authorizer, which runs before every protected route,
counts its denials without importing Powertools (standard library only). The
shape is the one Powertools' ``Metrics`` writes: the ``_aws`` directive, then the
dimensions, the metric's value and any extra properties as top-level members.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence

from authcore.clock import system_clock

DEFAULT_NAMESPACE = "ServerlessAuth"


def service_dimensions(default_service: str) -> dict[str, str]:
    """``service`` (Powertools' service name) and, when set, ``stack``."""
    dimensions = {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", default_service)}
    if os.environ.get("STACK_NAME"):
        dimensions["stack"] = os.environ["STACK_NAME"]
    return dimensions


def metric_document(
    name: str,
    *,
    dimensions: Mapping[str, str],
    by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
    unit: str = "Count",
    value: float = 1,
    timestamp: float | None = None,
) -> dict[str, object]:
    """One metric, in one dimension set: ``dimensions`` and the ``by`` members of
    ``properties`` (e.g. a reason)."""
    return {
        "_aws": {
            "Timestamp": int((system_clock() if timestamp is None else timestamp) * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE),
                    "Dimensions": [[*dimensions, *by]],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dimensions,
        name: value,
        **(properties or {}),
    }


def put_metric(document: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
