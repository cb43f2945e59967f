"""An access token never outlives its session: exp = min(now + access lifetime, session end).

On a frozen clock, at login (a session shorter than the access lifetime) and at a
refresh close to the session's absolute expiry, which no rotation extends.
"""

from __future__ import annotations

import json

import session_checks as checks
from support import DEMO_PASSWORD, invoke, with_body

from authcore import b64
from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.edge.credentials import ACCESS_COOKIE
from authcore.keys.signers import LocalSigner
from authcore.runtime import signing
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.sessions.service import SessionService
from authcore.tokens.issue import TokenIssuer
from functions.login import app as login

T0 = 1_800_000_000.0
ACCESS_TTL = 900
TTL, IDLE = 1000, 300


def claims(access_token: str) -> dict:
    return json.loads(b64.decode(access_token.split(".")[1]))


def test_refresh_near_the_absolute_expiry_caps_the_access_token_at_the_session_end(stack):
    clock = FrozenClock(T0)
    settings = Settings(access_ttl=ACCESS_TTL, session_ttl=TTL, session_idle_ttl=IDLE)
    store = DynamoSessionStore(stack.dynamodb, stack.sessions_table)
    service = SessionService(
        settings,
        sessions=store,
        issuer=TokenIssuer(settings, LocalSigner.generate()),
        clock=clock,
    )
    token = checks.open_session(store, clock(), ttl=TTL, idle=IDLE)
    for _ in range(3):  # T0+290, +580, +870: the session stays live on refreshes
        clock.advance(290)
        issued = service.refresh(token, issuer="https://issuer.example")
        token = str(issued.refresh_token)
    # At T0+870 the idle expiry (T0+1170) is capped by the absolute one (T0+1000).
    at = claims(issued.access_token)
    assert at["iat"] == int(T0 + 870)
    assert at["exp"] == int(T0 + TTL), "the access token outlives the session"
    assert issued.expires_in == TTL - 870
    assert issued.refresh_expires_in == TTL - 870


def test_an_early_refresh_keeps_the_full_access_lifetime(stack):
    clock = FrozenClock(T0)
    settings = Settings(access_ttl=ACCESS_TTL, session_ttl=100_000, session_idle_ttl=50_000)
    store = DynamoSessionStore(stack.dynamodb, stack.sessions_table)
    service = SessionService(
        settings, sessions=store, issuer=TokenIssuer(settings, LocalSigner.generate()), clock=clock
    )
    token = checks.open_session(store, clock(), ttl=100_000, idle=50_000)
    clock.advance(10)
    issued = service.refresh(token, issuer="https://issuer.example")
    at = claims(issued.access_token)
    assert at["exp"] - at["iat"] == ACCESS_TTL
    assert issued.expires_in == ACCESS_TTL


def test_login_with_a_session_shorter_than_the_access_lifetime(demo_user, monkeypatch):
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "3600")
    monkeypatch.setenv("SESSION_TTL_SECONDS", "600")
    signing.reset()
    signing.use_clock(FrozenClock(T0 + 0.75))
    credentials = {"username": "sam", "password": DEMO_PASSWORD}
    body = invoke(login, with_body("login.json", {**credentials, "delivery": "body"})).body
    at = claims(body["access_token"])
    assert at["iat"] == int(T0)
    assert at["exp"] == int(T0 + 600), "the access token outlives the session"
    assert body["expires_in"] == 600
    cookies = invoke(login, with_body("login.json", {**credentials, "delivery": "cookie"}))
    assert "Max-Age=600" in cookies.cookie(ACCESS_COOKIE)
