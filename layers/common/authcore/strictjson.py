"""JSON parsing that refuses what lenient parsers let through.

Duplicate member names are the classic parser-differential attack
(``{"username":"alice","username":"admin"}``: one component sees alice, another
admin); RFC 8259 leaves them undefined and RFC 7515 §5.2 requires JWS
implementations to reject them. ``NaN``/``Infinity`` are not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

from authcore.errors import StrictJSONError

MAX_DEPTH = 16


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise StrictJSONError("duplicate member name")
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise StrictJSONError("non-finite number")


def _depth_ok(text: str) -> bool:
    # Cheap upper bound on nesting before the recursive parser runs, so a body of
    # ten thousand "[" cannot exhaust the stack.
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads_object(data: bytes | str, *, check_depth: bool = True) -> dict[str, Any]:
    """Parse a JSON object strictly; anything else raises StrictJSONError."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise StrictJSONError("invalid UTF-8") from exc
    if check_depth and not _depth_ok(text):
        raise StrictJSONError("nested too deeply")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError("malformed JSON") from exc
    if not isinstance(value, dict):
        raise StrictJSONError("not a JSON object")
    return value
