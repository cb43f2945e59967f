"""The authorizer's typed requests and answers (authcore.edge.authorizer), without a
token: which class reads which event, and the shapes of allows and denials."""

from __future__ import annotations

import pytest
from support import load_event

from authcore.config import RouteScopes, Settings
from authcore.edge import authorizer, emf
from authcore.errors import (
    Forbidden,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    IssuerNotConfigured,
    NoUserSession,
)

ARN = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod/POST/orders"
CLAIMS = {"iss": "https://i", "sub": "u1", "aud": "api", "exp": 2, "iat": 1, "jti": "j", "sid": "s"}


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ("authorizer.json", authorizer.HttpApiRequest),
        ("authorizer_rest_token.json", authorizer.RestTokenRequest),
        ("authorizer_rest_request.json", authorizer.RestRequest),
    ],
)
def test_the_event_shape_picks_the_request_class(event, cls):
    assert type(authorizer.read(load_event(event, methodArn=ARN))) is cls


@pytest.mark.parametrize("event", [None, [], "TOKEN", {}, {"type": "OTHER"}, {"version": "1.0"}])
def test_any_other_event_is_an_invalid_request_and_a_401(event):
    with pytest.raises(InvalidRequest):
        authorizer.read(event)
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorizer.deny(event, InvalidRequest())
    assert type(raised.value) is Exception


def test_allows_and_denials_in_each_flavour():
    http = load_event("authorizer.json")
    assert authorizer.read(http).allow(CLAIMS) == {
        "isAuthorized": True,
        "context": {
            "sub": "u1",
            "username": "",
            "scope": "",
            "sid": "s",
            "client_id": "",
            "exp": 2,
            "amr": "",
            "auth_time": 0,
        },
    }
    assert authorizer.deny(http, Forbidden()) == {"isAuthorized": False}
    rest = load_event("authorizer_rest_token.json", methodArn=ARN)
    allow = authorizer.read(rest).allow(CLAIMS)
    assert allow["policyDocument"]["Statement"][0]["Resource"] == ARN.replace("POST/orders", "*/*")
    deny = authorizer.deny(rest, Forbidden())
    assert deny["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": ARN,
    }
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.deny(rest, InvalidToken("expired"))


def test_rest_needs_a_configured_issuer_before_it_reads_a_token():
    rest = authorizer.read(load_event("authorizer_rest_token.json", methodArn=ARN))
    with pytest.raises(IssuerNotConfigured):
        rest.token_and_issuer(Settings())
    token, issuer = rest.token_and_issuer(Settings(issuer="https://auth.example"))
    assert issuer == "https://auth.example"
    assert token


def test_the_metric_document_is_embedded_metric_format(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.setenv("STACK_NAME", "s1")
    document = emf.metric_document(
        "AuthorizerDenied",
        dimensions=emf.service_dimensions("authorizer"),
        by=("reason",),
        properties={"reason": "expired"},
        timestamp=1.5,
    )
    assert document == {
        "_aws": {
            "Timestamp": 1500,
            "CloudWatchMetrics": [
                {
                    "Namespace": "ServerlessAuth",
                    "Dimensions": [["service", "stack", "reason"]],
                    "Metrics": [{"Name": "AuthorizerDenied", "Unit": "Count"}],
                }
            ],
        },
        "service": "authorizer",
        "stack": "s1",
        "AuthorizerDenied": 1,
        "reason": "expired",
    }


# ---------------------------------------------------------------- machine clients and scopes
API = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod"
CLIENT = {
    "iss": "https://i",
    "sub": "reporting-client",
    "aud": "api",
    "exp": 2,
    "iat": 1,
    "jti": "j",
    "client_id": "reporting-client",
    "scope": "reports:read",
}
SCOPES = RouteScopes(
    {
        "GET /api/reports": frozenset({"reports:read"}),
        "POST /api/reports": frozenset({"reports:read", "reports:write"}),
        "DELETE /api/orders/{id}": frozenset({"orders:admin"}),
        "ANY /api/audit/{proxy+}": frozenset({"audit"}),
    }
)


def http_on(route_key):
    return authorizer.read(load_event("authorizer.json", routeKey=route_key))


def test_a_client_token_gets_the_same_context_keys_with_an_empty_sid_and_username():
    assert http_on("GET /api/me").allow(CLIENT)["context"] == {
        "sub": "reporting-client",
        "username": "",
        "scope": "reports:read",
        "sid": "",
        "client_id": "reporting-client",
        "exp": 2,
        "amr": "",
        "auth_time": 0,
    }


def test_http_api_refuses_a_scoped_route_without_every_scope_it_names():
    assert http_on("GET /api/reports").allow(CLIENT, SCOPES)["isAuthorized"] is True
    assert http_on("GET /api/me").allow(CLIENT, SCOPES)["isAuthorized"] is True  # unscoped
    assert http_on("GET /api/me").allow(CLAIMS, SCOPES)["isAuthorized"] is True
    for route in ("POST /api/reports", "DELETE /api/orders/{id}"):
        with pytest.raises(InsufficientScope):
            http_on(route).allow(CLIENT, SCOPES)
    with pytest.raises(InsufficientScope):  # a user's token is held to the same rule
        http_on("GET /api/reports").allow({**CLAIMS, "scope": "profile"}, SCOPES)
    both = {**CLIENT, "scope": "reports:write reports:read"}
    assert http_on("POST /api/reports").allow(both, SCOPES)["isAuthorized"] is True
    # An insufficient scope is a 403, in the HTTP API's flavour a plain refusal.
    assert authorizer.deny(load_event("authorizer.json"), InsufficientScope()) == {
        "isAuthorized": False
    }


def test_scopes_are_whole_names_not_substrings():
    scopes = RouteScopes({"GET /api/reports": frozenset({"reports:read"})})
    for scope in ("reports", "reports:rea", "reports:read2", "REPORTS:READ", "reports:read,x"):
        with pytest.raises(InsufficientScope):
            http_on("GET /api/reports").allow({**CLIENT, "scope": scope}, scopes)


@pytest.mark.parametrize(
    ("route", "arn_tail"),
    [
        ("GET /api/reports", "GET/api/reports"),
        ("DELETE /api/orders/{id}", "DELETE/api/orders/*"),
        ("ANY /api/audit/{proxy+}", "*/api/audit/*"),
        ("GET /", "GET/"),
    ],
)
def test_route_keys_become_method_arns(route, arn_tail):
    assert authorizer.rest_route(route) == arn_tail


def rest_policy(method_arn, claims, scopes=SCOPES, kind="authorizer_rest_token.json"):
    event = load_event(kind, methodArn=method_arn)
    return authorizer.read(event).allow(claims, scopes)


@pytest.mark.parametrize("kind", ["authorizer_rest_token.json", "authorizer_rest_request.json"])
def test_a_rest_policy_allows_the_api_and_denies_exactly_the_scoped_routes_it_lacks(kind):
    answer = rest_policy(f"{API}/GET/api/reports", CLIENT, kind=kind)
    assert answer["principalId"] == "reporting-client"
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{API}/*/*"},
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": [
                f"{API}/*/api/audit/*",
                f"{API}/DELETE/api/orders/*",
                f"{API}/POST/api/reports",
            ],
        },
    ]


def test_memoized_denials_follow_the_configuration():
    """Denials are memoized by API, scope and ROUTE_SCOPES content: another configuration
    (a new container) never gets an answer computed for the previous one."""
    one = RouteScopes({"GET /a": frozenset({"x"})})
    other = RouteScopes({"GET /b": frozenset({"x"})})
    assert authorizer.scope_denials(API, "", one) == (f"{API}/GET/a",)
    assert authorizer.scope_denials(API, "", other) == (f"{API}/GET/b",)
    assert authorizer.scope_denials(API, "x", other) == ()
    assert hash(RouteScopes(dict(one))) == hash(one)


def test_a_rest_policy_is_the_same_whatever_method_asked():
    """API Gateway caches it by token and hands it to every route: it must not depend on
    the methodArn beyond the API and stage, whichever route (scoped or not) asked first."""
    arns = [
        f"{API}/GET/api/reports",
        f"{API}/POST/api/reports",
        f"{API}/GET/api/me",
        f"{API}/DELETE/api/orders/42",
        f"{API}/PUT/api/audit/a/b",
    ]
    for claims in (CLIENT, CLAIMS, {**CLIENT, "scope": "audit orders:admin"}):
        policies = [rest_policy(arn, claims)["policyDocument"] for arn in arns]
        assert all(p == policies[0] for p in policies), claims


def test_a_rest_token_with_every_scope_gets_the_plain_whole_api_allow():
    claims = {**CLIENT, "scope": "audit orders:admin reports:read reports:write"}
    assert rest_policy(f"{API}/GET/api/me", claims)["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{API}/*/*"}
    ]
    # Without ROUTE_SCOPES, exactly today's answer.
    plain = rest_policy(f"{API}/GET/api/me", CLIENT, scopes=RouteScopes())
    assert plain["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{API}/*/*"}
    ]


def test_denials_for_a_client_on_a_session_route_and_for_a_missing_scope_are_logged_by_reason(
    caplog,
):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="authorizer"):
        authorizer.log_denial(NoUserSession())
        authorizer.log_denial(InsufficientScope())
    reasons = [json.loads(r.getMessage())["reason"] for r in caplog.records]
    assert reasons == ["no_session", "insufficient_scope"]
