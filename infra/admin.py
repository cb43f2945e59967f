"""Admin command line: create, disable, enable, unlock and inspect users, set passwords.

Works against a deployed stack (``--stack NAME``: table names from its outputs)
or any DynamoDB the standard AWS environment points at, the local stack
included (``AWS_ENDPOINT_URL``, ``USERS_TABLE``, ``SESSIONS_TABLE``).
Passwords come from standard input or a prompt, never from an argument (argv
is visible to every user of the machine and lands in shell history).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import boto3

from authcore.accounts.dynamo import DynamoUserStore
from authcore.accounts.lockout import LockoutPolicy
from authcore.accounts.passwords import Passwords
from authcore.accounts.users import User, canonical_username
from authcore.config import Settings
from authcore.errors import AuthError, UnknownUser, UserExists
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


# The sessions' by_user index is eventually consistent: a session written just
# before a disable or a password reset may not be listed yet. Those two answer a
# compromise, so they sweep again once the index has caught up (DynamoDB's
# propagation is typically well under a second).
INDEX_SETTLE_SECONDS = 2.0


@dataclass
class Admin:
    users: DynamoUserStore
    service: SessionService
    passwords: Passwords
    settle_seconds: float = INDEX_SETTLE_SECONDS

    @classmethod
    def connect(
        cls, users_table: str, sessions_table: str, client: DynamoDBClient | None = None
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
            service=SessionService(settings, sessions=DynamoSessionStore(db, sessions_table)),
            passwords=passwords,
        )

    def _existing(self, username: str) -> User:
        user = self.users.get(canonical_username(username))
        if user is None:
            raise UnknownUser(f"no such user: {username}")
        return user

    def create_user(self, username: str, password: str, scope: str = "") -> User:
        user = User.new(username, self.passwords.hash(password), scope)
        self.users.create(user, now=time.time())
        return user

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
            "disabled": user.disabled,
            "failed_logins": user.failures.current(policy, now),
            "locked_for_seconds": user.failures.retry_after(policy, now),
        }


def stack_tables(stack: str) -> tuple[str, str]:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs.get("Outputs", [])}
    return values["UsersTableName"], values["SessionsTableName"]


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
) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__)
    parser.add_argument("--stack", help="deployed stack whose outputs name the tables")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-user", help="create a user (password on stdin, or prompted on a terminal)"
    )
    create.add_argument("username")
    create.add_argument("--scope", default="")
    for name, text in (
        ("set-password", "set a new password (stdin or prompt), end all sessions, unlock"),
        ("disable", "disable a user and end all sessions"),
        ("enable", "enable a disabled user"),
        ("unlock", "forget failed logins and end a lockout now"),
        ("show", "show a user (never the hash)"),
    ):
        commands.add_parser(name, help=text).add_argument("username")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.stack:
        users_table, sessions_table = stack_tables(args.stack)
    else:
        users_table, sessions_table = (
            settings.users_table_name,
            settings.sessions_table_name,
        )
    admin = Admin.connect(users_table, sessions_table)
    try:
        if args.command == "create-user":
            user = admin.create_user(args.username, read_password(stdin, prompt), args.scope)
            result: dict[str, Any] = {"created": user.username, "user_id": user.user_id}
        elif args.command == "set-password":
            password = read_password(stdin, prompt)
            result = {"sessions_revoked": admin.set_password(args.username, password)}
        elif args.command in ("disable", "enable"):
            result = {
                "sessions_revoked": admin.set_disabled(args.username, args.command == "disable")
            }
        elif args.command == "unlock":
            result = admin.unlock(args.username)
        else:
            result = admin.show(args.username)
    except UserExists:
        print(f"error: user {args.username} already exists", file=sys.stderr)
        return 1
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AuthError as exc:
        print(f"error: {exc.description}", file=sys.stderr)
        return 1
    print(json.dumps(result), file=stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
