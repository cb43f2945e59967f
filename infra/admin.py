"""Admin command line: create, invite, disable, enable, unlock and inspect users, set
passwords; create and manage machine clients (infra/admin_clients.py).

Works against a deployed stack (``--stack NAME``: table names and the mail function
from its outputs) or any DynamoDB the standard AWS environment points at, the local
stack included (``AWS_ENDPOINT_URL``, ``USERS_TABLE``, ``SESSIONS_TABLE``, and for
``invite`` ``MAIL_FUNCTION`` with ``AWS_ENDPOINT_URL_LAMBDA``: ``. .local/env``).
Passwords come from standard input or a prompt, never from an argument (argv
is visible to every user of the machine and lands in shell history). An address
given here counts as verified (contract §7); an invitation sets no password at all:
the invitee chooses one through the link mailed to them, never a temporary one.

The client commands need ``CLIENTS_TABLE`` (or ``--stack``), and those that make a
secret the pepper: ``CLIENT_SECRET_PEPPER``, or with ``--stack`` the secret the stack
generated (``. .local/env`` sets both for the local stack).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from authcore.accounts.dynamo import DynamoUserStore
from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.passwords import Passwords
from authcore.accounts.users import User, canonical_username
from authcore.clients.dynamo import ClientExists
from authcore.config import Settings
from authcore.errors import AuthError, ConfigError, UnknownUser, UserExists, WriteConflict
from authcore.mfa.dynamo import DynamoMfaStore
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService
from infra import admin_clients

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_lambda import LambdaClient


# The sessions' by_user index is eventually consistent: a session written just
# before a disable or a password reset may not be listed yet. Those two answer a
# compromise, so they sweep again once the index has caught up (DynamoDB's
# propagation is typically well under a second).
INDEX_SETTLE_SECONDS = 2.0
# The template's output naming the function that sends account mails.
MAIL_FUNCTION_OUTPUT = "AccountMailFunctionName"

# Runs one job of the mail function (functions/mail) to the end; its outcome ("sent", ...).
MailRunner = Callable[[dict[str, str]], str]


class MailJobFailed(Exception):
    """The mail function did not run the job to the end."""


class LambdaMail:
    """The mail function, invoked synchronously (``RequestResponse``): unlike the HTTP
    routes, which must answer before any account is looked up, the administrator is
    owed the outcome."""

    def __init__(self, client: LambdaClient, function_name: str) -> None:
        self._lambda = client
        self._function = function_name

    def __call__(self, job: dict[str, str]) -> str:
        response = self._lambda.invoke(
            FunctionName=self._function,
            InvocationType="RequestResponse",
            Payload=json.dumps(job).encode("utf-8"),
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            # The payload names the error's type; the function's log has the rest.
            try:
                kind = str(json.loads(payload).get("errorType", "error"))
            except (ValueError, AttributeError):
                kind = "error"
            raise MailJobFailed(f"{self._function} failed ({kind[:80]})")
        try:
            outcome = json.loads(payload)["outcome"]
        except (ValueError, KeyError, TypeError):
            raise MailJobFailed(f"{self._function} gave no outcome") from None
        return str(outcome)


@dataclass
class Admin:
    users: DynamoUserStore
    service: SessionService
    passwords: Passwords
    mfa: DynamoMfaStore
    settle_seconds: float = INDEX_SETTLE_SECONDS
    # What sends the invitations (``invite``); None where nothing may send mail.
    mail: MailRunner | None = None

    @classmethod
    def connect(
        cls,
        users_table: str,
        sessions_table: str,
        client: DynamoDBClient | None = None,
        mail: MailRunner | None = None,
    ) -> Admin:
        db = client or boto3.client("dynamodb")
        settings = Settings.from_env()
        passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        return cls(
            users=DynamoUserStore(db, users_table),
            mfa=DynamoMfaStore(db, users_table),
            service=SessionService(settings, sessions=DynamoSessionStore(db, sessions_table)),
            passwords=passwords,
            mail=mail,
        )

    def _existing(self, username: str) -> User:
        user = self.users.get(canonical_username(username))
        if user is None:
            raise UnknownUser(f"no such user: {username}")
        return user

    def create_user(
        self, username: str, password: str, scope: str = "", *, email: str = ""
    ) -> User:
        """``UserExists`` (``taken`` names the username, the address or both) if
        either belongs to someone."""
        hashed = self.passwords.hash(password)
        user = User.new(username, hashed, scope, email=email, email_verified=bool(email))
        self.users.create(user, now=time.time())
        return user

    def invite(self, username: str, email: str, scope: str = "") -> tuple[User, str]:
        """An account with no password and a verified address, and the invitation
        mailed by the mail function (its outcome). Inviting again someone who has not
        accepted yet (same address, same scope) sends a new link, which voids the
        previous one: the way out when the first mail went astray."""
        if self.mail is None:
            raise ConfigError("no mail function to send the invitation with")
        user = User.new(username, "", scope, email=email, email_verified=True)
        try:
            self.users.create(user, now=time.time())
        except UserExists:
            pending = self.users.get(user.username)
            if (
                pending is None
                or pending.password_hash
                or pending.disabled
                or (pending.email, pending.scope) != (user.email, user.scope)
            ):
                raise
            user = pending
        return user, self.mail({"job": "invite", "username": user.username})

    def set_password(self, username: str, password: str) -> int:
        """New password; every session of the user ends (a reset is often a
        response to a compromise)."""
        user = self._existing(username)
        self.users.set_password_hash(user.username, self.passwords.hash(password), now=time.time())
        return self._revoke_everywhere(user.user_id, reason="password_changed")

    def set_disabled(self, username: str, disabled: bool) -> int:
        user = self._existing(username)
        self.users.set_disabled(user.username, disabled, now=time.time())
        return self._revoke_everywhere(user.user_id, reason="user_disabled") if disabled else 0

    def _revoke_everywhere(self, user_id: str, *, reason: str) -> int:
        # New logins are already refused (their transaction checks the user item);
        # the second sweep is for sessions committed just before that.
        revoked = set(self.service.revoke_all(user_id, reason=reason))
        time.sleep(self.settle_seconds)
        revoked.update(self.service.revoke_all(user_id, reason=reason))
        return len(revoked)

    def reset_mfa(self, username: str) -> dict[str, Any]:
        """TOTP off and recovery codes void, for a user who lost both the phone and the
        codes (after checking who asks: this removes a factor). Every session ends: a
        caller who could not pass the second step must not keep one."""
        user = self._existing(username)
        self.mfa.disable(user)
        revoked = self._revoke_everywhere(user.user_id, reason="mfa_reset")
        return {"mfa_reset": user.username, "had_totp": user.has_totp, "sessions_revoked": revoked}

    def unlock(self, username: str) -> dict[str, Any]:
        """Forget the failed logins: the lock (if any) ends now."""
        user = self._existing(username)
        self.users.clear_failures(user.username)
        return {"unlocked": user.username, "failed_logins_cleared": user.failures.count}

    def show(self, username: str, *, now: float | None = None) -> dict[str, Any]:
        user = self._existing(username)
        now = time.time() if now is None else now
        policy = LockoutPolicy()
        return {
            "username": user.username,
            "user_id": user.user_id,
            "scope": user.scope,
            "email": user.email,
            "email_verified": user.email_verified,
            "disabled": user.disabled,
            "failed_logins": user.failures.current(policy, now),
            "locked_for_seconds": user.failures.retry_after(policy, now),
            "totp": user.has_totp,
            "recovery_codes_left": len(user.recovery_codes),
        }


def stack_outputs(stack: str) -> dict[str, str]:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in outputs.get("Outputs", [])}


def lambda_mail(function_name: str) -> LambdaMail:
    return LambdaMail(boto3.client("lambda"), function_name)


def _refusal(exc: UserExists, username: str, email: str | None) -> str:
    if "email" in exc.taken and "username" not in exc.taken:
        return f"error: the address {email} belongs to another account"
    return f"error: user {username} already exists"


def read_password(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The first line of standard input, or when that is a terminal, a prompt with
    no echo, asked twice."""
    if stdin.isatty():
        first = prompt("Password: ")
        if prompt("Repeat: ") != first:
            raise SystemExit("passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def main(
    argv: list[str] | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    prompt: Callable[[str], str] = getpass.getpass,
    mail: MailRunner | None = None,
) -> int:
    """``mail``: what runs the invitation job (tests run the mail function's handler in
    process); by default the mail function, invoked through the Lambda API."""
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__)
    parser.add_argument(
        "--stack",
        help="deployed stack whose outputs name the tables, the mail function and the pepper",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-user", help="create a user (password on stdin, or prompted on a terminal)"
    )
    create.add_argument("username")
    create.add_argument("--scope", default="")
    create.add_argument("--email", help="the user's address, taken as verified")
    invite = commands.add_parser(
        "invite",
        help="create a user without a password and mail them a link to choose one",
    )
    invite.add_argument("username")
    invite.add_argument("--email", required=True, help="where the invitation goes")
    invite.add_argument("--scope", default="")
    for name, text in (
        ("set-password", "set a new password (stdin or prompt), end all sessions, unlock"),
        ("disable", "disable a user and end all sessions"),
        ("enable", "enable a disabled user"),
        ("unlock", "forget failed logins and end a lockout now"),
        ("reset-mfa", "turn TOTP off and void the recovery codes, end all sessions"),
        ("show", "show a user (never the hash)"),
    ):
        commands.add_parser(name, help=text).add_argument("username")
    admin_clients.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command in admin_clients.COMMANDS:
        return _clients(args, stdout)

    settings = Settings.from_env()
    outputs = stack_outputs(args.stack) if args.stack else {}
    try:
        if args.stack:
            users_table, sessions_table = outputs["UsersTableName"], outputs["SessionsTableName"]
        else:
            users_table, sessions_table = settings.users_table_name, settings.sessions_table_name
        if args.command == "invite" and mail is None:
            # Resolved before anything is written: no account without a way to invite.
            function = outputs.get(MAIL_FUNCTION_OUTPUT) or settings.mail_function_name
            mail = lambda_mail(function)
    except ConfigError as exc:
        hint = " (or give --stack)" if not args.stack else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: stack {args.stack} has no output {exc}", file=sys.stderr)
        return 1
    admin = Admin.connect(users_table, sessions_table, mail=mail)
    email = getattr(args, "email", None)
    try:
        if args.command == "create-user":
            password = read_password(stdin, prompt)
            user = admin.create_user(args.username, password, args.scope, email=email or "")
            result: dict[str, Any] = {"created": user.username, "user_id": user.user_id}
        elif args.command == "invite":
            return _invite(admin, args.username, args.email, args.scope, stdout)
        elif args.command == "set-password":
            password = read_password(stdin, prompt)
            result = {"sessions_revoked": admin.set_password(args.username, password)}
        elif args.command in ("disable", "enable"):
            result = {
                "sessions_revoked": admin.set_disabled(args.username, args.command == "disable")
            }
        elif args.command == "unlock":
            result = admin.unlock(args.username)
        elif args.command == "reset-mfa":
            result = admin.reset_mfa(args.username)
        else:
            result = admin.show(args.username)
    except UserExists as exc:
        print(_refusal(exc, args.username, email), file=sys.stderr)
        return 1
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AuthError as exc:
        print(f"error: {exc.description}", file=sys.stderr)
        return 1
    print(json.dumps(result), file=stdout)
    return 0


def _clients(args: argparse.Namespace, stdout: TextIO) -> int:
    """A client command: the table and (for a new secret) the pepper resolved before
    anything is written."""
    pepper: bytes | None = None
    try:
        if args.stack:
            outputs = stack_outputs(args.stack)
            table = outputs[admin_clients.CLIENTS_TABLE_OUTPUT]
        else:
            outputs, table = {}, Settings.from_env().clients_table_name
        if admin_clients.needs_pepper(args):
            pepper = (
                admin_clients.stack_pepper(
                    args.stack, outputs, os.environ, admin_clients.secrets_manager_value
                )
                if args.stack
                else admin_clients.environment_pepper(os.environ)
            )
    except ConfigError as exc:
        hint = " (or give --stack)" if not args.stack and "(or give" not in str(exc) else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: stack {args.stack} has no output {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"error: cannot read the stack's pepper: {exc}", file=sys.stderr)
        return 1

    def the_pepper() -> bytes:
        if pepper is None:
            raise admin_clients.PepperUnavailable("no pepper for this command")
        return pepper

    clients = admin_clients.ClientAdmin.connect(table, the_pepper)
    try:
        return admin_clients.run(clients, args, stdout, sys.stderr)
    except admin_clients.BadKeySet as exc:
        print(f"error: {exc}", file=sys.stderr)
    except ClientExists:
        print(f"error: client {args.client_id} already exists", file=sys.stderr)
    except WriteConflict:
        print(f"error: client {args.client_id} kept changing meanwhile: try again", file=sys.stderr)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except AuthError as exc:
        print(f"error: {exc.description}", file=sys.stderr)
    return 1


def _invite(admin: Admin, username: str, email: str, scope: str, stdout: TextIO) -> int:
    """Never prints a password or a link: the link goes to the invitee alone."""
    try:
        user, outcome = admin.invite(username, email, scope)
    except UserExists as exc:
        print(_refusal(exc, username, email), file=sys.stderr)
        return 1
    except AuthError as exc:
        print(f"error: {exc.description}", file=sys.stderr)
        return 1
    except (MailJobFailed, BotoCoreError, ClientError) as exc:
        # The account stands; inviting again (same address and scope) resends.
        print(
            f"error: the account {canonical_username(username)} was created but the"
            f" invitation was not sent: {exc}; run the same invite again to retry",
            file=sys.stderr,
        )
        return 1
    print(
        json.dumps({"invited": user.username, "user_id": user.user_id, "mail": outcome}),
        file=stdout,
    )
    if outcome != "sent":
        print(f"error: the mail function answered {outcome!r}: nothing was sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
