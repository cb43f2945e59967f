"""The sample events of events/ (what ``sam local invoke`` sends too), ready to change."""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.devkit.environment import ROOT

EVENTS = ROOT / "events"


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """events/<name>, with top-level keys replaced by ``overrides`` (deep copies)."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    event.update(copy.deepcopy(overrides))
    return event


def with_body(name: str, body: Any, **overrides: Any) -> dict[str, Any]:
    """``load_event`` with this body: a string as it is, anything else as JSON."""
    event = load_event(name, **overrides)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event
