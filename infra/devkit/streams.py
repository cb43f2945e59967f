"""Lambda's event source mapping for a DynamoDB stream, emulated over moto.

Reads the table's stream shard by shard (from the moment it starts, as
``StartingPosition: LATEST``), keeps the records the mapping's ``FilterCriteria``
admit, and hands them to a function in batches shaped as Lambda's event
(``{"Records": [...]}``). A batch whose delivery fails is delivered again, in order,
before anything newer: the mapping's retry. Used by the local stack (a thread per
mapping, ``run``) and by the tests (``pump`` once, deterministically).

The filter grammar is the subset the template uses, with the semantics Lambda
documents for event filtering: a pattern object matches when every key matches; a
list of leaves matches when one of them does; a leaf is a literal or
``{"exists": bool}``, and a key missing on the way down is "not existing".
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from infra import template

_MISSING = object()


class UnsupportedPattern(ValueError):
    pass


def _leaf(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if set(rule) == {"exists"}:
            return (value is not _MISSING) is bool(rule["exists"])
        raise UnsupportedPattern(json.dumps(rule))
    return value is not _MISSING and value == rule


def matches(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, rule in pattern.items():
        child = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if not matches(rule, child):
                return False
        elif not isinstance(rule, list) or not any(_leaf(leaf, child) for leaf in rule):
            return False
    return True


def admitted(filters: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """No filter admits everything; several admit what any one of them does."""
    return not filters or any(matches(pattern, record) for pattern in filters)


def _as_event_json(value: Any) -> Any:
    """botocore decodes binary attributes and dates; Lambda's event carries base64
    strings and epoch seconds."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _as_event_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_event_json(v) for v in value]
    return value


class StreamPump:
    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table: str,
        deliver: Callable[[dict[str, Any]], Any],
        *,
        filters: Sequence[Mapping[str, Any]] = (),
        batch_size: int = 100,
    ) -> None:
        self._streams = streams
        self._deliver = deliver
        self._filters = list(filters)
        self._batch_size = batch_size
        self.stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        self._iterators = {
            shard["ShardId"]: streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        }
        self._pending: list[dict[str, Any]] = []
        self.delivered = 0

    def pump(self) -> int:
        """Read what is new, deliver it; the number of records delivered. A failed
        delivery raises, and its batch is first in line next time."""
        for shard, iterator in list(self._iterators.items()):
            answer = self._streams.get_records(ShardIterator=iterator)
            self._iterators[shard] = answer.get("NextShardIterator") or iterator
            for record in answer.get("Records", []):
                event = _as_event_json(record)
                event["eventSourceARN"] = self.stream_arn
                if admitted(self._filters, event):
                    self._pending.append(event)
        count = 0
        while self._pending:
            batch = self._pending[: self._batch_size]
            self._deliver({"Records": batch})
            del self._pending[: len(batch)]
            count += len(batch)
        self.delivered += count
        return count

    def run(self, stop: threading.Event, interval: float, log: Callable[[str], None]) -> None:
        """Lambda polls a shard about four times a second; so does this."""
        while not stop.wait(interval):
            try:
                self.pump()
            except Exception as error:
                log(f"[stream] delivery failed, retrying: {type(error).__name__}\n")


def mappings() -> list[dict[str, Any]]:
    """The template's DynamoDB stream mappings: table, function, filters, batch size."""
    found = []
    for mapping in template.resources("AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        table, attribute = properties["EventSourceArn"]["Fn::GetAtt"]
        if attribute != "StreamArn":
            continue
        filters = [
            json.loads(entry["Pattern"])
            for entry in (properties.get("FilterCriteria") or {}).get("Filters", [])
        ]
        found.append(
            {
                "table": table,
                "function": properties["FunctionName"]["Ref"],
                "filters": filters,
                "batch_size": int(properties.get("BatchSize", 100)),
            }
        )
    return found
