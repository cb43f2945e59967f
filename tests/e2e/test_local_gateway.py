"""The local gateway's own rules, without HTTP: routing, the payload 2.0 events and
response rules, and what a failing function turns into (API Gateway's 500)."""

from __future__ import annotations

import base64
import os
import textwrap

import pytest

from infra import template
from infra.local.gateway import (
    Authorizer,
    EventBuilder,
    Gateway,
    MalformedResponse,
    Request,
    Router,
    encode_body,
    lambda_response,
)
from infra.local.pool import FunctionPool, FunctionSpec, InvocationFailed
from infra.template import Route

pytestmark = pytest.mark.e2e


def request(method="GET", path="/api/me", query="", headers=(), body=b""):
    return Request(method, path, query, list(headers), body, "127.0.0.1")


def test_routes_come_from_the_template_and_match_like_api_gateway():
    router = Router(template.routes())
    route, params = router.match("DELETE", "/auth/sessions/abc%2Fdef")
    assert (route.function, params) == ("SessionsFunction", {"sid": "abc/def"})
    assert router.match("GET", "/auth/sessions")[0].authorized
    assert not router.match("POST", "/auth/login")[0].authorized
    assert router.match("GET", "/auth/login") is not None  # an ANY route: the function says 405
    assert router.match("POST", "/api/me") is None
    assert router.match("GET", "/api/me/x") is None


def test_literal_segments_win_over_variables_and_greedy_variables_take_the_rest():
    router = Router(
        [
            Route("GET", "/a/{x}", "Var", True),
            Route("GET", "/a/b", "Literal", True),
            Route("GET", "/files/{path+}", "Greedy", True),
        ]
    )
    assert router.match("GET", "/a/b")[0].function == "Literal"
    assert router.match("GET", "/a/c") == (Route("GET", "/a/{x}", "Var", True), {"x": "c"})
    assert router.match("GET", "/files/x/y.txt")[1] == {"path": "x/y.txt"}


def test_the_event_is_payload_format_2_0():
    route = Route("POST", "/auth/refresh", "RefreshFunction", False)
    req = request(
        "POST",
        "/auth/refresh",
        "a=1&a=2&b=",
        [
            ("Host", "localhost:3000"),
            ("Cookie", "x=1; y=2"),
            ("X-Tag", "p"),
            ("X-Tag", "q"),
            ("Content-Type", "application/json"),
            ("User-Agent", "ua"),
        ],
        b'{"k": "v"}',
    )
    event = EventBuilder(3000).route_event(req, route, {}, "rid", 1_700_000_000.5, None)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /auth/refresh"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["x=1", "y=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-tag"] == "p,q"
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    context = event["requestContext"]
    assert context["domainName"] == "localhost:3000"
    assert context["http"] == {
        "method": "POST",
        "path": "/auth/refresh",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "ua",
    }
    assert context["stage"] == "$default"
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["timeEpoch"] == 1_700_000_000_500
    assert "authorizer" not in context
    assert "pathParameters" not in event


def test_the_authorizer_event_is_a_2_0_request_event_without_identity_source():
    route = Route("GET", "/api/me", "MeFunction", True)
    event = EventBuilder(3000).authorizer_event(request(), route, {}, "rid", 0.0)
    assert event["type"] == "REQUEST"
    assert event["version"] == "2.0"
    assert (
        event["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/api/me"
    )
    assert "identitySource" not in event
    assert "body" not in event


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json; charset=utf-8", b"{}", ("{}", False)),
        ("text/plain", b"hi", ("hi", False)),
        ("application/x-www-form-urlencoded", b"a=b", ("YT1i", True)),
        (None, b"hi", ("aGk=", True)),
        ("application/json", b"\xff", ("/w==", True)),
    ],
)
def test_bodies_are_text_only_for_textual_content_types(content_type, body, expected):
    assert encode_body(body, content_type) == expected


def test_responses_follow_the_2_0_rules():
    explicit = lambda_response(
        {
            "statusCode": 201,
            "headers": {"X-A": 1},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(b"\x00").decode(),
            "isBase64Encoded": True,
        }
    )
    assert explicit.status == 201
    assert ("Set-Cookie", "a=1; Path=/") in explicit.headers
    assert ("Set-Cookie", "b=2") in explicit.headers
    assert ("X-A", "1") in explicit.headers
    assert explicit.body == b"\x00"
    inferred = lambda_response({"message": "hi"})
    assert (inferred.status, inferred.body) == (200, b'{"message": "hi"}')
    assert inferred.headers == [("Content-Type", "application/json")]
    assert lambda_response("plain").body == b"plain"
    with pytest.raises(MalformedResponse):
        lambda_response({"statusCode": "200"})


@pytest.fixture
def fake_pools(tmp_path):
    (tmp_path / "fake_app.py").write_text(
        textwrap.dedent(
            """
            import time
            print("handlers may print: it must not break the protocol")

            def handler(event, context):
                print("invoked", context.function_name, context.get_remaining_time_in_millis())
                mode = (event.get("queryStringParameters") or {}).get("mode")
                if mode == "crash":
                    raise RuntimeError("boom")
                if mode == "slow":
                    time.sleep(5)
                return {"statusCode": 200, "body": "ok"}

            def allow(event, context):
                mode = (event.get("queryStringParameters") or {}).get("auth")
                if mode == "crash":
                    raise RuntimeError("boom")
                if mode == "nonsense":
                    return {"isAuthorized": "yes"}
                return {"isAuthorized": mode != "deny", "context": {"sub": "u"}}
            """
        )
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{template.ROOT}{os.pathsep}{tmp_path}"}
    lines: list[str] = []
    pools = {
        name: FunctionPool(FunctionSpec(name, "fake_app", attribute, env, 128, 1), lines.append)
        for name, attribute in (("Fn", "handler"), ("Auth", "allow"))
    }
    yield pools, lines
    for pool in pools.values():
        pool.close()


def test_function_failures_are_api_gateways_500_and_denials_its_403(fake_pools):
    pools, lines = fake_pools
    gateway = Gateway(
        [Route("GET", "/x", "Fn", True)], pools, Authorizer("Auth"), 3000, lines.append
    )

    def status(query: str) -> tuple[int, bytes]:
        response = gateway.handle(request(path="/x", query=query))
        return response.status, response.body

    assert status("") == (200, b"ok")
    assert status("mode=crash") == (500, b'{"message":"Internal Server Error"}')
    assert status("mode=slow") == (500, b'{"message":"Internal Server Error"}')
    assert status("") == (200, b"ok")  # the pool replaced the timed-out worker
    assert status("auth=deny") == (403, b'{"message":"Forbidden"}')
    assert status("auth=crash")[0] == 500
    assert status("auth=nonsense")[0] == 500
    assert any("invocation failed: timeout" in line for line in lines)


def test_a_missing_identity_source_is_401_without_calling_the_authorizer(fake_pools):
    pools, _ = fake_pools
    authorizer = Authorizer("Auth", headers=("Authorization",))
    gateway = Gateway([Route("GET", "/x", "Fn", True)], pools, authorizer, 3000, print)
    missing = gateway.handle(request(path="/x", query="auth=crash"))
    assert (missing.status, missing.body) == (401, b'{"message":"Unauthorized"}')
    present = gateway.handle(request(path="/x", headers=[("Authorization", "Bearer t")]))
    assert present.status == 200


def test_a_cached_authorizer_answers_from_its_cache_by_identity_until_the_ttl(
    fake_pools, monkeypatch
):
    """BearerAuthorizer's ReauthorizeEvery: API Gateway reuses an answer, allow or deny, for
    the same identity values on the same domain, and calls the authorizer again after."""
    pools, _ = fake_pools
    authorizer = Authorizer("Auth", headers=("Authorization",), ttl_seconds=60)
    gateway = Gateway([Route("GET", "/x", "Fn", True)], pools, authorizer, 3000, print)
    clock = [1_000_000.0]
    monkeypatch.setattr("infra.local.gateway.time.time", lambda: clock[0])

    def status(token: str, auth: str, host: str = "localhost:3000") -> int:
        headers = [("Authorization", f"Bearer {token}"), ("Host", host)]
        return gateway.handle(request(path="/x", query=f"auth={auth}", headers=headers)).status

    assert status("a", "deny") == 403
    assert status("a", "allow") == 403  # the denial is cached for this token
    assert status("b", "allow") == 200  # another token is another key
    assert status("b", "deny") == 200
    assert status("a", "allow", host="127.0.0.1:3000") == 200  # another domain too
    clock[0] += 60
    assert status("a", "allow") == 200  # expired: asked again
    assert status("a", "crash") == 200  # and that allow is cached now
    clock[0] += 60
    assert status("a", "crash") == 500  # failures reach the client...
    assert status("a", "allow") == 200  # ...and are never cached


def test_a_cached_answer_is_per_route_when_the_route_key_is_an_identity_source(fake_pools):
    """BearerAuthorizer's Context: [domainName, routeKey]: with route scopes the answer
    depends on the route, so a token allowed on one route must be asked about another."""
    pools, _ = fake_pools
    authorizer = Authorizer(
        "Auth", headers=("Authorization",), ttl_seconds=60, context=("domainName", "routeKey")
    )
    routes = [Route("GET", "/x", "Fn", True), Route("GET", "/y", "Fn", True)]
    gateway = Gateway(routes, pools, authorizer, 3000, print)

    def status(path: str, auth: str) -> int:
        headers = [("Authorization", "Bearer t"), ("Host", "localhost:3000")]
        return gateway.handle(request(path=path, query=f"auth={auth}", headers=headers)).status

    assert status("/x", "allow") == 200
    assert status("/x", "deny") == 200  # cached for this route...
    assert status("/y", "deny") == 403  # ...and not for another one
    assert status("/y", "allow") == 403
    assert status("/x", "deny") == 200


def test_the_template_s_bearer_authorizer_keys_its_cache_by_route():
    from infra.local.stack import LocalStack

    stack = LocalStack(port=3000, log=lambda _line: None)
    stack.tables = {name: f"local-{name}" for name in template.resources("AWS::DynamoDB::Table")}
    configs = template.resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["Auth"]
    bearer = stack._authorizer_from(configs["Authorizers"]["BearerAuthorizer"], "Auth")
    assert bearer.context == ("domainName", "routeKey")
    assert bearer.headers == ("Authorization",)


def test_a_worker_that_cannot_import_its_handler_fails_at_warm_up(tmp_path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(template.ROOT)}
    pool = FunctionPool(FunctionSpec("Broken", "no_such_module", "handler", env, 128, 1), print)
    with pytest.raises(InvocationFailed, match="init failed"):
        pool.warm()
    pool.close()
