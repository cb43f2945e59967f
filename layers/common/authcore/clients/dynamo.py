"""The clients table in DynamoDB: clients, their hourly token counters and the
``jti`` of every ``private_key_jwt`` assertion seen within its lifetime."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from authcore.aws import conditional_failed, is_conditional_failure, unavailable_on_error
from authcore.awsjson import ServiceError, adapt
from authcore.clients.model import Client, ClientSecret
from authcore.errors import InvalidClient, UnknownUser, WriteConflict
from authcore.records import replace

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

# Beside the clients, keyed so that no client id can collide ("#" is not allowed in one).
QUOTA_PREFIX = "#quota#"
JTI_PREFIX = "#jti#"


class ClientExists(WriteConflict):
    pass


class UnknownClient(UnknownUser):
    pass


def _to_item(client: Client) -> dict[str, Any]:
    item: dict[str, Any] = {
        "client_id": {"S": client.client_id},
        "scope": {"S": " ".join(sorted(client.scope))},
        "status": {"S": client.status},
        "secrets": {
            "L": [
                {
                    "M": {
                        "id": {"S": s.secret_id},
                        "digest": {"S": s.digest},
                        "expires_at": {"N": str(int(s.expires_at))},
                    }
                }
                for s in client.secrets
            ]
        },
        "quota_per_hour": {"N": str(client.quota_per_hour)},
        "version": {"N": str(client.version)},
    }
    if client.jwks is not None:
        item["jwks"] = {"S": json.dumps(client.jwks, separators=(",", ":"))}
    return item


def _from_item(item: dict[str, Any]) -> Client:
    scope = item.get("scope", {}).get("S", "")
    return Client(
        client_id=item["client_id"]["S"],
        scope=frozenset(scope.split()) if scope else frozenset(),
        status="disabled" if item.get("status", {}).get("S") == "disabled" else "active",
        secrets=tuple(
            ClientSecret(
                secret_id=entry["M"]["id"]["S"],
                digest=entry["M"]["digest"]["S"],
                expires_at=float(entry["M"]["expires_at"]["N"]),
            )
            for entry in item.get("secrets", {}).get("L", [])
        ),
        jwks=json.loads(item["jwks"]["S"]) if "jwks" in item else None,
        quota_per_hour=int(item.get("quota_per_hour", {}).get("N", "0")),
        version=int(item.get("version", {}).get("N", "0")),
    )


class DynamoClientStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    def get(self, client_id: str) -> Client | None:
        with unavailable_on_error():
            response = self._db.get_item(
                TableName=self._table, Key={"client_id": {"S": client_id}}, ConsistentRead=True
            )
        item = response.get("Item")
        return _from_item(item) if item else None

    def list(self) -> list[Client]:
        clients: list[Client] = []
        arguments: dict[str, Any] = {"TableName": self._table}
        while True:
            with unavailable_on_error():
                page = self._db.scan(**arguments)
            clients += [
                _from_item(item)
                for item in page.get("Items", [])
                if not item["client_id"]["S"].startswith("#")
            ]
            if "LastEvaluatedKey" not in page:
                return sorted(clients, key=lambda c: c.client_id)
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def create(self, client: Client) -> None:
        with unavailable_on_error(), conditional_failed(ClientExists):
            self._db.put_item(
                TableName=self._table,
                Item=_to_item(client),
                ConditionExpression="attribute_not_exists(client_id)",
            )

    def replace(self, before: Client, after: Client) -> Client:
        """Write ``after`` if the stored client is still ``before`` (its version):
        two administrators editing at once cannot silently undo each other."""
        stored = replace(after, version=before.version + 1)
        with unavailable_on_error(), conditional_failed(WriteConflict):
            self._db.put_item(
                TableName=self._table,
                Item=_to_item(stored),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(before.version)}},
            )
        return stored

    def reserve_tokens(self, client_id: str, hour: int, limit: int, wanted: int) -> int:
        """Reserve up to ``wanted`` of the client's tokens for ``hour``: how many were
        granted, 0 when the hour's quota is spent. One conditional ``ADD``: the
        condition admits a reservation only while fewer than ``limit`` are reserved,
        and a reservation that would cross the limit is granted only the rest, so the
        tokens handed out across every container can never exceed the quota (the
        counter itself may pass ``limit`` by what was not granted)."""
        try:
            with unavailable_on_error():
                answer = self._db.update_item(
                    TableName=self._table,
                    Key={"client_id": {"S": f"{QUOTA_PREFIX}{client_id}#{hour}"}},
                    UpdateExpression="ADD issued :wanted SET expires_at = :expires",
                    ConditionExpression="attribute_not_exists(issued) OR issued < :limit",
                    ExpressionAttributeValues={
                        ":wanted": {"N": str(wanted)},
                        ":limit": {"N": str(limit)},
                        # The counter matters for its hour; TTL removes it a day later.
                        ":expires": {"N": str((hour + 25) * 3600)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except ServiceError as exc:
            if is_conditional_failure(exc):
                return 0
            raise
        reserved_before = int(answer["Attributes"]["issued"]["N"]) - wanted
        return min(wanted, limit - reserved_before)

    def use_jti(self, client_id: str, jti: str, until: float) -> None:
        """Record an assertion's ``jti`` until it expires; ``InvalidClient`` if it was
        seen already (RFC 7523 §3: a replayed assertion authenticates nobody)."""
        digest = hashlib.sha256(jti.encode("utf-8")).hexdigest()
        with unavailable_on_error(), conditional_failed(InvalidClient):
            self._db.put_item(
                TableName=self._table,
                Item={
                    "client_id": {"S": f"{JTI_PREFIX}{client_id}#{digest}"},
                    "expires_at": {"N": str(int(until) + 1)},
                },
                ConditionExpression="attribute_not_exists(client_id)",
            )
