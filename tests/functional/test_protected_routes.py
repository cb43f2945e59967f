"""The authorizer in front of the protected routes, and the routes behind it."""

import pytest
from jwt_forge import claims, forge
from support import ALLOWED_ORIGIN, invoke, load_event

from authcore.edge.credentials import ACCESS_COOKIE
from authcore.keys.signers import LocalSigner
from functions.authorizer import app as authorizer
from functions.me import app as me
from functions.sessions import app as sessions
from functions.wellknown import app as wellknown


def authorize(token=None, *, cookie=None, method="GET", **headers):
    event = load_event("authorizer.json")
    del event["headers"]["authorization"]
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    if cookie is not None:
        event["cookies"] = [f"{ACCESS_COOKIE}={cookie}"]
    event["headers"].update(headers)
    event["requestContext"]["http"]["method"] = method
    return authorizer.lambda_handler(event, None)


@pytest.fixture
def tokens(demo_user, login_as, jwks_server):
    return login_as().body


def test_valid_bearer_token_is_allowed_with_a_flat_context(tokens, demo_user):
    answer = authorize(tokens["access_token"])
    assert answer["isAuthorized"] is True
    context = answer["context"]
    assert context["sub"] == demo_user.user_id
    assert context["username"] == "sam"
    assert context["scope"] == "profile"
    assert context["sid"] == tokens["refresh_token"].split(".")[0]
    assert all(isinstance(v, str | int | float | bool) for v in context.values())


def test_cookie_token_is_allowed(tokens):
    assert authorize(cookie=tokens["access_token"])["isAuthorized"] is True


@pytest.mark.parametrize(
    "headers",
    [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}, {"origin": "null"}],
)
def test_cookie_token_on_unsafe_cross_site_request_is_denied(tokens, headers):
    assert authorize(cookie=tokens["access_token"], method="POST", **headers) == {
        "isAuthorized": False
    }
    # Safe methods and Bearer tokens are not cookie CSRF.
    assert authorize(cookie=tokens["access_token"], method="GET", **headers)["isAuthorized"]
    assert authorize(tokens["access_token"], method="POST", **headers)["isAuthorized"]


def test_cookie_token_from_an_allowed_origin_may_post(tokens):
    assert authorize(cookie=tokens["access_token"], method="DELETE", origin=ALLOWED_ORIGIN)[
        "isAuthorized"
    ]


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c", "Bearer x"])
def test_missing_or_garbage_tokens_are_denied(jwks_server, token):
    event = load_event("authorizer.json")
    if token is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = f"Bearer {token}" if token else ""
    assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}


def test_the_bearer_header_alone_decides_when_both_are_sent(tokens):
    """BearerAuthorizer's cache key is the Authorization header (and the domain): an answer
    that a cookie could change would be served to the wrong request from the cache."""
    good = tokens["access_token"]
    assert authorize(good, cookie="garbage")["isAuthorized"] is True
    assert authorize("garbage", cookie=good) == {"isAuthorized": False}


def test_non_bearer_scheme_is_denied(tokens):
    event = load_event("authorizer.json")
    event["headers"]["authorization"] = f"Basic {tokens['access_token']}"
    assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}


def test_token_signed_by_a_foreign_key_with_our_kid_is_denied(tokens, stack):
    forged = forge(
        LocalSigner.generate(stack.key_id),
        claims(iss="https://abc123.execute-api.us-east-1.amazonaws.com"),
    )
    assert authorize(forged) == {"isAuthorized": False}


def test_token_for_another_issuer_is_denied(tokens):
    event = load_event("authorizer.json")
    event["headers"]["authorization"] = f"Bearer {tokens['access_token']}"
    event["requestContext"]["domainName"] = "other.execute-api.us-east-1.amazonaws.com"
    assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}


def test_authorizer_makes_no_aws_call(tokens, monkeypatch):
    from authcore import awsjson

    def forbidden(*args, **kwargs):
        raise AssertionError("the authorizer called AWS")

    monkeypatch.setattr(awsjson.Client, "request", forbidden)
    assert authorize(tokens["access_token"])["isAuthorized"] is True


def test_me_echoes_the_authorizer_context(tokens, demo_user):
    context = authorize(tokens["access_token"])["context"]
    event = load_event("me.json")
    event["requestContext"]["authorizer"] = {"lambda": context}
    answer = invoke(me, event)
    assert answer.status == 200
    assert answer.body == {"user": "sam", "sub": demo_user.user_id, "scope": "profile"}


def test_me_without_context_is_refused():
    event = load_event("me.json")
    del event["requestContext"]["authorizer"]
    assert invoke(me, event).status == 401


def _sessions_event(name, context, **overrides):
    event = load_event(name, **overrides)
    event["requestContext"]["authorizer"] = {"lambda": context}
    return event


def test_sessions_list_and_revoke(demo_user, login_as, stack, jwks_server):
    first = login_as(headers={**load_event("login.json")["headers"], "user-agent": "Tab A"}).body
    second = login_as().body
    context = authorize(first["access_token"])["context"]
    answer = invoke(sessions, _sessions_event("sessions_list.json", context))
    assert answer.status == 200
    listed = {s["sid"]: s for s in answer.body["sessions"]}
    first_sid, second_sid = (t["refresh_token"].split(".")[0] for t in (first, second))
    assert set(listed) == {first_sid, second_sid}
    assert listed[first_sid]["current"] is True
    assert listed[second_sid]["current"] is False
    assert listed[first_sid]["user_agent"] == "Tab A"
    assert {"created_at", "last_used_at", "expires_at"} <= listed[first_sid].keys()

    revoke = _sessions_event(
        "sessions_revoke.json",
        context,
        rawPath=f"/auth/sessions/{second_sid}",
        pathParameters={"sid": second_sid},
    )
    revoke["requestContext"]["http"]["path"] = f"/auth/sessions/{second_sid}"
    assert invoke(sessions, revoke).status == 204
    answer = invoke(sessions, _sessions_event("sessions_list.json", context))
    assert [s["sid"] for s in answer.body["sessions"]] == [first_sid]


def test_revoking_another_users_session_is_404(demo_user, login_as, stack, jwks_server):
    stack.admin.create_user("dora", "another-long-password")
    dora = login_as(username="dora", password="another-long-password").body
    sam = login_as().body
    dora_sid = dora["refresh_token"].split(".")[0]
    context = authorize(sam["access_token"])["context"]
    for sid in (dora_sid, "A" * 22, "not-a-sid"):
        event = _sessions_event(
            "sessions_revoke.json",
            context,
            rawPath=f"/auth/sessions/{sid}",
            pathParameters={"sid": sid},
        )
        event["requestContext"]["http"]["path"] = f"/auth/sessions/{sid}"
        answer = invoke(sessions, event)
        assert answer.status == 404
    items = stack.dynamodb.get_item(TableName="sessions", Key={"sid": {"S": dora_sid}})["Item"]
    assert "revoked_at" not in items


def test_jwks_publishes_public_keys_only(stack):
    answer = invoke(wellknown, load_event("wellknown_jwks.json"))
    assert answer.status == 200
    assert answer.headers["Cache-Control"].startswith("public, max-age=")
    current, pending = answer.body["keys"]  # the current key first, then the next one
    assert current["kid"] == stack.key_id
    assert pending["kid"] != stack.key_id
    for key in (current, pending):
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.keys()


def test_openid_configuration_matches_the_tokens_issuer(demo_user, login_as):
    import jwt

    answer = invoke(wellknown, load_event("wellknown_openid.json"))
    assert answer.status == 200
    token = login_as().body["access_token"]
    iss = jwt.decode(token, options={"verify_signature": False})["iss"]
    assert answer.body["issuer"] == iss
    assert answer.body["jwks_uri"] == f"{iss}/.well-known/jwks.json"


def test_issued_tokens_verify_with_pyjwt_and_the_published_jwks(demo_user, login_as):
    import jwt

    jwk = invoke(wellknown, load_event("wellknown_jwks.json")).body["keys"][0]
    token = login_as().body["access_token"]
    decoded = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience="api",
        issuer="https://abc123.execute-api.us-east-1.amazonaws.com",
    )
    assert decoded["username"] == "sam"
