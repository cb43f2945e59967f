"""Signing-key operations: list the ring, run a rotation step, revoke a key now.

    python -m infra.keys [--stack NAME] list
    python -m infra.keys [--stack NAME] rotate
    python -m infra.keys [--stack NAME] revoke KID      # emergency: compromised key

Against a deployed stack (``--stack``: tables, backend and secret from its
outputs and parameters) or the environment the functions use (``KEYS_TABLE``,
``SESSIONS_TABLE``, ``SIGNING_BACKEND``, ``SIGNING_KEYS_SECRET``, ``STACK_NAME``,
``AWS_ENDPOINT_URL`` for the local stack).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import boto3

from authcore.config import Settings
from authcore.keys.lifecycle import SIGNER_CACHE_SECONDS, KeyLifecycle, KeyMaterial
from authcore.keys.material import KmsMaterial, SecretsMaterial
from authcore.keys.table import KeyRecord, KeyTable
from authcore.records import asdict


@dataclass(frozen=True)
class Target:
    keys_table: str
    sessions_table: str
    backend: str
    alg: str
    secret: str | None
    stack: str


def from_stack(name: str) -> Target:
    stack = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack["Parameters"]}
    return Target(
        keys_table=outputs["KeysTableName"],
        sessions_table=outputs["SessionsTableName"],
        backend=parameters.get("SigningBackend", "kms"),
        alg=parameters.get("SigningAlgorithm", "ES256"),
        secret=outputs.get("SigningKeysSecretArn"),
        stack=name,
    )


def from_environment(settings: Settings) -> Target:
    return Target(
        keys_table=settings.keys_table_name,
        sessions_table=settings.sessions_table_name,
        backend=settings.signing_backend,
        alg=settings.signing_alg,
        secret=settings.signing_keys_secret,
        stack=settings.stack_name,
    )


def lifecycle(target: Target, settings: Settings) -> tuple[KeyLifecycle, KeyTable]:
    table = KeyTable(boto3.client("dynamodb"), target.keys_table)
    material: KeyMaterial
    if target.backend == "secretsmanager":
        if not target.secret:
            raise SystemExit("the secretsmanager backend needs the secret's ARN")
        material = SecretsMaterial(boto3.client("secretsmanager"), target.secret)
    else:
        material = KmsMaterial(boto3.client("kms"), stack=target.stack)
    return KeyLifecycle(table, material, alg=target.alg), table


def sessions_holding_tokens_of(
    record: KeyRecord, sessions_table: str, *, access_ttl: int, leeway: int, now: float
) -> list[dict[str, Any]]:
    """Live sessions that received an access token from this key which has not
    expired yet: their clients get 401 at the next request after the ring reload
    and must refresh (their refresh tokens are unaffected) or log in again."""
    oldest_valid = now - access_ttl - leeway
    signed_from = (
        max(oldest_valid, record.state_since) if record.state == "current" else oldest_valid
    )
    signed_until = now if record.state == "current" else record.state_since + SIGNER_CACHE_SECONDS
    if record.state not in ("current", "previous") or signed_until < signed_from:
        return []
    db = boto3.client("dynamodb")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": sessions_table,
        "FilterExpression": (
            "last_used_at BETWEEN :from AND :until AND attribute_not_exists(revoked_at)"
        ),
        "ExpressionAttributeValues": {
            ":from": {"N": f"{signed_from:.3f}"},
            ":until": {"N": f"{signed_until:.3f}"},
        },
        "ProjectionExpression": "sid, user_id, username, last_used_at",
    }
    while True:
        page = db.scan(**kwargs)
        found.extend(
            {
                "sid": item["sid"]["S"],
                "user_id": item["user_id"]["S"],
                "username": item["username"]["S"],
                "last_token_at": int(float(item["last_used_at"]["N"])),
            }
            for item in page.get("Items", [])
        )
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.keys", description=__doc__)
    parser.add_argument("--stack", help="deployed stack whose outputs name the tables")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every key with its state (public halves only)")
    commands.add_parser("rotate", help="one lifecycle step, as the schedule runs it")
    revoke = commands.add_parser("revoke", help="retire a compromised key now")
    revoke.add_argument("kid")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    target = from_stack(args.stack) if args.stack else from_environment(settings)
    ring, table = lifecycle(target, settings)
    result: dict[str, Any]
    if args.command == "list":
        result = {
            "keys": [
                {"kid": r.kid, "alg": r.alg, "state": r.state, "since": int(r.state_since)}
                for r in sorted(table.load(), key=lambda r: r.created_at)
            ]
        }
    elif args.command == "rotate":
        result = asdict(ring.rotate())
    else:
        record = next((r for r in table.load() if r.kid == args.kid), None)
        if record is None:
            print(f"error: no key {args.kid}", file=sys.stderr)
            return 1
        report = ring.revoke(args.kid)
        result = asdict(report)
        result["sessions_to_reauthenticate"] = sessions_holding_tokens_of(
            record,
            target.sessions_table,
            access_ttl=settings.access_ttl,
            leeway=settings.leeway,
            now=time.time(),
        )
    print(json.dumps(result), file=stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
