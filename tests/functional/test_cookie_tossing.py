"""Cookie tossing must not make logout fail open (issue 14, item 3).

A sibling subdomain can plant a second `__Secure-refresh_token` (Domain=parent).
API Gateway then hands the handler two cookies of that name. Logout revokes every
candidate's live session, clears the cookies and sends `Clear-Site-Data`; refresh
rotates the one live candidate and refuses (consuming and revoking nothing) when it
cannot tell which is ours.
"""

from __future__ import annotations

import pytest
from support import invoke, load_event

from authcore.edge.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from authcore.runtime import signing
from functions.logout import app as logout
from functions.refresh import app as refresh

GARBAGE = "A" * 22 + "." + "B" * 64  # well-formed, unknown sid
OTHER_USER = ("mallory", "mallorys-own-long-password")


@pytest.fixture(autouse=True)
def _grace_zero(monkeypatch, stack):
    # A token superseded once is stale at once: no window hides a replay here.
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    signing.reset()


@pytest.fixture
def genuine(demo_user, login_as):
    return login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)


@pytest.fixture
def planted_valid(stack, login_as):
    """The attacker's own, perfectly valid session, planted in the victim's browser."""
    stack.admin.create_user(*OTHER_USER)
    username, password = OTHER_USER
    return login_as(username=username, password=password, delivery="cookie").cookie_value(
        REFRESH_COOKIE
    )


def with_cookies(name, *values):
    event = load_event(name, cookies=[f"{REFRESH_COOKIE}={v}" for v in values])
    del event["body"]
    del event["headers"]["content-type"]
    return event


def refresh_with(*values):
    return invoke(refresh, with_cookies("refresh.json", *values))


def logout_with(*values, everywhere=False):
    event = with_cookies("logout.json", *values)
    if everywhere:
        event["body"] = '{"all": true}'
        event["headers"]["content-type"] = "application/json"
    return invoke(logout, event)


def session_item(stack, token):
    return stack.dynamodb.get_item(
        TableName=stack.sessions_table, Key={"sid": {"S": token.split(".")[0]}}
    )["Item"]


def is_revoked(stack, token):
    return "revoked_at" in session_item(stack, token)


def assert_cleared(answer, *, clear_site_data=True):
    assert {c.split("=", 1)[0] for c in answer.cookies} == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert all("Max-Age=0" in c for c in answer.cookies)
    if clear_site_data:
        assert answer.headers["Clear-Site-Data"] == '"cookies"'
    else:
        assert "Clear-Site-Data" not in answer.headers


# ------------------------------------------------------------------ logout
@pytest.mark.parametrize("planted", ["garbage", "malformed", "valid"])
@pytest.mark.parametrize("planted_first", [True, False], ids=["planted-first", "genuine-first"])
def test_logout_with_a_planted_cookie_revokes_ours_and_clears_everything(
    genuine, planted_valid, stack, planted, planted_first
):
    other = {"garbage": GARBAGE, "malformed": "not-a-token", "valid": planted_valid}[planted]
    values = (other, genuine) if planted_first else (genuine, other)
    answer = logout_with(*values)
    assert answer.status == 204
    assert is_revoked(stack, genuine), "the genuine session survived the logout"
    assert_cleared(answer)
    if planted == "valid":  # every candidate of a live session ends: the attacker's too
        assert is_revoked(stack, planted_valid)
    assert refresh_with(genuine).status == 401


def test_logout_everywhere_with_a_planted_cookie_ends_every_session(
    genuine, login_as, stack, watch
):
    second = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    watch.note_token(genuine)
    answer = logout_with(GARBAGE, genuine, everywhere=True)
    assert answer.status == 204
    assert is_revoked(stack, genuine)
    assert is_revoked(stack, second)
    assert_cleared(answer)
    assert '"refresh_cookie_tossing"' in watch.read()


def test_a_single_cookie_logout_sends_no_clear_site_data(genuine, stack):
    answer = logout_with(genuine)
    assert answer.status == 204
    assert is_revoked(stack, genuine)
    assert_cleared(answer, clear_site_data=False)


def test_the_same_cookie_sent_twice_counts_once(genuine, stack):
    answer = refresh_with(genuine, genuine)
    assert answer.status == 200
    assert "Clear-Site-Data" not in answer.headers


# ----------------------------------------------------------------- refresh
@pytest.mark.parametrize("planted", [GARBAGE, "not-a-token"], ids=["garbage", "malformed"])
@pytest.mark.parametrize("planted_first", [True, False], ids=["planted-first", "genuine-first"])
def test_refresh_rotates_the_one_live_candidate(genuine, stack, watch, planted, planted_first):
    values = (planted, genuine) if planted_first else (genuine, planted)
    watch.note_token(genuine)
    answer = refresh_with(*values)
    assert answer.status == 200
    successor = answer.cookie_value(REFRESH_COOKIE)
    assert successor.split(".")[0] == genuine.split(".")[0]  # our session, rotated
    assert refresh_with(successor).status == 200
    assert '"refresh_cookie_tossing"' in watch.read()


@pytest.mark.parametrize("planted_first", [True, False], ids=["planted-first", "genuine-first"])
def test_a_planted_valid_session_never_replaces_ours(genuine, planted_valid, stack, planted_first):
    values = (planted_valid, genuine) if planted_first else (genuine, planted_valid)
    answer = refresh_with(*values)
    # Two live sessions: which one is ours cannot be told, so neither is rotated
    # (rotating the attacker's would log the victim into the attacker's account).
    assert answer.status == 401
    assert answer.body["error"] == "invalid_grant"
    assert answer.cookie_value(REFRESH_COOKIE) == ""
    assert_cleared(answer)
    # Nothing was consumed or revoked: each still works on its own.
    assert not is_revoked(stack, genuine)
    assert not is_revoked(stack, planted_valid)
    assert refresh_with(genuine).status == 200
    assert refresh_with(planted_valid).status == 200


def test_a_planted_stale_token_of_our_family_fires_no_theft_detection(genuine, stack, watch):
    # The planter holds an old token of our family (grace is 0 here: stale at once).
    current = refresh_with(genuine).cookie_value(REFRESH_COOKIE)
    answer = refresh_with(genuine, current)
    assert answer.status == 401
    assert_cleared(answer)
    assert not is_revoked(stack, current), "trying candidates killed the genuine family"
    assert '"refresh_token_reuse"' not in watch.read()
    assert refresh_with(current).status == 200


def test_a_stale_token_beside_garbage_is_the_replay_it_would_be_alone(genuine, stack):
    current = refresh_with(genuine).cookie_value(REFRESH_COOKIE)
    # Planted garbage must not hide a replay either: the outcome is that of the
    # stale token alone, theft detection.
    assert refresh_with(GARBAGE, genuine).status == 401
    assert is_revoked(stack, current)


def test_only_dead_candidates_are_refused_without_side_effects(genuine, stack):
    assert refresh_with(GARBAGE, "not-a-token").status == 401
    assert not is_revoked(stack, genuine)
    assert refresh_with(genuine).status == 200
