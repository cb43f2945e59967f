"""Machine clients' tokens (contract §9) through the real handlers, signed with the stack's
own key: the authorizers in both modes, the routes that act on a user's session, logout,
and route scopes (ROUTE_SCOPES) in the HTTP API and REST flavours.

A client-credentials token (RFC 9068): ``sub`` = ``client_id``, a ``scope``, no ``sid`` and
no ``username``. The token endpoint that issues them is not needed here: the tests forge
them with the key the stack signs with, exactly as it would.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
from jwt_forge import claims, forge
from session_checks import session_check_via
from support import DEMO_PASSWORD, invoke, load_event, with_body

from authcore.runtime import signing
from functions.authorizer import app as authorizer
from functions.logout import app as logout
from functions.me import app as me
from functions.password import app as password
from functions.refresh import app as refresh
from functions.reports import app as reports
from functions.sessions import app as sessions
from infra import template

ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
API = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod"
CLIENT_ID = "reporting-client"
# What template.yaml configures on both authorizer functions.
TEMPLATE_ROUTE_SCOPES = template.functions()["AuthorizerFunction"].environment["ROUTE_SCOPES"]


def signed(payload: dict) -> str:
    """A token signed by the stack's current key, as the token endpoint would sign it."""
    return forge(signing.signer(), payload)


def client_token(scope: str = "reports:read", **overrides) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "sub": CLIENT_ID,
        "aud": "api",
        "exp": now + 900,
        "iat": now,
        "jti": secrets.token_urlsafe(12),
        "client_id": CLIENT_ID,
        "scope": scope,
        **overrides,
    }
    return signed({k: v for k, v in payload.items() if v is not ...})


def authorize(token: str, route_key: str = "GET /api/orders") -> dict:
    event = load_event("authorizer.json", routeKey=route_key)
    event["headers"]["authorization"] = f"Bearer {token}"
    return authorizer.lambda_handler(event, None)


def with_context(name: str, context: dict, **overrides) -> dict:
    event = load_event(name, **overrides)
    event["requestContext"]["authorizer"] = {"lambda": context}
    return event


@pytest.fixture
def user(demo_user, login_as, jwks_server):
    return login_as().body


@pytest.fixture
def client_context(jwks_server) -> dict:
    answer = authorize(client_token())
    assert answer["isAuthorized"] is True
    return answer["context"]


@pytest.fixture
def session_mode(monkeypatch, jwks_server, moto_http):
    """The same handler configured as SessionAuthorizerFunction (SESSIONS_TABLE is the
    stack's), as a new container."""
    monkeypatch.setenv("AUTHORIZER_MODE", "session")
    monkeypatch.setenv("ISSUER", ISSUER)  # REST needs it; HTTP API derives the same value
    authorizer.runtime.reset()
    session_check_via(authorizer.runtime, moto_http, monkeypatch)


@pytest.fixture
def route_scopes(monkeypatch, jwks_server):
    """The authorizers as template.yaml configures them: ROUTE_SCOPES of the example route."""
    monkeypatch.setenv("ROUTE_SCOPES", TEMPLATE_ROUTE_SCOPES)
    monkeypatch.setenv("ISSUER", ISSUER)  # REST needs it; HTTP API derives the same value
    authorizer.runtime.reset()
    assert authorizer.runtime.settings().route_scopes == {"GET /api/reports": {"reports:read"}}


def live_sessions(stack) -> list[str]:
    items = stack.dynamodb.scan(TableName=stack.sessions_table)["Items"]
    return sorted(item["sid"]["S"] for item in items if "revoked_at" not in item)


# ---------------------------------------------------------------- the authorizers
def test_the_stateless_authorizer_allows_a_client_token_on_an_unscoped_route(client_context):
    assert client_context == {
        "sub": CLIENT_ID,
        "username": "",
        "scope": "reports:read",
        "sid": "",
        "client_id": CLIENT_ID,
        "exp": client_context["exp"],
        "amr": "",
        "auth_time": 0,
    }


def test_the_session_checked_authorizer_refuses_a_client_token(user, session_mode, caplog):
    """No session stands behind it, so no session-checked route takes it: /auth/sessions… and
    /auth/password (session-checked in template.yaml) answer 403 to it at the gateway."""
    assert authorize(user["access_token"])["isAuthorized"] is True
    with caplog.at_level("INFO", logger="authorizer"):
        assert authorize(client_token()) == {"isAuthorized": False}
    assert json.loads(caplog.records[-1].getMessage())["reason"] == "no_session"
    event = load_event("authorizer_rest_token.json", methodArn=f"{API}/GET/auth/sessions")
    event["authorizationToken"] = f"Bearer {client_token()}"
    # REST: 403 (an explicit Deny of this method), not the 401 of an unusable token.
    assert authorizer.lambda_handler(event, None)["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{API}/GET/auth/sessions"}
    ]


def test_a_user_token_that_lost_its_sid_is_not_taken_for_a_clients(user, stack):
    """Without sid, a token must have the client-credentials shape (sub = client_id, no
    username): a user's claims without their session are refused, in both modes."""
    now = int(time.time())
    user_claims = {"iss": ISSUER, "iat": now, "exp": now + 900, "sid": ...}
    for shape in (
        {},
        {"username": ...},
        {"client_id": "web", "username": ...},
        {"sub": "web"},  # sub = client_id, but a username: claims of both shapes
    ):
        assert authorize(signed(claims(**user_claims, **shape))) == {"isAuthorized": False}


# ---------------------------------------------------------------- routes on a user's session
def test_api_me_refuses_a_client_with_403(client_context):
    answer = invoke(me, with_context("me.json", client_context))
    assert answer.status == 403
    assert answer.body["error"] == "forbidden"


def test_the_session_routes_refuse_a_client_with_403(user, client_context, stack):
    """Behind SessionAuthorizer the gateway already refuses; the handlers refuse too, so a
    route moved behind another authorizer cannot start acting on a session named by nobody."""
    before = live_sessions(stack)
    listed = invoke(sessions, with_context("sessions_list.json", client_context))
    assert (listed.status, listed.body["error"]) == (403, "forbidden")
    sid = user["refresh_token"].split(".")[0]
    path = f"/auth/sessions/{sid}"
    revoke = with_context(
        "sessions_revoke.json", client_context, pathParameters={"sid": sid}, rawPath=path
    )
    revoke["requestContext"]["http"]["path"] = path
    assert invoke(sessions, revoke).status == 403
    assert live_sessions(stack) == before


def test_the_password_change_refuses_a_client_with_403(user, client_context, login_as):
    event = with_context("password_change.json", client_context)
    event["body"] = json.dumps(
        {"current_password": DEMO_PASSWORD, "new_password": "a-brand-new-long-passphrase"}
    )
    answer = invoke(password, event)
    assert (answer.status, answer.body["error"]) == (403, "forbidden")
    assert login_as().status == 200  # the password did not change


def test_an_empty_sid_in_a_user_context_is_refused_like_a_client(user, client_context):
    """The handlers tell a client by its empty sid, whatever else the context says."""
    context = {**client_context, "username": "sam"}
    assert invoke(me, with_context("me.json", context)).status == 403


# ---------------------------------------------------------------- logout
@pytest.mark.parametrize("everywhere", [False, True])
def test_logout_with_a_client_token_is_204_and_revokes_nothing(user, stack, everywhere):
    before = live_sessions(stack)
    assert before
    event = with_body("logout.json", {"all": True}) if everywhere else load_event("logout.json")
    if not everywhere:
        del event["body"]
    event["headers"]["authorization"] = f"Bearer {client_token()}"
    assert invoke(logout, event).status == 204
    assert live_sessions(stack) == before
    refreshed = invoke(refresh, with_body("refresh.json", {"refresh_token": user["refresh_token"]}))
    assert refreshed.status == 200


# ---------------------------------------------------------------- route scopes
def test_http_api_route_scopes_come_from_the_configuration_not_the_token(user, route_scopes):
    assert authorize(client_token(), "GET /api/reports")["isAuthorized"] is True
    assert authorize(client_token(scope="reports:read other"), "GET /api/reports")["isAuthorized"]
    for token in (
        client_token(scope="reports:write"),
        client_token(scope=""),
        client_token(scope=...),
        user["access_token"],  # scope "profile"
    ):
        assert authorize(token, "GET /api/reports") == {"isAuthorized": False}
        # Unscoped routes are unchanged.
        assert authorize(token, "GET /api/orders")["isAuthorized"] is True


def test_the_example_route_answers_with_the_authorizers_context(route_scopes):
    context = authorize(client_token(), "GET /api/reports")["context"]
    answer = invoke(reports, with_context("reports.json", context))
    assert answer.status == 200
    assert answer.body == {"reports": [], "client_id": CLIENT_ID, "scope": "reports:read"}


def test_the_example_route_without_context_is_refused():
    event = load_event("reports.json")
    del event["requestContext"]["authorizer"]
    assert invoke(reports, event).status == 401


def test_a_rest_policy_denies_the_scoped_routes_a_token_lacks_whatever_method_asked(
    user, route_scopes
):
    def policy(token: str, method_arn: str) -> dict:
        event = load_event("authorizer_rest_token.json", methodArn=method_arn)
        event["authorizationToken"] = f"Bearer {token}"
        return authorizer.lambda_handler(event, None)["policyDocument"]

    allow = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{API}/*/*"}
    deny = {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": [f"{API}/GET/api/reports"],
    }
    for method_arn in (f"{API}/GET/api/reports", f"{API}/GET/api/me", f"{API}/POST/x"):
        assert policy(user["access_token"], method_arn)["Statement"] == [allow, deny]
        assert policy(client_token(), method_arn)["Statement"] == [allow]


def test_a_bad_route_scopes_value_refuses_every_request_and_says_why(
    user, monkeypatch, jwks_server, caplog
):
    """Fail closed: a route whose scopes cannot be read is not left open."""
    monkeypatch.setenv("ROUTE_SCOPES", '{"GET /api/reports": ""}')
    authorizer.runtime.reset()
    with caplog.at_level("INFO", logger="authorizer"):
        assert authorize(user["access_token"]) == {"isAuthorized": False}
    line = json.loads(caplog.records[-1].getMessage())
    assert line["reason"] == "configuration"
    assert "ROUTE_SCOPES" in line["detail"]
