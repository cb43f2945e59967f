"""Advances the signing-key lifecycle.

Invoked by an EventBridge schedule (the rotation interval) and once at deploy
time by a CloudFormation custom resource, which bootstraps the first keys so
that login can sign from the first request.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge.observability import logger, metrics
from authcore.records import asdict
from authcore.runtime import signing


def _answer_cloudformation(event: dict[str, Any], status: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "see the function's logs",
            "PhysicalResourceId": event.get("PhysicalResourceId") or "signing-key-ring",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - a pre-signed https URL from CloudFormation
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


# log_event pinned, whatever the environment says: a CloudFormation event carries
# a pre-signed response URL.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from_cloudformation = "RequestType" in event
    if from_cloudformation and event["RequestType"] == "Delete":
        # Keys outlive the stack on purpose (tokens, audits); nothing to undo.
        if "ResponseURL" in event:
            _answer_cloudformation(event, "SUCCESS")
        return {"status": "kept"}
    try:
        report = signing.key_lifecycle().rotate()
    except Exception as error:
        logger.error("key rotation failed", extra={"error_type": type(error).__name__})
        if from_cloudformation and "ResponseURL" in event:
            _answer_cloudformation(event, "FAILED", "key rotation failed")
        raise
    outcome = {f"keys_{name}": value for name, value in asdict(report).items()}
    logger.info("key rotation", extra=outcome)
    if report.promoted:
        metrics.add_metric(name="SigningKeyPromoted", unit="Count", value=1)
    if from_cloudformation and "ResponseURL" in event:
        _answer_cloudformation(event, "SUCCESS")
    return asdict(report)
