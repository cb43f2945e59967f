"""Contract §6: events/ holds one sample event per function, so that
`sam local invoke <Function> -e events/<file>.json` works where Docker is available.

infra/samlocal/cases.py says what each function must answer to its events (the sam local
tier, tests/packaging/test_sam_local.py, runs them): here, without Docker, that every
function has a case, every event file is one, and an HTTP event names a route of its
function, so a new function or event cannot be forgotten.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra import template
from infra.samlocal.cases import Session, cases

EVENTS = Path(__file__).resolve().parents[2] / "events"
_NOBODY = Session("a.e30.s", "r", {"sub": "s", "sid": "i"})
CASES = cases(_NOBODY, _NOBODY, _NOBODY)


def test_every_function_has_a_sample_event_and_a_case():
    assert {case.function for case in CASES} == set(template.functions())


def test_every_sample_event_is_a_case_and_is_json():
    assert {case.event_file for case in CASES} == {path.name for path in EVENTS.glob("*.json")}
    for path in EVENTS.glob("*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path.name


def test_an_http_event_names_a_route_of_its_function():
    routes = template.routes()
    for case in CASES:
        own = [route for route in routes if route.function == case.function]
        if not own:  # an authorizer's or a scheduled function's event
            continue
        event = json.loads((EVENTS / case.event_file).read_text(encoding="utf-8"))
        assert event["version"] == "2.0", case.name
        method, _, path = event["routeKey"].partition(" ")
        assert event["requestContext"]["http"]["method"] == method, case.name
        assert any(route.path == path and route.method in (method, "ANY") for route in own), (
            f"{case.name}: {event['routeKey']} is not a route of {case.function}"
        )
