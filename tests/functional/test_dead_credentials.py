"""A dead credential must not end other sessions (issue 14, item 2).

`POST /auth/logout {"all": true}` ends every session of the user only when the
credential could still act for a live session: the current refresh token (or its
in-grace predecessor), or the access token of a session that is still live. Anything
else answers 204 (RFC 7009), ends nothing, and logs a security event without the token.
"""

from __future__ import annotations

import pytest
from support import invoke, load_event, with_body

from authcore.clock import FrozenClock
from authcore.runtime import signing
from functions.logout import app as logout
from functions.refresh import app as refresh

T0 = 1_800_000_000.0
GRACE = 10


@pytest.fixture
def clock(stack, monkeypatch):
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", str(GRACE))
    signing.reset()
    frozen = FrozenClock(T0)
    signing.use_clock(frozen)
    return frozen


def refreshed(token):
    answer = invoke(refresh, with_body("refresh.json", {"refresh_token": token}))
    return answer.body["refresh_token"] if answer.status == 200 else None


def logout_all_with_refresh_token(token):
    return invoke(logout, with_body("logout.json", {"refresh_token": token, "all": True}))


def logout_all_with_access_token(access_token):
    event = with_body("logout.json", {"all": True})
    event["headers"]["authorization"] = f"Bearer {access_token}"
    return invoke(logout, event)


def is_revoked(stack, token):
    item = stack.dynamodb.get_item(
        TableName=stack.sessions_table, Key={"sid": {"S": token.split(".")[0]}}
    )["Item"]
    return "revoked_at" in item


@pytest.mark.parametrize("late", [GRACE + 0.001, 3600])
def test_a_token_rotated_long_ago_ends_nothing(demo_user, login_as, clock, stack, watch, late):
    old = login_as().body["refresh_token"]
    other = login_as().body["refresh_token"]
    current = refreshed(old)
    clock.advance(late)
    watch.note_token(old)
    answer = logout_all_with_refresh_token(old)
    assert answer.status == 204
    assert not is_revoked(stack, current)
    assert not is_revoked(stack, other)
    assert refreshed(other) is not None
    assert '"logout_all_refused"' in watch.read()


def test_the_in_grace_predecessor_may_still_end_every_session(demo_user, login_as, clock, stack):
    old = login_as().body["refresh_token"]
    other = login_as().body["refresh_token"]
    refreshed(old)
    clock.advance(GRACE)  # the edge of the window is still inside it
    assert logout_all_with_refresh_token(old).status == 204
    assert is_revoked(stack, old)
    assert is_revoked(stack, other)


def test_the_current_token_ends_every_session(demo_user, login_as, clock, stack):
    token = login_as().body["refresh_token"]
    other = login_as().body["refresh_token"]
    assert logout_all_with_refresh_token(token).status == 204
    assert is_revoked(stack, token)
    assert is_revoked(stack, other)


def test_the_token_of_an_ended_session_ends_nothing(demo_user, login_as, clock, stack, watch):
    ended = login_as().body["refresh_token"]
    other = login_as().body["refresh_token"]
    assert invoke(logout, with_body("logout.json", {"refresh_token": ended})).status == 204
    watch.note_token(ended)
    assert logout_all_with_refresh_token(ended).status == 204
    assert not is_revoked(stack, other)
    assert '"logout_all_refused"' in watch.read()


def end_by_logout(tokens):
    answer = invoke(logout, with_body("logout.json", {"refresh_token": tokens["refresh_token"]}))
    assert answer.status == 204


def end_by_theft(tokens):
    successor = refreshed(tokens["refresh_token"])
    assert refreshed(tokens["refresh_token"]) is None  # replay: the family is revoked
    assert refreshed(successor) is None


# Access tokens are verified on the real clock: these tests do not freeze it.
@pytest.mark.parametrize("ending", ["logout", "theft"])
def test_the_access_token_of_an_ended_session_ends_nothing(
    demo_user, login_as, stack, watch, monkeypatch, ending
):
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")  # a replay is theft at once
    signing.reset()
    ended = login_as().body
    other = login_as().body["refresh_token"]
    if ending == "logout":
        end_by_logout(ended)
    else:
        end_by_theft(ended)
    watch.note_token(ended["access_token"])
    answer = logout_all_with_access_token(ended["access_token"])  # still within its exp
    assert answer.status == 204
    assert not is_revoked(stack, other)
    assert refreshed(other) is not None
    assert '"logout_all_refused"' in watch.read()


def test_the_access_token_of_a_live_session_ends_every_session(demo_user, login_as, stack):
    tokens = login_as().body
    other = login_as().body["refresh_token"]
    assert logout_all_with_access_token(tokens["access_token"]).status == 204
    assert is_revoked(stack, tokens["refresh_token"])
    assert is_revoked(stack, other)


def test_logout_of_one_session_with_its_access_token_still_works(demo_user, login_as, stack):
    tokens = login_as().body
    event = load_event("logout.json")
    del event["body"]
    event["headers"]["authorization"] = f"Bearer {tokens['access_token']}"
    assert invoke(logout, event).status == 204
    assert is_revoked(stack, tokens["refresh_token"])
