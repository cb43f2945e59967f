"""Account mail: what each mail says, the ``Mailer`` port with its two adapters
(Amazon SES v2 when deployed, a directory of JSON files locally), and the hand-off
of mail jobs to the function that sends them.

Every link is built from the configured ``APP_URL``, never from a request's
``Host`` or ``X-Forwarded-Host``: a forged header would otherwise send the owner a
genuine reset link pointing at the attacker's site (password-reset poisoning).
Each text says what happened and what to do if it was not the reader.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from authcore.aws import unavailable_on_error
from authcore.awsjson import adapt
from authcore.records import record

if TYPE_CHECKING:
    from types_boto3_lambda import LambdaClient
    from types_boto3_sesv2 import SESV2Client


@record(repr=False)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


class SesMailer:
    """Amazon SES v2 ``SendEmail``: plain text, one recipient, from the configured
    sender. Any refusal (an unverified sender or recipient in the sandbox,
    throttling) is a ``TemporarilyUnavailable``, never the service's message."""

    def __init__(self, client: SESV2Client, sender: str) -> None:
        self._ses = adapt(client)
        self._sender = sender

    def send(self, mail: Mail) -> None:
        with unavailable_on_error():
            self._ses.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [mail.to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": mail.text, "Charset": "UTF-8"}},
                    }
                },
            )


class OutboxMailer:
    """The local stand-in: one JSON file ``{"to", "subject", "text"}`` per mail,
    named so that sorting the names sorts the mails by time."""

    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        # Orders this process's mails even when the clock does not move (a frozen
        # clock in tests, a coarse one elsewhere).
        self._sequence = itertools.count()

    def send(self, mail: Mail) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{next(self._sequence):06d}-{secrets.token_hex(4)}.json"
        partial = self._dir / f".{name}.tmp"
        partial.write_text(
            json.dumps({"to": mail.to, "subject": mail.subject, "text": mail.text}, indent=2),
            encoding="utf-8",
        )
        # Whole files only: a reader polling the outbox never sees half a mail.
        os.replace(partial, self._dir / name)


# ------------------------------------------------------------------ hand-off
class MailJobs(Protocol):
    """Hands a job to the mail function without waiting for it."""

    def submit(self, job: dict[str, str]) -> None: ...


class LambdaJobs:
    """An asynchronous Lambda invocation (``InvocationType=Event``): API Gateway's
    caller gets its answer before the account is even looked up, so neither the
    answer nor its timing can depend on whether the account exists. Lambda retries
    a failed job twice."""

    def __init__(self, client: LambdaClient, function_name: str) -> None:
        self._lambda = adapt(client)
        self._function = function_name

    def submit(self, job: dict[str, str]) -> None:
        with unavailable_on_error():
            self._lambda.invoke(
                FunctionName=self._function,
                InvocationType="Event",
                Payload=json.dumps(job).encode("utf-8"),
            )


# ------------------------------------------------------------------ texts
_SIGNATURE = "\n\nThis mail was sent automatically; replies are not read.\n"


def reset_mail(to: str, username: str, link: str, app_url: str) -> Mail:
    return Mail(
        to,
        "Reset your password",
        f"Someone asked to reset the password of the account {username} at {app_url}.\n\n"
        f"To choose a new password, open this link within 30 minutes (it works once):\n"
        f"{link}\n\n"
        "Resetting signs you out everywhere. A second factor, if you use one, stays on.\n\n"
        "If it was not you, ignore this mail: your password has not changed, and the link"
        " is of no use to anyone without access to your mailbox." + _SIGNATURE,
    )


def verification_mail(to: str, username: str, link: str, app_url: str) -> Mail:
    return Mail(
        to,
        "Confirm your email address",
        f"An account {username} was created at {app_url} with this address.\n\n"
        f"To confirm the address, open this link within 7 days (it works once):\n{link}\n\n"
        "If it was not you, ignore this mail: the account cannot be used until the"
        " address is confirmed." + _SIGNATURE,
    )


def invitation_mail(to: str, username: str, link: str, app_url: str) -> Mail:
    return Mail(
        to,
        "You are invited",
        f"An administrator of {app_url} created the account {username} for you.\n\n"
        f"To choose your password and start using it, open this link within 7 days"
        f" (it works once):\n{link}\n\n"
        "If you did not expect this, ignore this mail: nothing happens until the link"
        " is used." + _SIGNATURE,
    )


def signup_notice_mail(to: str, username: str, app_url: str) -> Mail:
    return Mail(
        to,
        "Someone tried to sign up with your details",
        f"Someone tried to create an account at {app_url} with the username or email"
        f" address of your account {username}. No account was created and nothing of"
        " yours changed.\n\n"
        "If it was you: you already have an account. Sign in, or if you forgot the"
        f" password, reset it at {app_url}/forgot-password\n\n"
        "If it was not you, there is nothing to do." + _SIGNATURE,
    )


def password_changed_mail(to: str, username: str, app_url: str, *, reset: bool) -> Mail:
    how = "reset through a link sent to this address" if reset else "changed"
    # A reset ends every session; a change keeps the one it was made from.
    ended = "every session" if reset else "every other session"
    return Mail(
        to,
        "Your password was changed",
        f"The password of your account {username} at {app_url} was just {how}, and"
        f" {ended} of the account was signed out.\n\n"
        "If it was not you, reset your password now at"
        f" {app_url}/forgot-password and tell your administrator: someone may have"
        " your password or access to your mailbox." + _SIGNATURE,
    )
