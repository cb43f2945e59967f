"""POST /auth/login: answers, hostile input, and secrets that must never reach a log.

Every test of this module runs under a leak watch (see tests/leakwatch.py): whatever secret
passes through the login handler (passwords sent, tokens and cookies issued) must not appear
in any log record, in the Powertools logger's JSON lines, or on stdout/stderr.
"""

import base64
import importlib
import json
import logging
import os
import random
from contextlib import contextmanager

import jwt
import pytest
from leakwatch import LeakWatch
from moto import mock_aws
from support import (
    ALLOWED_ORIGIN,
    DEMO_PASSWORD,
    Faults,
    LambdaContext,
    call_hooks,
    invoke,
    load_event,
    with_body,
)

from authcore import aws
from authcore.edge import observability
from authcore.edge.credentials import ACCESS_COOKIE, REFRESH_COOKIE
from authcore.runtime import signing
from functions.login import app as login

ACCESS_CLAIMS = {
    *("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "scope", "username"),
    *("amr", "auth_time"),
}


def _aws_first(request):
    """Build the AWS side before the caller: logging at DEBUG while moto creates tables
    costs seconds, and a call hook must sit on the client the handler will use."""
    for name in ("stack", "bare_aws"):
        if name in request.fixturenames:
            request.getfixturevalue(name)


@pytest.fixture(autouse=True)
def leak_watch(request, monkeypatch, capfd, caplog):
    _aws_first(request)
    watch = LeakWatch(capfd, caplog, observability.logger)
    monkeypatch.setattr(login, "lambda_handler", watch.wrap(login.lambda_handler))
    try:
        yield watch
        leaks = watch.leaks()
    finally:
        watch.close()
    assert not leaks, f"{len(leaks)} secret(s) reached the logs or the console"


@pytest.fixture
def bare_aws(monkeypatch):
    """moto with no table and no key: for answers that must come before any AWS call
    (one would fail as a 503, and `dynamodb_calls` would show it)."""
    with mock_aws():
        monkeypatch.setenv("USERS_TABLE", "users")
        monkeypatch.setenv("SESSIONS_TABLE", "sessions")
        monkeypatch.setenv("KEYS_TABLE", "keys")
        monkeypatch.setenv("ALLOWED_ORIGINS", ALLOWED_ORIGIN)
        signing.reset()
        yield
    signing.reset()


@pytest.fixture
def dynamodb_calls(request):
    """The DynamoDB operations the handler's client sends, in order."""
    _aws_first(request)
    if "stack" in request.fixturenames:
        signing.signer()  # a warm container reads the key ring once a minute, not per login
    calls = []
    call_hooks(aws.dynamodb()).append(lambda operation, _: calls.append(operation))
    return calls


def post(body, **overrides):
    return invoke(login, with_body("login.json", body, **overrides))


def credentials(**fields):
    return {"username": "sam", "password": DEMO_PASSWORD, "delivery": "body", **fields}


# ---------------------------------------------------------------- answers


def test_body_delivery_returns_both_tokens_and_no_cookie(demo_user, login_as):
    answer = login_as(delivery="body")
    assert answer.status == 200
    assert set(answer.body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
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
    answer = post({"username": "sam", "password": DEMO_PASSWORD})
    assert answer.status == 200
    assert "access_token" not in answer.body
    assert answer.cookie_value(ACCESS_COOKIE)


def test_access_token_claims(demo_user, login_as):
    token = login_as().body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == ACCESS_CLAIMS
    assert claims["sub"] == demo_user.user_id
    assert claims["sub"] != "sam"
    assert claims["username"] == "sam"
    assert claims["iss"] == "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert claims["aud"] == "api"
    assert claims["exp"] - claims["iat"] == 900
    # RFC 8176: a password alone; the login's time, which a refresh keeps.
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] == claims["iat"]


def test_username_variants_log_into_one_account(demo_user, login_as):
    assert login_as(username="SAM").status == 200
    assert login_as(username="\uff33\uff21\uff2d").status == 200


def test_passwords_are_compared_after_nfkc(stack, login_as):
    stack.admin.create_user("sam", "\u212bngstr\u00f6m-\uff11\uff12\uff13")
    assert login_as(password="\u00c5ngstr\u00f6m-123").status == 200
    assert login_as(password="A\u030angstro\u0308m-123").status == 200


def test_any_unicode_and_nul_are_accepted_in_passwords(stack, login_as):
    password = "p\x00ss\u2603w\u00f6rd\U0001f511 \u202e"
    stack.admin.create_user("sam", password)
    assert login_as(password=password).status == 200
    assert login_as(password=password.replace("\x00", "")).status == 401


def test_the_longest_password_is_checked_and_one_more_is_refused(stack, dynamodb_calls):
    # 1024 characters of 4 UTF-8 bytes each: inside the 8 KiB body limit when sent raw.
    stack.admin.create_user("sam", "\U0001f511" * 1024)
    longest = json.dumps(credentials(password="\U0001f511" * 1024), ensure_ascii=False)
    assert post(longest).status == 200
    dynamodb_calls.clear()
    too_long = json.dumps(credentials(password="\U0001f511" * 1025), ensure_ascii=False)
    assert post(too_long).status == 400
    assert dynamodb_calls == []  # refused before any lookup, let alone a hash


def test_wrong_password_unknown_user_and_disabled_account_get_one_answer(
    demo_user, login_as, stack
):
    stack.admin.create_user("dora", "another-long-password")
    stack.admin.set_disabled("dora", True)
    answers = [
        login_as(password="wrong-password-123"),
        login_as(username="nobody"),
        login_as(username="dora", password="another-long-password"),
        login_as(username="dora", password="wrong-password-123"),
        login_as(password="wrong-password-123", delivery="cookie"),
    ]
    for answer in answers:
        assert answer.status == 401
        assert answer.body == answers[0].body
        assert answer.headers == answers[0].headers
        assert answer.cookies == []
    assert answers[0].body == {
        "error": "invalid_grant",
        "error_description": "Invalid username or password.",
    }
    assert answers[0].headers == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "WWW-Authenticate": 'Bearer error="invalid_grant"',
    }


# ---------------------------------------------------------------- hostile input

DEEP_OBJECT = '{"username":' + '{"a":' * 500 + "1" + "}" * 500 + ',"password":"x"}'
NOT_A_STRING = [1, 1.5, True, None, [], {}, ["sam"], {"$ne": ""}, 1e400]

MALFORMED = {
    # Invalid JSON.
    "truncated": "{",
    "not json": "not json",
    "trailing comma": '{"username":"sam","password":"x",}',
    "single quotes": "{'username':'sam'}",
    "empty body": "",
    "two documents": '{"username":"sam"}{"password":"x"}',
    "comment": '{"username":"sam" /* hi */, "password":"correct-horse-battery-staple"}',
    # Duplicate members: one parser sees alice, another admin.
    "duplicate username": '{"username":"alice","username":"admin","password":"x"}',
    "duplicate password": json.dumps(credentials())[:-1] + ',"password":"other-password"}',
    "duplicate delivery": '{"username":"sam","password":"x","delivery":"body","delivery":"cookie"}',
    # Not numbers at all.
    "NaN": '{"username":"sam","password":NaN}',
    "Infinity": '{"username":"sam","password":Infinity}',
    "-Infinity": '{"username":"sam","password":-Infinity}',
    "NaN in an unknown field": json.dumps(credentials())[:-1] + ',"extra":NaN}',
    # Deeply nested.
    "deep array": "[" * 2000 + "]" * 2000,
    "deep object field": DEEP_OBJECT,
    "unclosed nesting": "[" * 8000,
    # Not an object.
    "array": "[]",
    "string": '"sam"',
    "null": "null",
    "number": "1",
    "true": "true",
    "array of credentials": json.dumps([credentials()]),
    # Missing and empty fields.
    "no username": json.dumps({"password": DEMO_PASSWORD}),
    "no password": json.dumps({"username": "sam"}),
    "empty username": json.dumps(credentials(username="")),
    "empty password": json.dumps(credentials(password="")),
    # Over-long and ill-formed fields.
    "username over 256": json.dumps(credentials(username="s" * 300)),
    "canonical username over 64": json.dumps(credentials(username="s" * 65)),
    "password over 1024": json.dumps(credentials(password="p" * 1025)),
    "username with a space": json.dumps(credentials(username="bad name")),
    "username with NUL": json.dumps(credentials(username="sam\x00")),
    "username with a path": json.dumps(credentials(username="sam/../admin")),
    "username with markup": json.dumps(credentials(username="<script>")),
    "username that is a lone surrogate": '{"username":"\\ud800","password":"x"}',
    "password with a lone surrogate": '{"username":"sam","password":"\\udc00abcdefgh"}',
    # Delivery: only the two contract values.
    "delivery header": json.dumps(credentials(delivery="header")),
    "delivery upper case": json.dumps(credentials(delivery="BODY")),
    "delivery empty": json.dumps(credentials(delivery="")),
}
for _field in ("username", "password", "delivery"):
    for _value in NOT_A_STRING:
        if _field == "delivery" and _value is None:
            continue  # handled below: null is not a delivery either
        MALFORMED[f"{_field} is {_value!r}"] = json.dumps(credentials(**{_field: _value}))
MALFORMED["delivery is None"] = json.dumps(credentials(delivery=None))


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_bodies_are_400_before_any_lookup(bare_aws, body, dynamodb_calls):
    answer = post(body)
    assert answer.status == 400
    assert answer.body["error"] == "invalid_request"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.cookies == []
    assert dynamodb_calls == []


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "application/jsonx",
        "application/json-patch+json",
    ],
)
def test_missing_or_non_json_content_type_is_415(bare_aws, content_type, dynamodb_calls):
    event = with_body("login.json", credentials())
    if content_type is None:
        del event["headers"]["content-type"]
    else:
        event["headers"]["content-type"] = content_type
    answer = invoke(login, event)
    assert answer.status == 415
    assert answer.body["error"] == "invalid_request"
    assert dynamodb_calls == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_variants_are_accepted(demo_user, content_type):
    event = with_body("login.json", credentials())
    event["headers"]["content-type"] = content_type
    assert invoke(login, event).status == 200


def padded(size):
    """A login body of exactly `size` bytes (an unknown field pads it)."""
    head = json.dumps(credentials(password="wrong-password-123"))[:-1] + ',"pad":"'
    return head + "x" * (size - len(head) - 2) + '"}'


def test_a_body_of_8_kib_is_read_and_one_byte_more_is_413(demo_user, dynamodb_calls):
    assert len(padded(8192)) == 8192
    assert post(padded(8192)).status == 401
    dynamodb_calls.clear()
    answer = post(padded(8193))
    assert answer.status == 413
    assert answer.body["error"] == "invalid_request"
    assert dynamodb_calls == []


def test_an_oversized_base64_body_is_413(bare_aws, dynamodb_calls):
    encoded = base64.b64encode(padded(8193).encode()).decode()
    assert post(encoded, isBase64Encoded=True).status == 413
    huge = base64.b64encode(b"x" * 100_000).decode()
    assert post(huge, isBase64Encoded=True).status == 413
    assert dynamodb_calls == []


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_valid_base64_body_is_decoded(demo_user):
    answer = post(b64(json.dumps(credentials()).encode()), isBase64Encoded=True)
    assert answer.status == 200


@pytest.mark.parametrize(
    "body",
    [
        "%%%not-base64",
        "eyJ1c2VybmFtZSI6",  # valid alphabet, truncated JSON
        "e30",  # missing padding
        b64(b'{"username":"sam"}') + "\n",
        b64(b'{"username":"\xe9","password":"correct-horse-battery-staple"}'),
        b64(b'{"username":"sam","password":"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"}'),
        b64(b"\xef\xbb\xbf" + json.dumps(credentials()).encode("utf-16")),
    ],
    ids=[
        "not base64",
        "truncated json",
        "missing padding",
        "newline",
        "latin-1 username",
        "invalid utf-8 password",
        "utf-16",
    ],
)
def test_bad_base64_bodies_are_400(bare_aws, body, dynamodb_calls):
    answer = post(body, isBase64Encoded=True)
    assert answer.status == 400
    assert answer.body["error"] == "invalid_request"
    assert dynamodb_calls == []


def test_unknown_fields_are_ignored_and_never_reach_the_token(demo_user):
    body = credentials(
        scope="admin",
        sub="x",
        aud="other",
        exp=9_999_999_999,
        username_="admin",
        claims={"scope": "admin"},
    )
    answer = post(body)
    assert answer.status == 200
    claims = jwt.decode(answer.body["access_token"], options={"verify_signature": False})
    assert set(claims) == ACCESS_CLAIMS
    assert claims["scope"] == "profile"
    assert claims["sub"] == demo_user.user_id
    assert claims["aud"] == "api"
    assert claims["exp"] - claims["iat"] == 900
    assert "admin" not in json.dumps(answer.body)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD"])
def test_other_methods_are_405_and_never_read_credentials(bare_aws, method, dynamodb_calls):
    event = load_event(
        "login.json",
        rawQueryString=f"username=sam&password={DEMO_PASSWORD}",
        queryStringParameters={"username": "sam", "password": DEMO_PASSWORD},
    )
    event["requestContext"]["http"]["method"] = method
    answer = invoke(login, event)
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.body["error"] == "invalid_request"
    assert answer.cookies == []
    assert dynamodb_calls == []


def test_credentials_in_the_query_string_are_never_used_by_post(bare_aws, dynamodb_calls):
    answer = post(
        "{}",
        rawQueryString=f"username=sam&password={DEMO_PASSWORD}",
        queryStringParameters={"username": "sam", "password": DEMO_PASSWORD},
    )
    assert answer.status == 400
    assert dynamodb_calls == []


def random_value(rng, depth=0):
    kinds = ["str", "int", "float", "bool", "null", "list", "dict", "bigstr"]
    kind = rng.choice(kinds if depth < 3 else kinds[:5])
    if kind == "str":
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(0, 40)))
    if kind == "bigstr":
        return "x" * rng.choice([0, 64, 65, 256, 257, 1024, 1025])
    if kind == "int":
        return rng.randrange(-(10**30), 10**30)
    if kind == "float":
        return rng.uniform(-1e308, 1e308)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randrange(0, 4))}


def test_random_bodies_never_produce_a_5xx(demo_user):
    rng = random.Random(20261127)  # noqa: S311 - reproducible fuzzing, not secrets
    statuses = set()
    for _ in range(150):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        answer = post(b64(raw), isBase64Encoded=True)
        statuses.add(answer.status)
        assert answer.status in (400, 413), raw
    for _ in range(150):
        body = {
            k: random_value(rng) for k in ("username", "password", "delivery") if rng.random() < 0.9
        }
        answer = post(body)
        statuses.add(answer.status)
        assert answer.status in (400, 401), body
    assert statuses >= {400}


# ---------------------------------------------------------------- cross-site and failures


@pytest.mark.parametrize(
    "headers",
    [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}, {"origin": "null"}],
)
def test_cross_site_login_is_403(bare_aws, headers, dynamodb_calls):
    event = with_body("login.json", credentials())
    event["headers"].update(headers)
    answer = invoke(login, event)
    assert answer.status == 403
    assert answer.body["error"] == "forbidden"
    assert dynamodb_calls == []


def test_allowed_origin_may_log_in(demo_user):
    event = with_body("login.json", credentials())
    event["headers"].update({"origin": ALLOWED_ORIGIN, "sec-fetch-site": "same-site"})
    assert invoke(login, event).status == 200


EDGE_SECRET = "edge-" + "s" * 40


@pytest.fixture
def behind_edge(monkeypatch):
    """Login deployed behind the opt-in edge WAF (LoginRateLimitPerIp)."""
    monkeypatch.setenv("EDGE_ORIGIN_SECRET", EDGE_SECRET)
    signing.reset()


@pytest.mark.parametrize("presented", [None, "", EDGE_SECRET[:-1], EDGE_SECRET + "x", "é" * 45])
def test_behind_the_edge_a_request_that_went_around_it_is_403(
    bare_aws, behind_edge, presented, dynamodb_calls
):
    event = with_body("login.json", credentials())
    if presented is not None:
        event["headers"]["x-origin-verify"] = presented
    answer = invoke(login, event)
    assert answer.status == 403
    assert answer.body["error"] == "forbidden"
    # Refused before the password is read: the WAF's rate limit cannot be sidestepped.
    assert dynamodb_calls == []


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("{not json", {}),
        ('{"username":"sam","username":"admin"}', {}),
        ("{}", {"content-type": "text/plain"}),
        ("{}", {"origin": "https://evil.example"}),
    ],
)
def test_behind_the_edge_the_secret_is_checked_before_anything_else(
    bare_aws, behind_edge, body, headers, dynamodb_calls
):
    """A request that went around the WAF learns nothing, not even how its input is judged."""
    event = with_body("login.json", body)
    event["headers"].update(headers)
    answer = invoke(login, event)
    assert (answer.status, answer.body["error"]) == (403, "forbidden")
    assert dynamodb_calls == []


def test_behind_the_edge_a_request_through_it_logs_in(demo_user, behind_edge):
    event = with_body("login.json", credentials())
    event["headers"]["x-origin-verify"] = EDGE_SECRET
    answer = invoke(login, event)
    assert answer.status == 200
    assert answer.body["access_token"]


def test_dynamodb_failure_is_503_and_writes_nothing(demo_user, stack, login_as):
    stack.dynamodb.delete_table(TableName=stack.sessions_table)
    answer = login_as()
    assert answer.status == 503
    assert answer.body["error"] == "temporarily_unavailable"
    assert answer.headers["Retry-After"]
    assert "access_token" not in answer.body


@pytest.mark.parametrize("operation", ["TransactGetItems", "UpdateItem"])
def test_users_table_failures_are_503(demo_user, login_as, operation):
    Faults(aws.dynamodb()).fail(operation, "ProvisionedThroughputExceededException")
    answer = login_as(password="wrong-password-123")
    assert answer.status == 503
    assert answer.body["error"] == "temporarily_unavailable"
    assert answer.headers["Retry-After"] == "1"


def test_kms_failure_is_503_and_stores_no_session(demo_user, stack, login_as):
    Faults(aws.kms()).fail("Sign", "KMSInternalException")
    answer = login_as()
    assert answer.status == 503
    assert stack.dynamodb.scan(TableName=stack.sessions_table)["Count"] == 0


# ---------------------------------------------------------------- secrets never leak


def test_the_leak_watch_sees_every_channel(leak_watch):
    """The watch itself must be able to fail: each channel, one canary at a time."""

    channels = {
        "powertools extra": lambda s: observability.logger.info("x", extra={"field": s}),
        "powertools debug": lambda s: observability.logger.debug(f"value {s}"),
        "stdlib debug": lambda s: logging.getLogger("urllib3.any").debug("%s", s),
        "stdlib extra": lambda s: logging.getLogger("x").warning("x", extra={"field": s}),
        "stdout": lambda s: print(s),
        "stderr fd": lambda s: os.write(2, s.encode()),
        "json escaped": lambda s: observability.logger.info({"nested": s}),
    }
    for name, emit in channels.items():
        canary = f"canary-\u00e9-{name}"
        leak_watch.note(canary)
        emit(canary)
        assert leak_watch.leaks() == {canary}, name
        leak_watch.forget()


def test_a_fragment_of_a_token_is_a_leak(demo_user, leak_watch, login_as):
    body = login_as().body
    refresh_secret = body["refresh_token"].split(".", 1)[1]
    signature = body["access_token"].rsplit(".", 1)[1]
    for fragment in (refresh_secret[-24:], signature[10:34]):
        print(f"debug: {fragment}")
        assert leak_watch.leaks(), fragment
        leak_watch.transcript.clear()
    # The refresh token's sid and the JWT header are not secrets.
    print(body["refresh_token"].split(".")[0], body["access_token"].split(".")[0])
    assert leak_watch.leaks() == set()


def test_every_secret_of_a_full_exchange_is_watched(demo_user, leak_watch, login_as):
    body = login_as(delivery="body").body
    cookies = login_as(delivery="cookie")
    login_as(password="a-wrong-guess-1234")
    watched = leak_watch.secrets
    assert {body["access_token"], body["refresh_token"], DEMO_PASSWORD} <= watched
    assert cookies.cookie_value(ACCESS_COOKIE) in watched
    assert cookies.cookie_value(REFRESH_COOKIE) in watched
    assert "a-wrong-guess-1234" in watched


@contextmanager
def reloaded_login(monkeypatch, **environment):
    """The login module as a cold start with this environment would decorate it."""
    with monkeypatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        importlib.reload(login)
        try:
            yield login
        finally:
            patch.undo()
            importlib.reload(login)


def test_log_event_stays_off_whatever_the_environment_says(demo_user, monkeypatch, leak_watch):
    with reloaded_login(monkeypatch, POWERTOOLS_LOGGER_LOG_EVENT="true") as module:
        leak_watch.note(DEMO_PASSWORD)
        event = with_body("login.json", credentials())
        assert module.lambda_handler(event, LambdaContext())["statusCode"] == 200
    assert leak_watch.leaks() == set()


class RecordingSubsegment:
    def __init__(self, calls):
        self.calls = calls

    def put_metadata(self, key, value, namespace=None):
        self.calls.append(("metadata", key, value))

    def put_annotation(self, key, value):
        self.calls.append(("annotation", key, value))


class RecordingProvider:
    def __init__(self):
        self.calls = []

    @contextmanager
    def in_subsegment(self, name=None, **_):
        yield RecordingSubsegment(self.calls)


@pytest.mark.parametrize("password", [DEMO_PASSWORD, "wrong-password-123"])
def test_the_tracer_never_records_the_response(demo_user, monkeypatch, password):
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer(), "provider", provider)
    environment = {
        # The stack's Tracing parameter on (the handler is wrapped at import).
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "true",
        "POWERTOOLS_TRACER_CAPTURE_ERROR": "true",
    }
    with reloaded_login(monkeypatch, **environment) as module:
        event = with_body("login.json", credentials(password=password))
        response = module.lambda_handler(event, LambdaContext())
    assert response["statusCode"] in (200, 401)
    assert provider.calls, "the recording provider was not used"
    assert [call for call in provider.calls if call[0] == "metadata"] == []
    recorded = json.dumps(provider.calls, default=str)
    assert password not in recorded
    assert response["body"] not in recorded


def test_a_password_typed_as_a_username_is_never_logged(stack, leak_watch):
    # People do type their password into the username field; the lockout log must not keep it.
    typed = "correct-horse-battery-staple"
    leak_watch.note(typed)
    for _ in range(6):
        post(credentials(username=typed, password="whatever-else-1"))
    out = leak_watch.read()
    assert "login_lockout" in out  # the security event was logged, without the name
    assert leak_watch.leaks() == set()
