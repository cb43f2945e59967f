import json

import pytest
from support import ALLOWED_ORIGIN, Faults, invoke, load_event, with_body

from authcore import aws
from authcore.edge.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from functions.logout import app as logout
from functions.refresh import app as refresh


@pytest.fixture(autouse=True)
def _no_grace(monkeypatch):
    # These tests are about plain rotation; the grace window has its own tests.
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")


def refresh_with_body(token):
    return invoke(refresh, with_body("refresh.json", {"refresh_token": token}))


def refresh_with_cookie(token, **headers):
    event = load_event("refresh.json", cookies=[f"{REFRESH_COOKIE}={token}"])
    del event["body"]
    del event["headers"]["content-type"]
    event["headers"].update(headers)
    return invoke(refresh, event)


def live_sessions(stack):
    items = stack.dynamodb.scan(TableName=stack.sessions_table)["Items"]
    return [i for i in items if "revoked_at" not in i]


def test_rotation_returns_a_new_pair_and_the_old_token_stops_working(demo_user, login_as):
    first = login_as().body
    second = refresh_with_body(first["refresh_token"])
    assert second.status == 200
    assert second.body["refresh_token"] != first["refresh_token"]
    assert second.body["access_token"] != first["access_token"]
    assert second.cookies == []
    assert refresh_with_body(first["refresh_token"]).status == 401


def test_the_table_never_holds_a_refresh_token(demo_user, login_as, stack):
    first = login_as().body["refresh_token"]
    second = refresh_with_body(first).body["refresh_token"]
    dump = json.dumps(stack.dynamodb.scan(TableName=stack.sessions_table)["Items"], default=repr)
    for token in (first, second):
        assert token not in dump
        assert token.split(".")[1] not in dump


def test_cookie_in_cookie_out(demo_user, login_as):
    cookies = login_as(delivery="cookie")
    answer = refresh_with_cookie(cookies.cookie_value(REFRESH_COOKIE))
    assert answer.status == 200
    assert "refresh_token" not in answer.body
    assert answer.cookie_value(REFRESH_COOKIE) != cookies.cookie_value(REFRESH_COOKIE)
    assert answer.cookie_value(ACCESS_COOKIE)


def test_cross_site_refresh_is_403_and_consumes_nothing(demo_user, login_as):
    token = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        answer = refresh_with_cookie(token, **headers)
        assert answer.status == 403
        assert answer.body["error"] == "forbidden"
        assert answer.cookies == []
    allowed = refresh_with_cookie(token, origin=ALLOWED_ORIGIN, **{"sec-fetch-site": "same-site"})
    assert allowed.status == 200


@pytest.mark.parametrize("token", ["", "garbage", "a" * 22 + "." + "b" * 64, "x" * 600])
def test_invalid_tokens_are_401_or_400(demo_user, token):
    answer = refresh_with_body(token)
    assert answer.status in (400, 401)
    assert answer.body["error"] in ("invalid_grant", "invalid_request")


def test_no_token_at_all_is_401(demo_user):
    event = load_event("refresh.json")
    del event["body"]
    answer = invoke(refresh, event)
    assert answer.status == 401
    assert answer.body["error"] == "invalid_grant"


def test_refresh_with_wrong_type_is_400(demo_user):
    assert invoke(refresh, with_body("refresh.json", {"refresh_token": 5})).status == 400


def test_dynamodb_failure_during_refresh_is_503_and_the_token_still_works(demo_user, login_as):
    token = login_as().body["refresh_token"]
    faults = Faults(aws.dynamodb())
    faults.fail("UpdateItem", "ProvisionedThroughputExceededException", times=1)
    answer = refresh_with_body(token)
    assert answer.status == 503
    assert answer.headers["Retry-After"]
    assert refresh_with_body(token).status == 200


def test_kms_failure_after_rotation_keeps_the_presented_token_working(
    demo_user, login_as, monkeypatch, stack
):
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "10")
    token = login_as().body["refresh_token"]
    Faults(aws.kms()).fail("Sign", "KMSInternalException", times=1)
    assert refresh_with_body(token).status == 503
    assert refresh_with_body(token).status == 200


def test_without_grace_a_kms_failure_costs_the_session_but_raises_no_theft_alarm(
    demo_user, login_as, stack
):
    # No grace window here (see _no_grace): the undelivered successor is never
    # redeemed, and the retry is a plain refusal, not reuse detection.
    token = login_as().body["refresh_token"]
    Faults(aws.kms()).fail("Sign", "KMSInternalException", times=1)
    assert refresh_with_body(token).status == 503
    assert refresh_with_body(token).status == 401
    item = stack.dynamodb.get_item(
        TableName=stack.sessions_table, Key={"sid": {"S": token.split(".")[0]}}
    )["Item"]
    assert "revoked_at" not in item
    assert login_as().status == 200


def test_logout_revokes_the_session_and_clears_cookies(demo_user, login_as, stack):
    token = login_as().body["refresh_token"]
    answer = invoke(logout, with_body("logout.json", {"refresh_token": token}))
    assert answer.status == 204
    assert answer.body is None
    assert answer.headers["Cache-Control"] == "no-store"
    assert {c.split("=", 1)[0] for c in answer.cookies} == {ACCESS_COOKIE, REFRESH_COOKIE}
    for cookie in answer.cookies:
        assert "Max-Age=0" in cookie
        assert "HttpOnly" in cookie
        assert "Secure" in cookie
    assert "Path=/auth" in answer.cookie(REFRESH_COOKIE)
    assert "SameSite=Strict" in answer.cookie(REFRESH_COOKIE)
    assert "Path=/" in answer.cookie(ACCESS_COOKIE)
    assert refresh_with_body(token).status == 401
    assert live_sessions(stack) == []


@pytest.mark.parametrize("token", ["garbage", "a" * 22 + "." + "b" * 64])
def test_logout_with_unknown_token_is_204(demo_user, token):
    assert invoke(logout, with_body("logout.json", {"refresh_token": token})).status == 204


def test_logout_twice_is_204(demo_user, login_as):
    token = login_as().body["refresh_token"]
    for _ in range(2):
        assert invoke(logout, with_body("logout.json", {"refresh_token": token})).status == 204


def test_logout_all_revokes_every_session_of_the_user(demo_user, login_as, stack):
    stack.admin.create_user("dora", "another-long-password")
    other = login_as(username="dora", password="another-long-password").body["refresh_token"]
    tokens = [login_as().body["refresh_token"] for _ in range(3)]
    answer = invoke(logout, with_body("logout.json", {"refresh_token": tokens[0], "all": True}))
    assert answer.status == 204
    for token in tokens:
        assert refresh_with_body(token).status == 401
    assert refresh_with_body(other).status == 200


def test_logout_with_an_access_token(demo_user, login_as, stack):
    tokens = login_as().body
    event = load_event("logout.json")
    del event["body"]
    event["headers"]["authorization"] = f"Bearer {tokens['access_token']}"
    assert invoke(logout, event).status == 204
    assert refresh_with_body(tokens["refresh_token"]).status == 401


def test_cross_site_logout_with_cookies_is_403_and_the_session_survives(demo_user, login_as):
    token = login_as(delivery="cookie").cookie_value(REFRESH_COOKIE)
    event = load_event("logout.json", cookies=[f"{REFRESH_COOKIE}={token}"])
    del event["body"]
    event["headers"]["sec-fetch-site"] = "cross-site"
    assert invoke(logout, event).status == 403
    assert refresh_with_cookie(token).status == 200


def test_cross_site_logout_with_the_access_cookie_is_403_and_the_session_survives(
    demo_user, login_as
):
    tokens = login_as().body
    event = load_event("logout.json", cookies=[f"{ACCESS_COOKIE}={tokens['access_token']}"])
    del event["body"]
    event["headers"]["origin"] = "https://evil.example"
    assert invoke(logout, event).status == 403
    assert refresh_with_body(tokens["refresh_token"]).status == 200


def test_a_bearer_logout_needs_no_same_site_check(demo_user, login_as, stack):
    # A browser never attaches an Authorization header by itself: only a cookie
    # credential can be ridden cross-site (contract §4), as at the authorizer.
    tokens = login_as().body
    event = load_event("logout.json")
    del event["body"]
    event["headers"]["authorization"] = f"Bearer {tokens['access_token']}"
    event["headers"]["sec-fetch-site"] = "cross-site"
    assert invoke(logout, event).status == 204
    assert refresh_with_body(tokens["refresh_token"]).status == 401


def test_logout_with_bad_all_flag_is_400(demo_user):
    assert (
        invoke(logout, with_body("logout.json", {"refresh_token": "x", "all": "yes"})).status == 400
    )


def test_logout_failure_is_503(demo_user, login_as):
    token = login_as().body["refresh_token"]
    Faults(aws.dynamodb()).fail("UpdateItem", "InternalServerError", times=1)
    answer = invoke(logout, with_body("logout.json", {"refresh_token": token}))
    assert answer.status == 503
    assert invoke(logout, with_body("logout.json", {"refresh_token": token})).status == 204
    assert refresh_with_body(token).status == 401
