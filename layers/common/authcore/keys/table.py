"""The keys table: one small DynamoDB partition (``ring``) with one item per ``kid``,
holding each key's state and public half; the private half stays in KMS or Secrets
Manager (``keys.material``). State changes are one conditional transaction.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from authcore.aws import unavailable_on_error
from authcore.awsjson import adapt
from authcore.errors import Malformed
from authcore.records import record

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

KeyState = Literal["pending", "current", "previous", "retired"]
PUBLISHED: tuple[KeyState, ...] = ("pending", "current", "previous")
_PARTITION = "ring"


@record
class KeyRecord:
    kid: str
    alg: str
    state: KeyState
    state_since: float
    created_at: float
    public_jwk: dict[str, Any]
    backend: str
    ref: str
    revoked: bool = False


class KeyTable:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = adapt(client)
        self._table = table

    def load(self) -> list[KeyRecord]:
        records: list[KeyRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :ring",
            "ExpressionAttributeValues": {":ring": {"S": _PARTITION}},
            "ConsistentRead": True,
        }
        while True:
            with unavailable_on_error():
                page = self._db.query(**kwargs)
            records.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_new(self, record: KeyRecord) -> None:
        with unavailable_on_error():
            self._db.put_item(
                TableName=self._table,
                Item=_to_item(record),
                ConditionExpression="attribute_not_exists(kid)",
            )

    def transition(self, changes: list[tuple[KeyRecord, KeyRecord]]) -> None:
        """Apply (old, new) state changes atomically, each conditioned on the key
        still being in its old state: a scheduled rotation racing an emergency
        revocation cannot promote a key twice or resurrect a revoked one."""
        items: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": _PARTITION}, "kid": {"S": new.kid}},
                    "UpdateExpression": (
                        "SET #state = :new, state_since = :since, revoked = :revoked"
                    ),
                    "ConditionExpression": "#state = :old",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":new": {"S": new.state},
                        ":old": {"S": old.state},
                        ":since": {"N": f"{new.state_since:.3f}"},
                        ":revoked": {"BOOL": new.revoked},
                    },
                }
            }
            for old, new in changes
        ]
        if items:
            with unavailable_on_error():
                self._db.transact_write_items(TransactItems=items)


def _to_item(r: KeyRecord) -> dict[str, Any]:
    return {
        "pk": {"S": _PARTITION},
        "kid": {"S": r.kid},
        "alg": {"S": r.alg},
        "state": {"S": r.state},
        "state_since": {"N": f"{r.state_since:.3f}"},
        "created_at": {"N": f"{r.created_at:.3f}"},
        "public_jwk": {"S": json.dumps(r.public_jwk, sort_keys=True)},
        "backend": {"S": r.backend},
        "ref": {"S": r.ref},
        "revoked": {"BOOL": r.revoked},
    }


def _from_item(item: dict[str, Any]) -> KeyRecord:
    state = item["state"]["S"]
    if state not in ("pending", "current", "previous", "retired"):
        raise Malformed("unknown key state")
    return KeyRecord(
        kid=item["kid"]["S"],
        alg=item["alg"]["S"],
        state=state,
        state_since=float(item["state_since"]["N"]),
        created_at=float(item["created_at"]["N"]),
        public_jwk=json.loads(item["public_jwk"]["S"]),
        backend=item["backend"]["S"],
        ref=item["ref"]["S"],
        revoked=item.get("revoked", {}).get("BOOL", False),
    )
