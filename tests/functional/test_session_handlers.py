"""The session flows through the real handlers, on a frozen clock: refresh edges,
tabs racing within the grace window, theft (log line and metric), the cost of a
refresh in DynamoDB requests, the sessions API, logout, and what reaches the logs.

TTL = 1000 s, idle = 300 s, grace = 10 s throughout.
"""

from __future__ import annotations

import json

import pytest
from leakwatch import LeakWatch
from session_checks import RequestCounter, SessionTable
from support import DEMO_PASSWORD, LambdaContext, invoke, load_event, with_body

from authcore import aws
from authcore.clock import FrozenClock
from authcore.edge.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from authcore.edge.observability import logger
from authcore.runtime import signing
from authcore.tokens.refresh import RefreshToken
from functions.login import app as login
from functions.logout import app as logout
from functions.refresh import app as refresh
from functions.sessions import app as sessions

T0 = 1_800_000_000.0
TTL, IDLE, GRACE = 1000, 300, 10
MS = 0.001


@pytest.fixture
def clock(stack, monkeypatch):
    monkeypatch.setenv("SESSION_TTL_SECONDS", str(TTL))
    monkeypatch.setenv("SESSION_IDLE_TTL_SECONDS", str(IDLE))
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", str(GRACE))
    signing.reset()
    clock = FrozenClock(T0)
    signing.use_clock(clock)
    return clock


@pytest.fixture
def table(stack):
    return SessionTable(stack.dynamodb, stack.sessions_table)


def with_body_token(token):
    return invoke(refresh, with_body("refresh.json", {"refresh_token": token}))


def with_cookie(module, name, token):
    event = load_event(name, cookies=[f"{REFRESH_COOKIE}={token}"])
    event.pop("body", None)
    event["headers"].pop("content-type", None)
    return invoke(module, event)


def sessions_event(user_id, current_sid, method="GET", sid=None):
    if method == "GET":
        event = load_event("sessions_list.json")
    else:
        event = load_event("sessions_revoke.json", rawPath=f"/auth/sessions/{sid}")
        event["pathParameters"] = {"sid": sid}
        event["requestContext"]["http"]["path"] = f"/auth/sessions/{sid}"
    event["requestContext"]["authorizer"] = {
        "lambda": {"sub": user_id, "sid": current_sid, "username": "sam", "scope": "profile"}
    }
    return event


def sid_of(token):
    return token.split(".")[0]


# ------------------------------------------------------------- expiry edges
def test_refresh_edges_through_the_handler(demo_user, login_as, clock, table):
    token = login_as().body["refresh_token"]
    clock.advance(IDLE - MS)
    answer = with_body_token(token)
    assert answer.status == 200
    assert answer.body["refresh_expires_in"] == IDLE  # a refresh restarts the idle period
    token = answer.body["refresh_token"]
    clock.advance(IDLE)
    answer = with_body_token(token)
    assert (answer.status, answer.body["error"]) == (401, "invalid_grant")
    assert answer.headers["Cache-Control"] == "no-store"
    table.check()


def test_an_expired_cookie_session_is_401_and_clears_the_cookies(demo_user, login_as, clock):
    cookie = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    clock.advance(TTL)
    answer = with_cookie(refresh, "refresh.json", cookie)
    assert answer.status == 401
    assert all("Max-Age=0" in c for c in answer.cookies)


# ---------------------------------------------------------- tabs and theft
def test_two_tabs_racing_end_up_with_the_same_refresh_cookie(demo_user, login_as, clock, table):
    start = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    clock.advance(60)
    tab_a = with_cookie(refresh, "refresh.json", start)
    clock.advance(GRACE)  # the slowest tab arrives at the very end of the window
    tab_b = with_cookie(refresh, "refresh.json", start)
    assert (tab_a.status, tab_b.status) == (200, 200)
    assert tab_a.cookie_value(REFRESH_COOKIE) == tab_b.cookie_value(REFRESH_COOKIE)
    assert tab_a.cookie_value(ACCESS_COOKIE) != tab_b.cookie_value(ACCESS_COOKIE)
    assert tab_a.cookie(REFRESH_COOKIE) != tab_b.cookie(REFRESH_COOKIE)  # Max-Age moved on
    assert table.is_current(tab_a.cookie_value(REFRESH_COOKIE))
    table.check()


def test_theft_revokes_the_session_logs_an_event_and_emits_a_metric(
    demo_user, login_as, clock, table, capfd, caplog
):
    watch = LeakWatch(capfd, caplog, logger)
    try:
        first = json.loads(
            watch.wrap(login.lambda_handler)(
                with_body(
                    "login.json", {"username": "sam", "password": DEMO_PASSWORD, "delivery": "body"}
                ),
                LambdaContext(),
            )["body"]
        )
        stolen = first["refresh_token"]
        handler = watch.wrap(refresh.lambda_handler)
        event = with_body("refresh.json", {"refresh_token": stolen})
        legit = json.loads(handler(event, LambdaContext())["body"])["refresh_token"]
        watch.read()
        clock.advance(GRACE + MS)
        answer = handler(with_body("refresh.json", {"refresh_token": stolen}), LambdaContext())
        output = watch.read()
        assert answer["statusCode"] == 401
        events = [
            json.loads(line)
            for line in output.splitlines()
            if line.startswith("{") and "security_event" in line
        ]
        assert len(events) == 1
        event = events[0]
        assert event["level"] == "WARNING"
        assert event["security_event"] == "refresh_token_reuse"
        assert event["sid"] == sid_of(stolen)
        assert event["user_id"] == demo_user.user_id
        assert event["reused"] == "previous"
        assert '"RefreshTokenReuseDetected"' in output  # the EMF metric document
        assert with_body_token(legit).status == 401  # the newest token died with it
        assert table.is_revoked(sid_of(stolen))
        assert watch.leaks() == set()
    finally:
        watch.close()


# --------------------------------------------------------------- round trips
def test_a_successful_refresh_is_exactly_one_dynamodb_request(demo_user, login_as, clock):
    token = login_as().body["refresh_token"]
    dynamodb, kms = RequestCounter(aws.dynamodb()), RequestCounter(aws.kms())
    rotated = with_body_token(token)
    assert rotated.status == 200
    assert dynamodb.operations == ["UpdateItem"]
    assert kms.operations == ["Sign"]
    dynamodb.clear()
    assert with_body_token(token).body["refresh_token"] == rotated.body["refresh_token"]
    assert dynamodb.operations == ["UpdateItem"]  # the grace answer costs no second read


# ------------------------------------------------------------- sessions API
def test_sessions_list_shows_live_sessions_with_their_fields(demo_user, login_as, clock):
    tab = login_as(headers={**load_event("login.json")["headers"], "user-agent": "Tab A"})
    current = tab.body["refresh_token"]
    clock.advance(10)
    other = login_as().body["refresh_token"]
    clock.advance(10)
    dead = login_as().body["refresh_token"]
    invoke(logout, with_body("logout.json", {"refresh_token": dead}))
    clock.advance(100)
    current = with_body_token(current).body["refresh_token"]
    answer = invoke(sessions, sessions_event(demo_user.user_id, sid_of(current)))
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    listed = answer.body["sessions"]
    assert [s["sid"] for s in listed] == [sid_of(other), sid_of(current)]  # newest first
    mine = listed[1]
    assert mine == {
        "sid": sid_of(current),
        "created_at": int(T0),
        "last_used_at": int(T0 + 120),
        "expires_at": int(T0 + 120 + IDLE),
        "user_agent": "Tab A",
        "current": True,
    }
    assert listed[0]["current"] is False
    assert listed[0]["last_used_at"] == int(T0 + 10)
    for session in listed:  # never a token, digest or family
        assert set(session) == {
            "sid",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "current",
        }
    clock.advance(IDLE - 100)  # `other` idles out, the refreshed one lives on
    answer = invoke(sessions, sessions_event(demo_user.user_id, sid_of(current)))
    assert [s["sid"] for s in answer.body["sessions"]] == [sid_of(current)]


def test_deleting_a_session_revokes_it_and_anothers_sid_is_404(
    stack, demo_user, login_as, clock, table
):
    stack.admin.create_user("dora", "another-long-password")
    dora = login_as(username="dora", password="another-long-password").body["refresh_token"]
    mine, spare = (login_as().body["refresh_token"] for _ in range(2))
    for sid in (sid_of(dora), "A" * 22, "not-a-sid"):
        answer = invoke(sessions, sessions_event(demo_user.user_id, sid_of(mine), "DELETE", sid))
        assert (answer.status, answer.body["error"]) == (404, "not_found")
    assert not table.is_revoked(sid_of(dora))
    assert with_body_token(dora).status == 200
    answer = invoke(
        sessions, sessions_event(demo_user.user_id, sid_of(mine), "DELETE", sid_of(spare))
    )
    assert answer.status == 204
    assert with_body_token(spare).status == 401
    assert with_body_token(mine).status == 200
    table.check()


# ----------------------------------------------------------------- logout
def test_logout_with_a_superseded_token_still_ends_the_session(demo_user, login_as, clock):
    first = login_as().body["refresh_token"]
    second = with_body_token(first).body["refresh_token"]
    clock.advance(GRACE + 1)
    assert invoke(logout, with_body("logout.json", {"refresh_token": first})).status == 204
    assert with_body_token(second).status == 401


def test_logout_with_a_forged_token_for_a_known_sid_revokes_nothing(
    demo_user, login_as, clock, table
):
    victim = login_as().body["refresh_token"]
    forged = str(RefreshToken.new(sid=sid_of(victim)))
    for body in ({"refresh_token": forged}, {"refresh_token": forged, "all": True}):
        assert invoke(logout, with_body("logout.json", body)).status == 204
    assert not table.is_revoked(sid_of(victim))
    assert with_body_token(victim).status == 200


def test_logout_by_cookie_revokes_at_once(demo_user, login_as, clock, table):
    cookie = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    answer = with_cookie(logout, "logout.json", cookie)
    assert answer.status == 204
    assert table.is_revoked(sid_of(cookie))
    assert with_cookie(refresh, "refresh.json", cookie).status == 401
    table.check()


# --------------------------------------------------------------- the logs
def test_no_token_cookie_or_password_reaches_any_output(stack, demo_user, clock, capfd, caplog):
    watch = LeakWatch(capfd, caplog, logger)
    handlers = {m: watch.wrap(m.lambda_handler) for m in (login, refresh, logout, sessions)}

    def call(module, event):
        response = handlers[module](event, LambdaContext())
        body = json.loads(response["body"]) if response.get("body") else {}
        return response, body

    def cookie_event(name, token):
        event = load_event(name, cookies=[f"{REFRESH_COOKIE}={token}"])
        event.pop("body", None)
        event["headers"].pop("content-type", None)
        return event

    try:
        credentials = {"username": "sam", "password": DEMO_PASSWORD}
        _, body = call(login, with_body("login.json", {**credentials, "delivery": "body"}))
        first = body["refresh_token"]
        _, second = call(refresh, with_body("refresh.json", {"refresh_token": first}))
        # Grace hands back a token issued before, by design: past the watch's
        # echo check, but its output is still scanned.
        event = with_body("refresh.json", {"refresh_token": first})
        watch.note_request(event)
        watch.note_response(refresh.lambda_handler(event, LambdaContext()))
        response, _ = call(login, with_body("login.json", credentials))
        cookie = next(c for c in response["cookies"] if c.startswith(REFRESH_COOKIE))
        cookie = cookie.split(";")[0].split("=", 1)[1]
        response, _ = call(refresh, cookie_event("refresh.json", cookie))
        call(sessions, sessions_event(demo_user.user_id, sid_of(first)))
        clock.advance(GRACE + 1)
        call(refresh, with_body("refresh.json", {"refresh_token": first}))  # theft
        call(refresh, with_body("refresh.json", {"refresh_token": "x" * 40}))  # garbage
        call(login, with_body("login.json", {"username": "sam", "password": "wrong-password"}))
        call(logout, cookie_event("logout.json", cookie))
        call(
            logout,
            with_body("logout.json", {"refresh_token": second["refresh_token"], "all": True}),
        )
        assert len(watch.secrets) >= 8
        assert watch.leaks() == set()
    finally:
        watch.close()
