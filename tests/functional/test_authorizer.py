"""The authorizer handler: REST API TOKEN and REQUEST events, the key ring as the
handler uses it (reloads, failures, revocation), and its import graph.

HTTP API 2.0 events are covered with the protected routes (test_protected_routes.py).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import jwt
import pytest
from jwt_forge import claims, forge
from support import ALLOWED_ORIGIN, ROOT, JwksHandler, load_event

from authcore.clock import FrozenClock
from authcore.edge.credentials import ACCESS_COOKIE
from authcore.keys.ring import (
    EMPTY_RING_RETRY_SECONDS,
    MAX_RING_AGE_SECONDS,
    RELOAD_INTERVAL_SECONDS,
)
from authcore.keys.signers import LocalSigner, public_jwk
from functions.authorizer import app as authorizer

ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
API = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod"
WHOLE_API = f"{API}/*/*"
CONTEXT_TYPES = (str, int, float, bool)


class CountingJwksHandler(JwksHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        if status != 200:
            self.send_response(status)
            self.end_headers()
            return
        super().do_GET()


def serve_jwks(jwks: dict) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingJwksHandler)
    server.jwks = json.dumps(jwks).encode()  # type: ignore[attr-defined]
    server.hits = 0  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def clock():
    return FrozenClock(time.time())


@pytest.fixture
def jwks(stack, monkeypatch, clock):
    """The stack's JWKS on a local server that counts fetches and can fail; a
    fresh authorizer container on a frozen clock; ISSUER set, as REST requires."""
    server = serve_jwks(stack.jwks())
    monkeypatch.setenv("JWKS_URL", f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    monkeypatch.setenv("ISSUER", ISSUER)
    authorizer.runtime.reset(clock=clock)
    yield server
    server.shutdown()
    authorizer.runtime.reset()


@pytest.fixture
def token(demo_user, login_as, jwks):
    return login_as().body["access_token"]


def rest_token_event(authorization, method_arn=f"{API}/GET/orders"):
    event = load_event("authorizer_rest_token.json", methodArn=method_arn)
    if authorization is None:
        del event["authorizationToken"]
    else:
        event["authorizationToken"] = authorization
    return event


def rest_request_event(headers=None, multi=None, method="GET", **overrides):
    """A REST REQUEST event; ``multi`` gives multiValueHeaders (``headers`` then
    holds the last value of each, as API Gateway does)."""
    event = load_event("authorizer_rest_request.json", **overrides)
    if multi is not None:
        event["multiValueHeaders"] = multi
        event["headers"] = {name: values[-1] for name, values in multi.items()}
    else:
        event["headers"] = headers or {}
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["methodArn"] = f"{API}/{method}/orders"
    return event


def unauthorized(event):
    """REST answers 401 only for this exact error: Exception("Unauthorized")."""
    with pytest.raises(Exception) as raised:  # noqa: PT011
        authorizer.lambda_handler(event, None)
    assert type(raised.value) is Exception
    return str(raised.value) == "Unauthorized"


def allowed(answer, demo_user=None):
    statement = answer["policyDocument"]["Statement"]
    assert answer["policyDocument"]["Version"] == "2012-10-17"
    assert statement == [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": WHOLE_API}]
    assert all(isinstance(v, CONTEXT_TYPES) for v in answer["context"].values())
    if demo_user is not None:
        assert answer["principalId"] == demo_user.user_id == answer["context"]["sub"]
    return True


def denied_here(answer, method):
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{API}/{method}/orders"}
    ]
    assert "context" not in answer
    return True


# ---------------------------------------------------------------- REST TOKEN
def test_rest_token_event_gets_a_policy_for_the_whole_api(token, demo_user):
    answer = authorizer.lambda_handler(rest_token_event(f"Bearer {token}"), None)
    assert allowed(answer, demo_user)
    assert answer["context"]["username"] == "sam"
    assert answer["context"]["scope"] == "profile"
    assert isinstance(answer["context"]["exp"], int)


@pytest.mark.parametrize(
    "method_arn",
    [
        f"{API}/GET/",
        f"{API}/POST/orders",
        f"{API}/DELETE/orders/42/items/7",
        f"{API}/PATCH/a/b%2Fc",
        f"{API}/*/orders",
    ],
)
def test_the_allow_never_depends_on_the_route(token, method_arn):
    # A cached allow for one route is then right for every route of the API.
    assert allowed(authorizer.lambda_handler(rest_token_event(f"Bearer {token}", method_arn), None))


@pytest.mark.parametrize(
    "method_arn",
    [
        None,
        "",
        "not-an-arn",
        "arn:aws:execute-api:us-east-1:123456789012:rest123",
        "arn:aws:execute-api:us-east-1:123456789012:rest123/prod",
        "arn:aws:lambda:us-east-1:123456789012:rest123/prod/GET/orders",
        "arn:aws:execute-api:us-east-1:12345:rest123/prod/GET/orders",
        "arn:aws:execute-api:us-east-1:123456789012:/prod/GET/orders",
        " arn:aws:execute-api:us-east-1:123456789012:rest123/prod/GET/orders",
    ],
)
def test_a_malformed_method_arn_is_unauthorized(token, method_arn):
    event = rest_token_event(f"Bearer {token}")
    event["methodArn"] = method_arn
    if method_arn is None:
        del event["methodArn"]
    assert unauthorized(event)


def test_other_partitions_keep_their_partition(token):
    arn = "arn:aws-cn:execute-api:cn-north-1:123456789012:rest123/prod/GET/orders"
    answer = authorizer.lambda_handler(rest_token_event(f"Bearer {token}", arn), None)
    assert answer["policyDocument"]["Statement"][0]["Resource"] == (
        "arn:aws-cn:execute-api:cn-north-1:123456789012:rest123/prod/*/*"
    )


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "garbage", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Token x"],
)
def test_rest_token_without_a_usable_token_is_unauthorized(jwks, authorization):
    assert unauthorized(rest_token_event(authorization))


def test_the_bare_token_without_the_bearer_scheme_is_unauthorized(token):
    assert unauthorized(rest_token_event(token))


def test_a_forged_token_is_unauthorized(token, stack):
    forged = forge(LocalSigner.generate(stack.key_id), claims(iss=ISSUER))
    assert unauthorized(rest_token_event(f"Bearer {forged}"))


def test_an_expired_token_is_unauthorized(token, clock):
    # From the token's own exp: login stamps it with the real time, which a loaded
    # machine may have moved a second or more past the frozen clock's start.
    clock.now = jwt.decode(token, options={"verify_signature": False})["exp"] + 60 + 1
    assert unauthorized(rest_token_event(f"Bearer {token}"))


def test_rest_requires_a_configured_issuer(token, monkeypatch, caplog, jwks):
    monkeypatch.delenv("ISSUER")
    authorizer.runtime.reset()
    hits = jwks.hits
    with caplog.at_level(logging.INFO, logger="authorizer"):
        assert unauthorized(rest_token_event(f"Bearer {token}"))
    # Never derived from the REST API's domain, never a key fetched for it.
    assert jwks.hits == hits
    (record,) = [r for r in caplog.records if "issuer_not_configured" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "ISSUER" in record.getMessage()
    assert token not in caplog.text


def test_a_token_for_another_issuer_is_unauthorized(token, monkeypatch):
    monkeypatch.setenv("ISSUER", "https://auth.example.com")
    authorizer.runtime.reset()
    assert unauthorized(rest_token_event(f"Bearer {token}"))


@pytest.mark.parametrize(
    "event", [{}, {"type": "OTHER"}, {"version": "1.0"}, {"methodArn": "x"}, None, [], "TOKEN"]
)
def test_an_unrecognised_event_shape_is_unauthorized(jwks, event):
    assert unauthorized(event)


def test_denials_never_log_the_token(token, caplog):
    with caplog.at_level(logging.DEBUG):
        unauthorized(rest_token_event(f"Bearer {token}x"))
        unauthorized(rest_request_event({"cookie": f"{ACCESS_COOKIE}={token}x"}))
    assert "denied" in caplog.text
    assert token not in caplog.text


# ---------------------------------------------------------------- REST REQUEST
@pytest.mark.parametrize(
    "name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]
)
def test_rest_request_reads_the_authorization_header_in_any_case(token, demo_user, name):
    answer = authorizer.lambda_handler(rest_request_event({name: f"Bearer {token}"}), None)
    assert allowed(answer, demo_user)


@pytest.mark.parametrize("name", ["Cookie", "cookie", "COOKIE"])
def test_rest_request_parses_the_cookie_header(token, demo_user, name):
    cookie = f"theme=dark; {ACCESS_COOKIE}={token}; lang=en"
    assert allowed(authorizer.lambda_handler(rest_request_event({name: cookie}), None), demo_user)


def test_rest_request_reads_every_cookie_header(token):
    # HTTP/2 clients may send one Cookie header per cookie.
    multi = {"cookie": ["theme=dark", f"{ACCESS_COOKIE}={token}", "lang=en"]}
    assert allowed(authorizer.lambda_handler(rest_request_event(multi=multi), None))


def test_rest_request_with_headers_only(token):
    event = rest_request_event({"Authorization": f"Bearer {token}"})
    del event["multiValueHeaders"]
    assert allowed(authorizer.lambda_handler(event, None))


def test_a_planted_second_access_cookie_is_unauthorized(token):
    # Cookie tossing from a sibling subdomain: two cookies of one name, refuse to guess.
    planted = forge(LocalSigner.generate("k"), claims(iss=ISSUER))
    multi = {"Cookie": [f"{ACCESS_COOKIE}={planted}", f"{ACCESS_COOKIE}={token}"]}
    assert unauthorized(rest_request_event(multi=multi))
    one_header = {"Cookie": f"{ACCESS_COOKIE}={token}; {ACCESS_COOKIE}={planted}"}
    assert unauthorized(rest_request_event(one_header))


def test_two_authorization_headers_are_unauthorized(token):
    multi = {"Authorization": [f"Bearer {token}", "Bearer other"]}
    assert unauthorized(rest_request_event(multi=multi))
    # Two spellings of the name are two headers too.
    multi = {"Authorization": [f"Bearer {token}"], "authorization": [f"Bearer {token}"]}
    assert unauthorized(rest_request_event(multi=multi))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Cookie": "theme=dark"}, {"Cookie": f"{ACCESS_COOKIE}="}, {"Authorization": "Basic x"}],
)
def test_rest_request_without_a_token_is_unauthorized(jwks, headers):
    assert unauthorized(rest_request_event(headers))


def test_the_v2_cookies_list_is_not_read_from_rest_events(token):
    event = rest_request_event({})
    event["cookies"] = [f"{ACCESS_COOKIE}={token}"]
    assert unauthorized(event)


# ---------------------------------------------------------- CSRF on REST REQUEST
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"sec-fetch-site": "Cross-Site"},
        {"Origin": "https://evil.example"},
        {"origin": "null"},
        {"Origin": f"{ALLOWED_ORIGIN}.evil.example"},
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_cookie_token_on_an_unsafe_cross_site_request_is_forbidden(token, headers, method):
    cookie = {"Cookie": f"{ACCESS_COOKIE}={token}"}
    answer = authorizer.lambda_handler(
        rest_request_event({**cookie, **headers}, method=method), None
    )
    assert denied_here(answer, method)
    # Safe methods and Bearer tokens are not cookie CSRF.
    for safe in ("GET", "HEAD", "OPTIONS"):
        event = rest_request_event({**cookie, **headers}, method=safe)
        assert allowed(authorizer.lambda_handler(event, None))
    bearer = {"Authorization": f"Bearer {token}", **headers}
    assert allowed(authorizer.lambda_handler(rest_request_event(bearer, method=method), None))


def test_cookie_token_from_an_allowed_or_the_own_origin_may_post(token):
    for origin in (ALLOWED_ORIGIN, ISSUER):
        headers = {"Cookie": f"{ACCESS_COOKIE}={token}", "Origin": origin}
        event = rest_request_event(headers, method="POST")
        assert allowed(authorizer.lambda_handler(event, None))
    plain = rest_request_event({"Cookie": f"{ACCESS_COOKIE}={token}"}, method="POST")
    assert allowed(authorizer.lambda_handler(plain, None))


def test_every_origin_header_must_pass(token):
    multi = {
        "Cookie": [f"{ACCESS_COOKIE}={token}"],
        "Origin": [ALLOWED_ORIGIN, "https://evil.example"],
    }
    assert denied_here(
        authorizer.lambda_handler(rest_request_event(multi=multi, method="POST"), None), "POST"
    )


def test_the_method_comes_from_the_request_context_when_absent_at_the_top(token):
    event = rest_request_event(
        {"Cookie": f"{ACCESS_COOKIE}={token}", "Origin": "https://evil.example"}, method="POST"
    )
    del event["httpMethod"]
    assert denied_here(authorizer.lambda_handler(event, None), "POST")


# ---------------------------------------------------------- HTTP API 2.0, header case
def _v2_event(headers, method="GET", cookies=None):
    event = load_event("authorizer.json")
    event["headers"] = headers
    event["requestContext"]["http"]["method"] = method
    if cookies is not None:
        event["cookies"] = cookies
    return event


def test_v2_headers_from_an_emulator_that_keeps_their_case(token, demo_user):
    answer = authorizer.lambda_handler(_v2_event({"Authorization": f"Bearer {token}"}), None)
    assert answer["isAuthorized"] is True
    assert answer["context"]["sub"] == demo_user.user_id
    assert all(isinstance(v, CONTEXT_TYPES) for v in answer["context"].values())
    cookie = [f"{ACCESS_COOKIE}={token}"]
    hostile = _v2_event({"Origin": "https://evil.example"}, method="POST", cookies=cookie)
    assert authorizer.lambda_handler(hostile, None) == {"isAuthorized": False}
    friendly = _v2_event({"Origin": ALLOWED_ORIGIN}, method="POST", cookies=cookie)
    assert authorizer.lambda_handler(friendly, None)["isAuthorized"] is True


# ---------------------------------------------------------- the ring, through the handler
def _v2(token):
    event = load_event("authorizer.json")
    event["headers"]["authorization"] = f"Bearer {token}"
    return authorizer.lambda_handler(event, None)


def _probe(clock, kid):
    """A well-formed token with a kid we do not publish."""
    return forge(LocalSigner.generate(kid), claims(iss=ISSUER, iat=clock.now, exp=clock.now + 900))


@pytest.mark.parametrize("flavour", ["http", "rest"])
def test_unknown_kids_reload_the_ring_at_most_once_per_interval(token, jwks, clock, flavour):
    def ask(tok):
        if flavour == "http":
            return _v2(tok)["isAuthorized"]
        try:
            return bool(authorizer.lambda_handler(rest_token_event(f"Bearer {tok}"), None))
        except Exception:
            return False

    assert ask(token)
    assert jwks.hits == 1
    for i in range(30):
        assert not ask(_probe(clock, f"attacker-{i}"))
    assert jwks.hits == 1
    clock.advance(RELOAD_INTERVAL_SECONDS - 1)
    assert not ask(_probe(clock, "attacker-late"))
    assert jwks.hits == 1
    clock.advance(1)
    assert not ask(_probe(clock, "attacker-later"))
    assert jwks.hits == 2
    assert ask(token)


def test_a_failing_key_source_keeps_the_last_good_ring_then_fails_closed(
    token, jwks, clock, login_as, caplog, capsys, stack
):
    assert _v2(token)["isAuthorized"]
    jwks.status = 503
    clock.advance(MAX_RING_AGE_SECONDS)
    assert not _v2(_probe(clock, "unknown"))["isAuthorized"]
    assert jwks.hits == 2
    # A token never seen before verifies against the last good ring...
    fresh = login_as().body["access_token"]
    assert _v2(fresh)["isAuthorized"]
    jwks.jwks = b"<html>not json</html>"
    jwks.status = 200
    clock.advance(MAX_RING_AGE_SECONDS - 1)
    assert _v2(login_as().body["access_token"])["isAuthorized"]
    assert jwks.hits == 3
    capsys.readouterr()
    # ...until the ring has gone unconfirmed for twice its reload interval: then
    # nothing it holds is trusted, cached tokens included (a thief who can make the
    # key source fail must not keep a revoked key alive).
    clock.advance(1)
    with caplog.at_level(logging.INFO):
        assert _v2(token) == {"isAuthorized": False}
        assert unauthorized(rest_token_event(f"Bearer {fresh}"))
    denials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["reason"] for d in denials] == ["keys_unconfirmed", "keys_unconfirmed"]
    assert all(d["AuthorizerDenied"] == 1 for d in denials)
    assert denials[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "reason"]]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("fail closed" in r.getMessage() for r in errors)
    assert any("keys_unconfirmed" in r.getMessage() for r in errors if r.name == "authorizer")
    assert token not in caplog.text
    assert fresh not in caplog.text
    # The first good reload restores trust.
    jwks.jwks = json.dumps(stack.jwks()).encode()
    clock.advance(EMPTY_RING_RETRY_SECONDS)
    assert _v2(token)["isAuthorized"]


def test_a_withdrawn_key_stops_working_at_the_next_reload(token, jwks, clock, stack):
    assert _v2(token)["isAuthorized"]  # verified and cached
    successor = LocalSigner.generate("successor")
    jwks.jwks = json.dumps(
        {"keys": [public_jwk(successor.public_key(), "successor", "ES256")]}
    ).encode()
    clock.advance(RELOAD_INTERVAL_SECONDS / 2)
    assert _v2(token)["isAuthorized"]  # nothing reloaded yet: still cached
    clock.advance(RELOAD_INTERVAL_SECONDS / 2)
    new_token = forge(successor, claims(iss=ISSUER, iat=clock.now, exp=clock.now + 900))
    assert _v2(new_token)["isAuthorized"]  # its unknown kid brings the new ring...
    assert jwks.hits == 2
    assert not _v2(token)["isAuthorized"]  # ...and the revoked key's cached token dies
    assert unauthorized(rest_token_event(f"Bearer {token}"))


def test_the_ring_refreshes_after_its_max_age_without_any_unknown_kid(token, jwks, clock, login_as):
    assert _v2(token)["isAuthorized"]
    clock.advance(MAX_RING_AGE_SECONDS - 1)
    assert _v2(login_as().body["access_token"])["isAuthorized"]
    assert jwks.hits == 1
    clock.advance(1)
    assert _v2(login_as().body["access_token"])["isAuthorized"]
    assert jwks.hits == 2


def test_new_hosts_share_one_ring_and_a_bounded_set_of_verifiers(
    stack, jwks, clock, monkeypatch, demo_user, login_as
):
    """IssuerUrl empty behind a wildcard domain: every Host is another issuer. A
    spray of new hosts must cost neither a key read each nor unbounded memory."""
    monkeypatch.delenv("ISSUER")
    authorizer.runtime.reset(clock=clock)
    own_token = login_as().body["access_token"]  # iss: the login event's own host
    hosts = [f"h{i}.example.com" for i in range(40)]
    for host in hosts:
        event = load_event("authorizer.json")
        event["requestContext"]["domainName"] = host
        token = forge(
            LocalSigner.generate("nobody"),
            claims(iss=f"https://{host}", iat=clock.now, exp=clock.now + 900),
        )
        event["headers"]["authorization"] = f"Bearer {token}"
        assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}
    assert jwks.hits == 1
    assert authorizer.runtime.verifier_for.cache_info().currsize <= 8
    # Tokens of a host still verify there, through the shared ring.
    event = load_event("authorizer.json")
    event["requestContext"]["domainName"] = "abc123.execute-api.us-east-1.amazonaws.com"
    event["headers"]["authorization"] = f"Bearer {own_token}"
    assert authorizer.lambda_handler(event, None)["isAuthorized"]
    assert jwks.hits == 1


# ---------------------------------------------------------- import graph
_CHILD = """
import json, os, sys
from functions.authorizer import app
token = os.environ["TOKEN"]
http = json.load(open("events/authorizer.json"))
http["headers"]["authorization"] = "Bearer " + token
rest = json.load(open("events/authorizer_rest_token.json"))
rest["authorizationToken"] = "Bearer " + token
answers = [app.lambda_handler(http, None), app.lambda_handler(rest, None)]
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("boto3", "botocore", "s3transfer", "aws_lambda_powertools")
)
print(json.dumps({"answers": answers, "heavy": heavy}))
"""


def test_the_authorizer_path_never_imports_boto3():
    signer = LocalSigner.generate("k1")
    server = serve_jwks({"keys": [public_jwk(signer.public_key(), "k1", "ES256")]})
    try:
        now = int(time.time())
        token = forge(signer, claims(iss=ISSUER, iat=now, exp=now + 900))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
            "JWKS_URL": f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
            # The revocation feed is on (the default): its first poll is on the path too.
            "REVOCATION_FEED_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "ISSUER": ISSUER,
            "TOKEN": token,
        }
        out = subprocess.run(
            [sys.executable, "-c", _CHILD],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        server.shutdown()
    result = json.loads(out)
    http_answer, rest_answer = result["answers"]
    assert http_answer["isAuthorized"] is True
    assert rest_answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["heavy"] == []


def test_every_denial_is_an_embedded_metric_by_reason(capsys):
    """AuthorizerDenied, dimension reason, as a CloudWatch EMF line on stdout."""
    event = load_event("authorizer.json")
    event["headers"]["authorization"] = "Bearer not.a.token"
    assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metric,) = lines
    directive = metric["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "AuthorizerDenied", "Unit": "Count"}]
    assert directive["Dimensions"] == [["service", "reason"]]
    assert metric["AuthorizerDenied"] == 1
    assert metric["reason"]
    assert "not.a.token" not in json.dumps(metric)
