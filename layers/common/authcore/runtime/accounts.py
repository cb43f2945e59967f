"""The wiring of the account functions (password, sign-up, mail), built once per
container on top of ``runtime.signing``'s. A module of its own so that login and
refresh, which never send mail, do not import it at their cold start.
"""

from __future__ import annotations

from functools import cache

from authcore import aws
from authcore.accounts.mail import LambdaJobs, Mailer, MailJobs, OutboxMailer, SesMailer
from authcore.accounts.service import AccountService
from authcore.runtime import signing


@cache
def mailer() -> Mailer:
    """Locally (LOCAL_OUTBOX_DIR) a directory of JSON files; deployed, Amazon SES."""
    settings = signing.settings()
    if settings.outbox_dir:
        return OutboxMailer(settings.outbox_dir)
    return SesMailer(aws.sesv2(), settings.mail_from_address)


@cache
def mail_jobs() -> MailJobs:
    return LambdaJobs(aws.lambda_client(), signing.settings().mail_function_name)


@cache
def account_service(*, sending: bool = False) -> AccountService:
    """The HTTP routes hand jobs off (``mail_jobs``); the mail function (``sending``)
    sends. Each is built only with what its function may use."""
    return AccountService(
        signing.settings(),
        users=signing.users(),
        passwords=signing.passwords(),
        sessions=signing.session_service(),
        jobs=None if sending else mail_jobs(),
        mailer=mailer() if sending else None,
        clock=signing.clock(),
        on_security_event=signing.security_event,
    )


def reset() -> None:
    """Called by ``signing.reset`` and ``signing.use_clock``."""
    for cached in (mailer, mail_jobs, account_service):
        cached.cache_clear()
