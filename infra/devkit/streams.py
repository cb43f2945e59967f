"""Lambda's event source mapping for a DynamoDB stream, emulated over moto.

Reads the table's stream shard by shard (from the moment it starts, as
``StartingPosition: LATEST``), keeps the records the mapping's ``FilterCriteria``
admit, and hands them to a function in batches shaped as Lambda's event
(``{"Records": [...]}``). A batch whose delivery fails is delivered again, in order,
before anything newer: the mapping's retry. Used by the local stack (a thread per
mapping, ``run``) and by the tests (``pump`` once, deterministically).

The filters follow Lambda's event filtering rules (those of EventBridge patterns): a
pattern is a JSON object whose every key must match; nested objects go down the record
(``dynamodb`` -> ``NewImage`` -> ``revoked_at`` -> ``N``); a leaf is a non-empty list of
rules, of which one must match one of the values found at that path (an array in the
record gives several); several patterns admit what any one of them admits. The rules:
a literal (string, number, boolean, null: equality), ``exists`` (true: a value is there,
false: none is, a path whose object is missing included), ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but`` (literals) and ``numeric`` (JSON numbers only:
DynamoDB's ``N`` values are strings, which no numeric rule matches). A value is a leaf
of the record (string, number, boolean, null): a path that ends on an object has none,
so ``{"NewImage": {"revoked_at": [{"exists": true}]}}`` matches nothing, as in Lambda.
Anything else (``$or``, ``wildcard``, ``cidr``, ``anything-but`` of a prefix, a leaf that
is not a list) raises ``UnsupportedPattern`` when the pump is built: an emulator that let
everything through, or nothing, would make the local stack lie about the template.
"""

from __future__ import annotations

import base64
import json
import operator
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from infra import template

_PRIMITIVES = (str, int, float, bool, type(None))
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_STRING_RULES = ("prefix", "suffix", "equals-ignore-case")


class UnsupportedPattern(ValueError):
    """A filter pattern this emulator cannot evaluate as Lambda does (the path at fault)."""


def _is_number(value: Any) -> bool:
    # bool is an int to Python, never to JSON's rules.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_rule(argument: Any) -> bool:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        return False
    pairs = list(zip(argument[::2], argument[1::2], strict=True))
    return all(op in _COMPARISONS and _is_number(bound) for op, bound in pairs)


def _check_leaf(rule: Any, where: str) -> None:
    if isinstance(rule, _PRIMITIVES):
        return
    if isinstance(rule, Mapping) and len(rule) == 1:
        [(name, argument)] = rule.items()
        literals = argument if isinstance(argument, list) else [argument]
        if (
            (name == "exists" and isinstance(argument, bool))
            or (name in _STRING_RULES and isinstance(argument, str))
            or (name == "numeric" and _numeric_rule(argument))
            or (
                name == "anything-but"
                and literals
                and all(isinstance(each, _PRIMITIVES) for each in literals)
            )
        ):
            return
    raise UnsupportedPattern(f"{where}: {json.dumps(rule)}")


def check_pattern(pattern: Any, where: str = "pattern") -> None:
    """Raise ``UnsupportedPattern`` unless every rule of ``pattern`` is one this module
    evaluates as Lambda does."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise UnsupportedPattern(f"{where}: not a non-empty object: {json.dumps(pattern)}")
    for key, rule in pattern.items():
        path = f"{where}.{key}"
        if key.startswith("$"):
            raise UnsupportedPattern(f"{path}: {key} is not emulated")
        if isinstance(rule, Mapping):
            check_pattern(rule, path)
        elif isinstance(rule, list) and rule:
            for leaf in rule:
                _check_leaf(leaf, path)
        else:
            raise UnsupportedPattern(f"{path}: a leaf must be a non-empty list of rules")


def _leaves(pattern: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[Any]:
    for key, rule in pattern.items():
        if isinstance(rule, Mapping):
            yield from _leaves(rule, (*path, key))
        else:
            yield (*path, key), rule


def _values_at(value: Any, path: Sequence[str]) -> list[Any]:
    """The leaf values of the record at ``path``, arrays flattened on the way."""
    if isinstance(value, list):
        return [found for each in value for found in _values_at(each, path)]
    if not path:
        return [value] if isinstance(value, _PRIMITIVES) else []
    if isinstance(value, Mapping) and path[0] in value:
        return _values_at(value[path[0]], path[1:])
    return []


def _same(rule: Any, value: Any) -> bool:
    if isinstance(rule, bool) or isinstance(value, bool):
        return rule is value
    if _is_number(rule) and _is_number(value):
        return bool(rule == value)
    return type(rule) is type(value) and rule == value


def _rule_matches(rule: Any, values: list[Any]) -> bool:
    if not isinstance(rule, Mapping):
        return any(_same(rule, value) for value in values)
    [(name, argument)] = rule.items()
    if name == "exists":
        return bool(values) is argument
    for value in values:
        if name == "anything-but":
            literals = argument if isinstance(argument, list) else [argument]
            if not any(_same(each, value) for each in literals):
                return True
        elif name == "numeric":
            if _is_number(value) and all(
                _COMPARISONS[op](value, bound)
                for op, bound in zip(argument[::2], argument[1::2], strict=True)
            ):
                return True
        elif isinstance(value, str) and (
            (name == "prefix" and value.startswith(argument))
            or (name == "suffix" and value.endswith(argument))
            or (name == "equals-ignore-case" and value.casefold() == argument.casefold())
        ):
            return True
    return False


def matches(pattern: Mapping[str, Any], record: Any) -> bool:
    """Whether ``record`` matches ``pattern`` (checked first with ``check_pattern``)."""
    return all(
        any(_rule_matches(rule, _values_at(record, path)) for rule in rules)
        for path, rules in _leaves(pattern)
    )


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
        for number, pattern in enumerate(filters):
            check_pattern(pattern, f"filter {number}")
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
                # `!Ref F.Alias` as deployed: locally the alias `live` is the function.
                "function": str(properties["FunctionName"]["Ref"]).removesuffix(".Alias"),
                "filters": filters,
                "batch_size": int(properties.get("BatchSize", 100)),
            }
        )
    return found
