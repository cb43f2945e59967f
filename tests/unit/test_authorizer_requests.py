"""The authorizer's typed requests and answers (authcore.edge.authorizer), without a
token: which class reads which event, and the shapes of allows and denials."""

from __future__ import annotations

import pytest
from support import load_event

from authcore.config import Settings
from authcore.edge import authorizer, emf
from authcore.errors import (
    Forbidden,
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


# ---------------------------------------------------------------- machine clients
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
    }


def test_a_client_refused_by_a_session_route_is_logged_by_reason(
    caplog,
):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="authorizer"):
        authorizer.log_denial(NoUserSession())
    reasons = [json.loads(r.getMessage())["reason"] for r in caplog.records]
    assert reasons == ["no_session"]
