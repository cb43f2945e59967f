import base64
import json

import pytest
from authcore import aws
from authcore.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from support import ALLOWED_ORIGIN, DEMO_PASSWORD, Faults, invoke, load_event, with_body

from functions.login import app as login


def test_body_delivery_returns_both_tokens_and_no_cookie(demo_user, login_as):
    answer = login_as(delivery="body")
    assert answer.status == 200
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["expires_in"] == 900
    assert answer.body["refresh_expires_in"] == 604_800
    assert answer.body["access_token"].count(".") == 2
    assert len(answer.body["refresh_token"]) >= 43
    assert answer.cookies == []
    assert answer.headers["Cache-Control"] == "no-store"


def test_cookie_delivery_keeps_tokens_out_of_the_body(demo_user, login_as):
    answer = login_as(delivery="cookie")
    assert answer.status == 200
    assert set(answer.body) == {"token_type", "expires_in", "refresh_expires_in"}
    access = answer.cookie(ACCESS_COOKIE)
    refresh = answer.cookie(REFRESH_COOKIE)
    assert access is not None
    assert refresh is not None
    assert set(access.split("; ")[1:]) == {
        "Path=/",
        "Max-Age=900",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    }
    assert set(refresh.split("; ")[1:]) == {
        "Path=/auth",
        "Max-Age=604800",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
    }


def test_delivery_defaults_to_cookies(demo_user):
    event = with_body("login.json", {"username": "sam", "password": DEMO_PASSWORD})
    answer = invoke(login, event)
    assert answer.status == 200
    assert "access_token" not in answer.body
    assert answer.cookie_value(ACCESS_COOKIE)


def test_access_token_claims(demo_user, login_as):
    import jwt

    token = login_as().body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == demo_user.user_id
    assert claims["sub"] != "sam"
    assert claims["username"] == "sam"
    assert claims["iss"] == "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert claims["aud"] == "api"
    assert claims["exp"] - claims["iat"] == 900
    assert {"jti", "client_id", "sid", "scope"} <= claims.keys()


def test_username_variants_log_into_one_account(demo_user, login_as):
    assert login_as(username="SAM").status == 200
    assert login_as(username="\uff33\uff21\uff2d").status == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(demo_user, login_as, stack):
    stack.admin.create_user("dora", "another-long-password")
    stack.admin.set_disabled("dora", True)
    answers = [
        login_as(password="wrong-password-123"),
        login_as(username="nobody"),
        login_as(username="dora", password="another-long-password"),
    ]
    for answer in answers:
        assert answer.status == 401
        assert answer.body == answers[0].body
        assert answer.headers == answers[0].headers
        assert answer.cookies == []
    assert answers[0].body["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "not json",
        '{"username":"sam","username":"admin","password":"x"}',
        '{"username":"sam","password":NaN}',
        "[]",
        '"sam"',
        "null",
        "[" * 2000 + "]" * 2000,
        json.dumps({"password": DEMO_PASSWORD}),
        json.dumps({"username": "sam"}),
        json.dumps({"username": 1, "password": DEMO_PASSWORD}),
        json.dumps({"username": "sam", "password": ["x"]}),
        json.dumps({"username": "sam", "password": None}),
        json.dumps({"username": "sam", "password": DEMO_PASSWORD, "delivery": "header"}),
        json.dumps({"username": "sam", "password": DEMO_PASSWORD, "delivery": 1}),
        json.dumps({"username": "s" * 300, "password": DEMO_PASSWORD}),
        json.dumps({"username": "sam", "password": "p" * 1025}),
        json.dumps({"username": "bad name", "password": DEMO_PASSWORD}),
    ],
)
def test_malformed_bodies_are_400(demo_user, body):
    answer = invoke(login, with_body("login.json", body))
    assert answer.status == 400
    assert answer.body["error"] == "invalid_request"
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
def test_non_json_content_type_is_415(demo_user, content_type):
    event = with_body("login.json", {"username": "sam", "password": DEMO_PASSWORD})
    if content_type is None:
        del event["headers"]["content-type"]
    else:
        event["headers"]["content-type"] = content_type
    answer = invoke(login, event)
    assert answer.status == 415
    assert answer.body["error"] == "invalid_request"


def test_body_over_8_kib_is_413(demo_user):
    body = json.dumps({"username": "sam", "password": DEMO_PASSWORD, "pad": "x" * 8200})
    assert invoke(login, with_body("login.json", body)).status == 413


def test_base64_bodies(demo_user):
    raw = json.dumps({"username": "sam", "password": DEMO_PASSWORD, "delivery": "body"})
    good = with_body("login.json", base64.b64encode(raw.encode()).decode(), isBase64Encoded=True)
    assert invoke(login, good).status == 200
    bad = with_body("login.json", "%%%not-base64", isBase64Encoded=True)
    assert invoke(login, bad).status == 400
    latin1 = with_body(
        "login.json", base64.b64encode(b'{"username":"\xe9"}').decode(), isBase64Encoded=True
    )
    assert invoke(login, latin1).status == 400


def test_unknown_fields_are_ignored_and_never_reach_the_token(demo_user, login_as):
    import jwt

    body = {
        "username": "sam",
        "password": DEMO_PASSWORD,
        "delivery": "body",
        "scope": "admin",
        "sub": "x",
    }
    answer = invoke(login, with_body("login.json", body))
    claims = jwt.decode(answer.body["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "profile"
    assert claims["sub"] == demo_user.user_id


def test_get_is_405_and_never_reads_credentials(demo_user):
    event = load_event("login.json", rawQueryString="username=sam&password=" + DEMO_PASSWORD)
    event["requestContext"]["http"]["method"] = "GET"
    event["queryStringParameters"] = {"username": "sam", "password": DEMO_PASSWORD}
    answer = invoke(login, event)
    assert answer.status == 405
    assert answer.cookies == []


@pytest.mark.parametrize(
    "headers",
    [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}, {"origin": "null"}],
)
def test_cross_site_login_is_403(demo_user, headers):
    event = with_body("login.json", {"username": "sam", "password": DEMO_PASSWORD})
    event["headers"].update(headers)
    answer = invoke(login, event)
    assert answer.status == 403
    assert answer.body["error"] == "forbidden"


def test_allowed_origin_may_log_in(demo_user):
    event = with_body("login.json", {"username": "sam", "password": DEMO_PASSWORD})
    event["headers"].update({"origin": ALLOWED_ORIGIN, "sec-fetch-site": "same-site"})
    assert invoke(login, event).status == 200


def test_dynamodb_failure_is_503_and_writes_nothing(demo_user, stack, login_as):
    stack.dynamodb.delete_table(TableName=stack.sessions_table)
    answer = login_as()
    assert answer.status == 503
    assert answer.body["error"] == "temporarily_unavailable"
    assert answer.headers["Retry-After"]
    assert "access_token" not in answer.body


def test_kms_failure_is_503_and_stores_no_session(demo_user, stack, login_as):
    Faults(aws.kms()).fail("Sign", "KMSInternalException")
    answer = login_as()
    assert answer.status == 503
    assert stack.dynamodb.scan(TableName=stack.sessions_table)["Count"] == 0
