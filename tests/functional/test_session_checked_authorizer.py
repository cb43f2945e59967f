"""The authorizer's ways of hearing of a revocation side by side, through the real
handlers over moto, on a frozen clock: every way a session ends (logout, logout
everywhere, theft detection, a disabled user, a new password, a session deleted from
another device) reaches the session-checked authorizer once REVOCATION_MAX_LAG_SECONDS
has passed, and the stateless one with the revocation feed (contract §10) once
REVOCATION_POLL_SECONDS has passed (the table's stream, carried by the template's own
mapping filters to the publisher function, into S3); the stateless one without the
feed keeps accepting the token until its exp. All three are documented.

Each mode runs in a container of its own: a fresh copy of functions/authorizer/app.py
configured as template.yaml configures that function (same code, own module state),
as two Lambda functions would be. Nothing sleeps: the clock is frozen and moved.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from itertools import count
from types import ModuleType

import pytest
from jwt_forge import claims, forge
from session_checks import FAULT_KINDS, TIMEOUT_AFTER, TIMEOUT_BEFORE, open_session
from support import ROOT, JwksHandler, LambdaContext, invoke, load_event, with_body

from authcore.clock import FrozenClock
from authcore.keys.signers import LocalSigner, public_jwk
from authcore.revocation.document import DELTA_KEY, SNAPSHOT_KEY
from authcore.revocation.feed import RETRY_SECONDS, STALE_AFTER_POLLS
from authcore.revocation.s3 import S3FeedStore
from authcore.runtime import revocation, signing
from authcore.sessions.dynamo import DynamoSessionStore
from functions.logout import app as logout
from functions.refresh import app as refresh
from functions.revocation_feed import app as feed_publisher
from functions.sessions import app as sessions
from infra.devkit import streams

T0 = 1_800_000_000.0
ACCESS_TTL = 900
EXP = T0 + ACCESS_TTL
LEEWAY = 60
LAG = 5
POLL = 10
MS = 0.001
ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"
API = "arn:aws:execute-api:us-east-1:123456789012:rest123/prod"
APP = ROOT / "functions" / "authorizer" / "app.py"
# Errors botocore's standard retry mode does not retry (a GetItem never gets these two
# from DynamoDB; they stand for any error that is not transient).
NOT_RETRIED = {"ConditionalCheckFailedException", "TransactionConflictException"}
_copies = count()


class Container:
    """One cold start of the authorizer function in the given mode."""

    def __init__(self, mode: str, clock: FrozenClock, monkeypatch, **env: str) -> None:
        spec = importlib.util.spec_from_file_location(f"authorizer_copy_{next(_copies)}", APP)
        assert spec is not None
        assert spec.loader is not None
        self.app: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.app)
        with monkeypatch.context() as patch:
            patch.setenv("AUTHORIZER_MODE", mode)
            patch.setenv("ISSUER", ISSUER)  # REST needs it; HTTP API derives the same value
            for name, value in env.items():
                patch.setenv(name, value)
            self.app.runtime.reset(clock=clock)
            self.app.runtime.settings()  # configuration is parsed once, at the cold start
            self.app.runtime.session_checker()  # its reader fixes its endpoint now
        self.mode = mode

    @property
    def checker(self):
        return self.app.runtime.session_checker()

    def http(self, token: str) -> dict:
        event = load_event("authorizer.json")
        event["headers"]["authorization"] = f"Bearer {token}"
        return self.app.lambda_handler(event, None)

    def allows(self, token: str) -> bool:
        answer = self.http(token)
        assert isinstance(answer["isAuthorized"], bool)
        return answer["isAuthorized"]

    def rest_allows(self, token: str) -> bool:
        event = load_event("authorizer_rest_token.json", methodArn=f"{API}/GET/orders")
        event["authorizationToken"] = f"Bearer {token}"
        try:
            answer = self.app.lambda_handler(event, None)
        except Exception as refused:
            if str(refused) != "Unauthorized":  # the one message REST turns into 401
                raise
            return False
        return answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.fixture
def clock(stack, monkeypatch):
    # No grace window: a reused refresh token is theft at once.
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    signing.reset()
    clock = FrozenClock(T0)
    signing.use_clock(clock)
    return clock


@pytest.fixture
def stateless(jwks_server, clock, monkeypatch):
    # The feed off, said here rather than left to tests/conftest.py's default: this is
    # the mode that honours a logout only at exp (contract §10, REVOCATION_POLL_SECONDS=0).
    container = Container("stateless", clock, monkeypatch, REVOCATION_POLL_SECONDS="0")
    assert container.app.runtime.revocation_feed() is None
    return container


@pytest.fixture
def session(jwks_server, clock, monkeypatch, dynamo_proxy):
    """Its reads reach moto over HTTP through ``dynamo_proxy``, which counts and fails them."""
    container = Container(
        "session",
        clock,
        monkeypatch,
        REVOCATION_MAX_LAG_SECONDS=str(LAG),
        AWS_ENDPOINT_URL_DYNAMODB=dynamo_proxy.url,
    )
    assert container.checker is not None
    return container


@pytest.fixture
def reads(session, dynamo_proxy):
    return dynamo_proxy


@pytest.fixture
def two_sessions(demo_user, login_as, clock):
    """Two sessions of the demo user ("mine" and "other"), access and refresh tokens."""
    return login_as().body, login_as().body


def behind(container: Container, module, event: dict, token: str):
    """A request to a route behind ``container``: the authorizer, then the function
    with the authorizer's context (None when the gateway refused it)."""
    answer = container.http(token)
    if not answer["isAuthorized"]:
        return None
    event["requestContext"]["authorizer"] = {"lambda": answer["context"]}
    return invoke(module, event)


# ------------------------------------------------------ the ways a session ends
def _logout(mine, other, stack):
    answer = invoke(logout, with_body("logout.json", {"refresh_token": mine["refresh_token"]}))
    assert answer.status == 204
    return [mine["access_token"]], [other["access_token"]]


def _logout_everywhere(mine, other, stack):
    body = {"refresh_token": other["refresh_token"], "all": True}
    assert invoke(logout, with_body("logout.json", body)).status == 204
    return [mine["access_token"], other["access_token"]], []


def _theft(mine, other, stack):
    rotated = invoke(refresh, with_body("refresh.json", {"refresh_token": mine["refresh_token"]}))
    assert rotated.status == 200
    replayed = invoke(refresh, with_body("refresh.json", {"refresh_token": mine["refresh_token"]}))
    assert replayed.status == 401  # the reuse revoked the whole session...
    # ...the access token minted by the rotation included.
    return [mine["access_token"], rotated.body["access_token"]], [other["access_token"]]


def _disabled_user(mine, other, stack):
    assert stack.admin.set_disabled("sam", True) == 2
    return [mine["access_token"], other["access_token"]], []


def _new_password(mine, other, stack):
    assert stack.admin.set_password("sam", "a-brand-new-passphrase") == 2
    return [mine["access_token"], other["access_token"]], []


def delete_event(sid: str) -> dict:
    event = load_event("sessions_revoke.json", rawPath=f"/auth/sessions/{sid}")
    event["pathParameters"] = {"sid": sid}
    event["requestContext"]["http"]["path"] = f"/auth/sessions/{sid}"
    return event


REVOCATIONS = {
    "logout": _logout,
    "logout_everywhere": _logout_everywhere,
    "theft_detection": _theft,
    "disabled_user": _disabled_user,
    "new_password": _new_password,
}


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_a_revoked_session_is_refused_once_the_lag_has_passed_stateless_until_exp(
    how, two_sessions, stateless, session, reads, stack, clock, caplog
):
    caplog.set_level(logging.INFO, logger="authorizer")
    mine, other = two_sessions
    for token in (mine["access_token"], other["access_token"]):
        assert session.allows(token)  # "live", now cached in the container
        assert stateless.allows(token)
    victims, bystanders = REVOCATIONS[how](mine, other, stack)

    # Documented lag: a container may still trust its cached "live" for LAG seconds.
    clock.advance(LAG - MS)
    for token in (mine["access_token"], other["access_token"]):
        assert session.allows(token)
    clock.advance(MS)
    reads.clear()
    for token in victims:
        assert not session.allows(token), how
        assert not session.rest_allows(token), how
        assert stateless.allows(token), how  # stateless: valid until exp
        assert stateless.rest_allows(token), how
    for token in bystanders:
        assert session.allows(token), how
    assert any('"reason": "session_revoked"' in r.getMessage() for r in caplog.records)

    # "Revoked" is final and cached until the token expires: no further reads.
    reads.clear()
    clock.now = EXP - MS
    for token in victims:
        assert not session.allows(token)
        assert stateless.allows(token)
    assert "GetItem" not in reads.operations
    clock.now = EXP + LEEWAY  # the verifier's leeway spent: nobody accepts it
    for token in victims:
        assert not stateless.allows(token)
        assert not session.allows(token)


def test_a_session_deleted_from_another_device_is_refused_within_the_lag(
    two_sessions, stateless, session, clock
):
    mine, other = two_sessions
    listed = behind(session, sessions, load_event("sessions_list.json"), mine["access_token"])
    assert listed is not None
    assert listed.status == 200
    event = delete_event(mine["refresh_token"].split(".")[0])
    deleted = behind(session, sessions, event, other["access_token"])
    assert deleted is not None
    assert deleted.status == 204

    clock.advance(LAG)
    assert behind(session, sessions, load_event("sessions_list.json"), mine["access_token"]) is None
    assert stateless.allows(mine["access_token"])
    assert session.allows(other["access_token"])  # the device that did it carries on


def test_a_token_first_seen_after_the_revocation_is_refused_at_once(
    two_sessions, stateless, session, clock
):
    mine, other = two_sessions
    _logout(mine, other, None)
    # Nothing cached "live" for this session in this container: no lag at all.
    assert not session.allows(mine["access_token"])
    assert stateless.allows(mine["access_token"])


def test_the_session_routes_answer_only_live_sessions(two_sessions, session, stateless, clock):
    mine, other = two_sessions
    answer = behind(session, sessions, load_event("sessions_list.json"), mine["access_token"])
    assert answer is not None
    assert answer.status == 200
    assert len(answer.body["sessions"]) == 2
    _logout(mine, other, None)
    clock.advance(LAG)
    assert behind(session, sessions, load_event("sessions_list.json"), mine["access_token"]) is None
    # The same token behind the stateless authorizer would still reach the function.
    assert behind(stateless, sessions, load_event("sessions_list.json"), mine["access_token"])


# ------------------------------------------------------ cost and consistency
def test_one_strongly_consistent_read_per_session_per_lag(two_sessions, session, reads, clock):
    mine, _ = two_sessions
    for step in range(50):
        clock.now = T0 + step * LAG / 50
        assert session.allows(mine["access_token"])
    assert reads.operations == ["GetItem"]
    clock.now = T0 + LAG
    assert session.allows(mine["access_token"])  # LAG seconds after the first read
    assert reads.operations == ["GetItem", "GetItem"]
    for sent in reads.requests:
        assert sent["Key"] == {"sid": {"S": mine["refresh_token"].split(".")[0]}}
        assert sent["ConsistentRead"] is True  # nothing of DynamoDB's own lag is added
        projected = {name.strip() for name in sent["ProjectionExpression"].split(",")}
        assert projected == {"user_id", "revoked_at", "idle_expires_at", "absolute_expires_at"}


def test_the_keys_and_the_session_are_read_over_one_connection(
    two_sessions, jwks_server, clock, monkeypatch, dynamo_proxy
):
    """As deployed: keys from the keys table, not a JWKS URL. The ring's reader and the
    session reader are two clients (each its own timeout); on Lambda each new connection
    to DynamoDB is a TLS handshake, and the first request would pay two."""
    monkeypatch.delenv("JWKS_URL")
    # For the whole test: the ring's reader is made at the first request, not at the start.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamo_proxy.url)
    container = Container("session", clock, monkeypatch, REVOCATION_MAX_LAG_SECONDS=str(LAG))
    mine, other = two_sessions
    assert container.allows(mine["access_token"])
    assert container.allows(other["access_token"])
    assert dynamo_proxy.operations == ["Query", "GetItem", "GetItem"]
    assert len(set(dynamo_proxy.connections)) == 1


def test_the_stateless_container_has_no_session_check(stateless, two_sessions):
    assert stateless.checker is None
    assert stateless.allows(two_sessions[0]["access_token"])


def test_the_lag_comes_from_the_environment(
    jwks_server, two_sessions, clock, monkeypatch, moto_http
):
    strict = Container(
        "session",
        clock,
        monkeypatch,
        REVOCATION_MAX_LAG_SECONDS="0",
        AWS_ENDPOINT_URL_DYNAMODB=moto_http,
    )
    mine, other = two_sessions
    assert strict.allows(mine["access_token"])
    _logout(mine, other, None)
    assert not strict.allows(mine["access_token"])  # same instant: no lag at all


# ------------------------------------------------------ DynamoDB failing
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_dynamodb_failing_refuses_the_request_and_says_so(
    kind, two_sessions, session, dynamo_proxy, clock, caplog, capfd, monkeypatch
):
    caplog.set_level(logging.INFO, logger="authorizer")
    mine, _ = two_sessions
    token = mine["access_token"]
    # The reader's timeout (1 s deployed) shortened below the proxy's hang: TIMEOUT_AFTER
    # is then ended by the reader's own timeout, as a silent DynamoDB would be.
    monkeypatch.setattr(session.checker.reader.dynamodb, "_timeout", 0.2)
    faults = dynamo_proxy
    faults.fail(kind, operation="GetItem")
    assert not session.allows(token)
    assert not session.rest_allows(token)
    # Bounded: at most two attempts per request (a transient failure is tried again on
    # a new connection, at once), then refused.
    attempts = 1 if kind in NOT_RETRIED else 2
    assert faults.sent == ["GetItem"] * (2 * attempts)

    lines = [r for r in caplog.records if r.name == "authorizer"]
    assert lines
    assert all(r.levelno == logging.ERROR for r in lines)
    logged = json.loads(lines[0].getMessage())
    assert logged["reason"] == "session_check_unavailable"
    # The error DynamoDB named; for the network's failures, the connection's own.
    causes = {TIMEOUT_BEFORE: "RemoteClosed", TIMEOUT_AFTER: "TimeoutError"}
    assert logged["cause"] == causes.get(kind, kind)
    assert "fail closed" in logged["detail"]
    output = caplog.text + "".join(capfd.readouterr())
    for secret in (token, mine["refresh_token"], *token.split(".")):
        assert secret not in output

    faults.reset()  # DynamoDB is back: nothing was cached, the next request passes
    assert session.allows(token)


def test_an_outage_after_the_lag_refuses_a_session_that_was_live(
    two_sessions, session, dynamo_proxy, clock
):
    mine, _ = two_sessions
    assert session.allows(mine["access_token"])
    faults = dynamo_proxy
    faults.fail("InternalServerError", operation="GetItem")
    assert session.allows(mine["access_token"])  # within the lag: the cache answers
    clock.advance(LAG)
    assert not session.allows(mine["access_token"])  # never a stale "live" past the lag


def test_a_reader_without_credentials_refuses_loudly(
    jwks_server, two_sessions, clock, monkeypatch, caplog, dynamo_proxy
):
    caplog.set_level(logging.INFO, logger="authorizer")
    container = Container("session", clock, monkeypatch, AWS_ENDPOINT_URL_DYNAMODB=dynamo_proxy.url)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assert not container.allows(two_sessions[0]["access_token"])
    logged = json.loads(caplog.records[-1].getMessage())
    assert caplog.records[-1].levelno == logging.ERROR
    assert (logged["reason"], logged["cause"]) == ("session_check_unavailable", "NoCredentials")
    assert dynamo_proxy.sent == []  # nothing unsigned ever leaves


# ------------------------------------------------------ the import graph
TABLE = "subprocess-sessions"
_CHILD = """
import json, logging, os, sys
logging.basicConfig(level=logging.INFO)  # denial reasons on stderr
def heavy():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "s3transfer"))
from functions.authorizer import app
imported = heavy()
http = json.load(open("events/authorizer.json"))
http["headers"]["authorization"] = "Bearer " + os.environ["TOKEN"]
answer = app.lambda_handler(http, None)
print(json.dumps({"answer": answer, "after_import": imported, "after_answer": heavy()}))
"""


def test_neither_mode_imports_an_aws_sdk():
    """The same token through a fresh process of each mode, its reads real HTTP to moto:
    no boto3, botocore or s3transfer at import or after the first answer. The session
    check signs its GetItem by hand; botocore and its first client would cost more than
    the rest of the cold start."""
    from moto.server import ThreadedMotoServer

    from infra import template

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    jwks = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    threading.Thread(target=jwks.serve_forever, daemon=True).start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        db = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        db.create_table(**template.table_definition("SessionsTable", TABLE))
        now = time.time()
        refresh_token = open_session(DynamoSessionStore(db, TABLE), now, "user-1")
        signer = LocalSigner.generate("k1")
        jwks.jwks = json.dumps(  # type: ignore[attr-defined]
            {"keys": [public_jwk(signer.public_key(), "k1", "ES256")]}
        ).encode()
        token = forge(
            signer,
            claims(iss=ISSUER, iat=int(now), exp=int(now) + 900, sid=refresh_token.split(".")[0]),
        )
        base = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
            "JWKS_URL": f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json",
            # The feed is on (the default): its first poll (a 404 here) needs no boto3 either.
            "REVOCATION_FEED_URL": f"http://127.0.0.1:{jwks.server_address[1]}",
            "ISSUER": ISSUER,
            "TOKEN": token,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # Lambda sets both; botocore reads this one
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        modes = {
            "stateless": base,
            "session": {**base, "AUTHORIZER_MODE": "session", "SESSIONS_TABLE": TABLE},
        }
        results = {}
        for mode, env in modes.items():
            done = subprocess.run(
                [sys.executable, "-c", _CHILD],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            results[mode] = {**json.loads(done.stdout), "log": done.stderr}
    finally:
        jwks.shutdown()
        server.stop()
    for mode, result in results.items():
        assert result["answer"]["isAuthorized"] is True, result["log"]
        assert result["after_import"] == [], mode
        assert result["after_answer"] == [], mode


def test_both_modes_hand_the_routes_the_same_context(two_sessions, session, stateless):
    """A route can move from one authorizer to the other without changing its code."""
    token = two_sessions[0]["access_token"]
    assert session.http(token)["context"] == stateless.http(token)["context"]


# ------------------------------------------------------ the revocation feed (contract §10)
class FeedObjects:
    """What the test server serves under /revocations/: the bucket's objects, or an
    outage (every request fails) while ``down``."""

    def __init__(self, store: S3FeedStore) -> None:
        self._store = store
        self.down = False

    def get(self, key: str) -> bytes | None:
        if self.down:
            raise ConnectionError("feed down")
        found = self._store.read(key)
        return found[0] if found else None


@pytest.fixture
def feed(stack, jwks_server, monkeypatch):
    """The publisher function behind the template's stream mapping (its filters
    included), writing to a moto bucket that the test server serves to the authorizer."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="feed")
    revocation.reset()
    objects = FeedObjects(S3FeedStore(s3, "feed"))
    jwks_server.feed = objects
    [mapping] = streams.mappings()
    assert mapping["table"] == "SessionsTable"
    assert mapping["function"] == "RevocationFeedFunction"
    delivered: list[dict] = []

    def deliver(event: dict) -> None:
        delivered.append(event)
        # The publisher's own environment (its settings are read once, at its cold start).
        with monkeypatch.context() as patch:
            patch.setenv("REVOCATION_FEED_BUCKET", "feed")
            feed_publisher.lambda_handler(event, LambdaContext())

    pump = streams.StreamPump(
        stack.dynamodb,
        boto3.client("dynamodbstreams"),
        stack.sessions_table,
        deliver,
        filters=mapping["filters"],
    )
    pump.objects = objects  # type: ignore[attr-defined]
    pump.batches = delivered  # type: ignore[attr-defined]
    yield pump
    revocation.reset()


@pytest.fixture
def fed(jwks_server, clock, monkeypatch):
    url = f"http://127.0.0.1:{jwks_server.server_address[1]}"
    return Container(
        "stateless", clock, monkeypatch, REVOCATION_POLL_SECONDS=str(POLL), REVOCATION_FEED_URL=url
    )


class TestTheRevocationFeed:
    @pytest.fixture
    def clock(self, stack, monkeypatch):
        """Near the real time: the admin command line (a disabled user, a new password)
        revokes on the real clock, and the feed's entries live from that moment."""
        monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
        signing.reset()
        clock = FrozenClock(float(int(time.time())))
        signing.use_clock(clock)
        return clock

    @pytest.mark.parametrize("how", sorted(REVOCATIONS))
    def test_every_revocation_reaches_the_fed_authorizer_within_the_poll_interval(
        self, how, two_sessions, feed, fed, stateless, stack, clock, caplog
    ):
        caplog.set_level(logging.INFO, logger="authorizer")
        mine, other = two_sessions
        for token in (mine["access_token"], other["access_token"]):
            assert fed.allows(token)  # the first poll: nothing published yet
        victims, bystanders = REVOCATIONS[how](mine, other, stack)
        assert feed.pump() >= 1  # the stream carried the revocation to the publisher

        # The documented lag: a container answers from its last poll for POLL seconds.
        clock.advance(POLL - MS)
        for token in victims:
            assert fed.allows(token), how
        clock.advance(MS)
        for token in victims:
            assert not fed.allows(token), how
            assert not fed.rest_allows(token), how
            assert stateless.allows(token), how  # without the feed: valid until exp
        for token in bystanders:
            assert fed.allows(token), how
        assert any('"reason": "session_revoked"' in r.getMessage() for r in caplog.records)

    def test_a_session_deleted_from_another_device_reaches_the_fed_authorizer(
        self, two_sessions, feed, fed, clock
    ):
        mine, other = two_sessions
        assert fed.allows(mine["access_token"])
        event = delete_event(mine["refresh_token"].split(".")[0])
        deleted = behind(fed, sessions, event, other["access_token"])
        assert deleted is not None
        assert deleted.status == 204
        assert feed.pump() == 1
        clock.advance(POLL)
        assert not fed.allows(mine["access_token"])
        assert fed.allows(other["access_token"])

    def test_logins_and_refreshes_never_reach_the_publisher(self, two_sessions, feed):
        mine, _ = two_sessions
        rotated = invoke(
            refresh, with_body("refresh.json", {"refresh_token": mine["refresh_token"]})
        )
        assert rotated.status == 200
        assert feed.pump() == 0  # the template's filters keep INSERTs and rotations out
        assert feed.batches == []
        assert feed.objects.get(SNAPSHOT_KEY) is None

    def test_the_feed_holds_session_ids_and_expiry_times_only(self, two_sessions, feed):
        mine, other = two_sessions
        _logout(mine, other, None)
        feed.pump()
        published = feed.objects.get(SNAPSHOT_KEY) + feed.objects.get(DELTA_KEY)
        sid = mine["refresh_token"].split(".")[0]
        assert sid.encode() in published
        for secret in (mine["refresh_token"], mine["access_token"], other["refresh_token"]):
            assert secret.encode() not in published
            assert secret.split(".")[-1].encode() not in published
        assert b"sam" not in published  # no username, no user id
        assert b"user_id" not in published

    def test_a_stale_feed_refuses_session_tokens_and_says_so(
        self, two_sessions, feed, fed, clock, caplog
    ):
        caplog.set_level(logging.INFO, logger="authorizer")
        mine, _ = two_sessions
        start = clock.now
        assert fed.allows(mine["access_token"])
        feed.objects.down = True
        # Each poll fails; the last good one still vouches until STALE_AFTER_POLLS intervals.
        while clock.now + RETRY_SECONDS <= start + STALE_AFTER_POLLS * POLL:
            clock.advance(RETRY_SECONDS)
            assert fed.allows(mine["access_token"])
        clock.now = start + STALE_AFTER_POLLS * POLL + MS
        assert not fed.allows(mine["access_token"])
        assert not fed.rest_allows(mine["access_token"])
        stale = [r for r in caplog.records if '"reason": "revocation_feed_stale"' in r.getMessage()]
        assert stale
        assert all(r.levelno == logging.ERROR for r in stale)
        feed.objects.down = False
        clock.advance(RETRY_SECONDS)
        assert fed.allows(mine["access_token"])  # the first good poll vouches again
