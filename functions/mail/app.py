"""Account mail: runs the jobs the HTTP functions hand off (reset, verification,
invitation, sign-up notices, password-changed notices and the second session sweep).

Invoked asynchronously (the forgot and sign-up routes answer before any account is
looked up) and synchronously by the admin command line's ``invite``. A failure
raises, so that Lambda retries an asynchronous job (twice).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from authcore.edge.observability import logger, metrics
from authcore.errors import InvalidRequest
from authcore.runtime import accounts

_METRICS = {"reset": "PasswordResetMailSent", "verify": "VerificationMailSent"}


# The job names an account, never a secret; the tokens are made here and leave
# only in the mail itself. Not logged anyway: it holds addresses.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    if not isinstance(event, dict):
        logger.error("mail job is not an object")
        return {"job": "", "outcome": "refused"}
    job = str(event.get("job", ""))
    try:
        outcome = accounts.account_service(sending=True).run(event)
    except InvalidRequest:
        logger.error("unknown mail job", extra={"job": job[:32]})
        return {"job": job[:32], "outcome": "refused"}
    if outcome == "sent":
        metrics.add_metric(name=_METRICS.get(job, "AccountMailSent"), unit="Count", value=1)
    logger.info("mail job", extra={"job": job, "outcome": outcome})
    return {"job": job, "outcome": outcome}
