"""The local stream mapping's filters (``infra.devkit.streams``) against Lambda's event
filtering rules, on records shaped as a DynamoDB stream delivers them: each rule it
evaluates, the traps of DynamoDB's JSON it must reproduce (numbers are strings, an
attribute is an object), and every pattern it cannot evaluate refused when the pump is
built, never taken to admit everything.

Then the template's own FilterCriteria on the records each write of the sessions store
makes: only what ends a session reaches the publisher."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.devkit import streams
from infra.devkit.streams import UnsupportedPattern, admitted, check_pattern, matches


def record(
    event: str = "MODIFY",
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"sid": {"S": "s-1"}}, "SequenceNumber": "100"}
    change["SizeBytes"], change["StreamViewType"] = 120, "NEW_AND_OLD_IMAGES"
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": change, **extra}


LIVE = {"sid": {"S": "s-1"}, "user_id": {"S": "u-1"}, "idle_expires_at": {"N": "1800000900.000"}}
REVOKED = {**LIVE, "revoked_at": {"N": "1800000000.000"}, "revoke_reason": {"S": "logout"}}


def admits(pattern: dict[str, Any], each: dict[str, Any]) -> bool:
    check_pattern(pattern)
    return matches(pattern, each)


# ------------------------------------------------------------------ the rules
def test_an_exact_value_nested_under_dynamodb_matches_that_value_only():
    pattern = {"dynamodb": {"NewImage": {"revoke_reason": {"S": ["logout"]}}}}
    assert admits(pattern, record(new=REVOKED))
    other = {**REVOKED, "revoke_reason": {"S": "logout_all"}}
    assert not admits(pattern, record(new=other))
    assert not admits(pattern, record(new=LIVE))  # missing: no value to equal
    assert not admits(pattern, record("REMOVE", old=REVOKED))  # the same value, another image


def test_a_list_of_values_is_an_or_and_keys_are_an_and():
    pattern = {
        "eventName": ["MODIFY", "REMOVE"],
        "dynamodb": {"Keys": {"sid": {"S": ["s-1"]}}},
    }
    assert admits(pattern, record("MODIFY", new=LIVE))
    assert admits(pattern, record("REMOVE", old=LIVE))
    assert not admits(pattern, record("INSERT", new=LIVE))
    elsewhere = record("MODIFY", new=LIVE)
    elsewhere["dynamodb"]["Keys"]["sid"]["S"] = "s-2"
    assert not admits(pattern, elsewhere)


def test_literals_keep_their_json_types():
    assert admits({"dynamodb": {"SizeBytes": [120]}}, record())
    assert not admits({"dynamodb": {"SizeBytes": ["120"]}}, record())
    flagged = record(new={**LIVE, "successor_undelivered": {"BOOL": True}})
    assert admits({"dynamodb": {"NewImage": {"successor_undelivered": {"BOOL": [True]}}}}, flagged)
    assert not admits({"dynamodb": {"NewImage": {"successor_undelivered": {"BOOL": [1]}}}}, flagged)
    nulled = record(new={**LIVE, "note": {"NULL": None}})
    assert admits({"dynamodb": {"NewImage": {"note": {"NULL": [None]}}}}, nulled)
    assert not admits({"dynamodb": {"NewImage": {"note": {"NULL": [None]}}}}, record(new=LIVE))


def test_prefix_suffix_and_equals_ignore_case_match_strings():
    reason = {"dynamodb": {"NewImage": {"revoke_reason": {"S": None}}}}

    def on(rule: dict[str, Any]) -> dict[str, Any]:
        pattern = json.loads(json.dumps(reason))
        pattern["dynamodb"]["NewImage"]["revoke_reason"]["S"] = [rule]
        return pattern

    revoked = record(new=REVOKED)
    assert admits(on({"prefix": "log"}), revoked)
    assert not admits(on({"prefix": "out"}), revoked)
    assert admits(on({"suffix": "out"}), revoked)
    assert not admits(on({"suffix": "log"}), revoked)
    assert admits(on({"equals-ignore-case": "LOGOUT"}), revoked)
    assert not admits(on({"equals-ignore-case": "LOGOUT_ALL"}), revoked)
    assert not admits(on({"prefix": "log"}), record(new=LIVE))


def test_anything_but_needs_a_value_other_than_those_listed():
    pattern = {"dynamodb": {"NewImage": {"revoke_reason": {"S": [{"anything-but": ["logout"]}]}}}}
    assert not admits(pattern, record(new=REVOKED))
    reused = {**REVOKED, "revoke_reason": {"S": "refresh_token_reuse"}}
    assert admits(pattern, record(new=reused))
    assert not admits(pattern, record(new=LIVE))  # no value at all is not "another value"
    single = {"eventName": [{"anything-but": "REMOVE"}]}
    assert admits(single, record("MODIFY"))
    assert not admits(single, record("REMOVE"))


def test_numeric_compares_json_numbers_never_dynamodbs_number_strings():
    assert admits({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 120]}]}}, record())
    assert not admits({"dynamodb": {"SizeBytes": [{"numeric": [">", 120]}]}}, record())
    assert admits({"dynamodb": {"SizeBytes": [{"numeric": ["=", 120]}]}}, record())
    # "N" holds a string: a numeric rule on it never matches, however true it reads.
    expiry = {"dynamodb": {"NewImage": {"idle_expires_at": {"N": [{"numeric": [">", 0]}]}}}}
    assert not admits(expiry, record(new=LIVE))


def test_exists_is_about_a_value_at_the_path_an_object_is_none():
    present = {"dynamodb": {"NewImage": {"revoked_at": {"N": [{"exists": True}]}}}}
    absent = {"dynamodb": {"NewImage": {"revoked_at": {"N": [{"exists": False}]}}}}
    assert admits(present, record(new=REVOKED))
    assert not admits(present, record(new=LIVE))
    assert admits(absent, record(new=LIVE))
    assert not admits(absent, record(new=REVOKED))
    # A missing object on the way (a REMOVE has no NewImage) is "not existing" too.
    assert admits(absent, record("REMOVE", old=REVOKED))
    assert not admits(present, record("REMOVE", old=REVOKED))
    # The trap: the attribute itself is an object ({"N": "..."}), not a value.
    shallow = {"dynamodb": {"NewImage": {"revoked_at": [{"exists": True}]}}}
    assert not admits(shallow, record(new=REVOKED))


def test_an_array_in_the_record_matches_when_one_of_its_values_does():
    mfa = record(new={**LIVE, "amr": {"L": [{"S": "pwd"}, {"S": "otp"}]}})
    assert admits({"dynamodb": {"NewImage": {"amr": {"L": {"S": ["otp"]}}}}}, mfa)
    assert not admits({"dynamodb": {"NewImage": {"amr": {"L": {"S": ["hwk"]}}}}}, mfa)
    assert admits({"dynamodb": {"NewImage": {"amr": {"L": {"S": [{"exists": True}]}}}}}, mfa)


def test_several_patterns_admit_what_any_one_admits_and_none_admits_all():
    revoked = {"dynamodb": {"NewImage": {"revoke_reason": {"S": ["logout"]}}}}
    removed = {"eventName": ["REMOVE"]}
    assert admitted([revoked, removed], record(new=REVOKED))
    assert admitted([revoked, removed], record("REMOVE", old=LIVE))
    assert not admitted([revoked, removed], record(new=LIVE))
    assert admitted([], record("INSERT", new=LIVE))


# ------------------------------------------------------------------ refused at build time
@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": "REMOVE"},  # a leaf that is not a list
        {"dynamodb": {"NewImage": {"revoked_at": {"N": {"exists": True}}}}},  # nor this one
        {"eventName": []},  # a list with no rule
        {"dynamodb": {}},  # an object with no key
        {"eventName": [["MODIFY"]]},  # a list inside a rule
        {"eventName": [{"wildcard": "MOD*"}]},
        {"eventName": [{"cidr": "10.0.0.0/24"}]},
        {"eventName": [{"anything-but": {"prefix": "MOD"}}]},
        {"eventName": [{"anything-but": []}]},
        {"eventName": [{"prefix": "MOD", "suffix": "IFY"}]},  # two operators in one rule
        {"eventName": [{"exists": "yes"}]},
        {"eventName": [{"prefix": 1}]},
        {"dynamodb": {"SizeBytes": [{"numeric": [">", "100"]}]}},
        {"dynamodb": {"SizeBytes": [{"numeric": ["~", 100]}]}},
        {"dynamodb": {"SizeBytes": [{"numeric": [">", 1, "<"]}]}},
        {"dynamodb": {"SizeBytes": [{"numeric": [">", True]}]}},
        {"$or": [{"eventName": ["REMOVE"]}, {"eventName": ["MODIFY"]}]},
        [{"eventName": ["REMOVE"]}],  # not an object at all
    ],
    ids=lambda pattern: json.dumps(pattern)[:60],
)
def test_a_pattern_it_cannot_evaluate_is_refused_when_the_pump_is_built(pattern):
    with pytest.raises(UnsupportedPattern):
        check_pattern(pattern)
    with pytest.raises(UnsupportedPattern):
        # Before any AWS call: the pump's stream is never read with a bad filter.
        streams.StreamPump(None, None, "sessions", lambda _event: None, filters=[pattern])


def test_a_refusal_names_the_rule_at_fault():
    with pytest.raises(UnsupportedPattern, match=r"filter 1\.dynamodb\.NewImage\.sid\.S"):
        streams.StreamPump(
            None,
            None,
            "sessions",
            lambda _event: None,
            filters=[{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"sid": {"S": "x"}}}}],
        )


# ------------------------------------------------------------------ the template's filters
@pytest.fixture(scope="module")
def feed_filters() -> list[dict[str, Any]]:
    [mapping] = streams.mappings()
    assert (mapping["table"], mapping["function"]) == ("SessionsTable", "RevocationFeedFunction")
    for pattern in mapping["filters"]:
        check_pattern(pattern)  # every rule of the template is one emulated as Lambda's
    return list(mapping["filters"])


ROTATED = {**LIVE, "token_digest": {"B": "bmV3"}, "previous_digest": {"B": "b2xk"}}


@pytest.mark.parametrize(
    ("what", "each", "reaches"),
    [
        ("a login (INSERT)", record("INSERT", new=LIVE), False),
        ("a refresh-token rotation", record(new=ROTATED, old=LIVE), False),
        ("a logout (revoked_at set)", record(new=REVOKED, old=LIVE), True),
        ("a session written revoked (INSERT)", record("INSERT", new=REVOKED), True),
        (
            "a later write to a revoked session",
            record(new={**REVOKED, "last_used_at": {"N": "1800000060.000"}}, old=REVOKED),
            False,
        ),
        ("a live session deleted", record("REMOVE", old=LIVE), True),
        ("a revoked session deleted (TTL)", record("REMOVE", old=REVOKED), False),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_template_admits_only_what_ends_a_session(feed_filters, what, each, reaches):
    assert admitted(feed_filters, each) is reaches, what
