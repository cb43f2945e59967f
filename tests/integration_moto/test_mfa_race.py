"""The second factor under concurrency, over real connections (moto in server mode,
every racer with its own clients, as separate Lambda containers would have):

- one TOTP code sent by many second steps at once (each with its own pending login)
  gives exactly one session: the time step is spent by a conditional write;
- one recovery code, likewise, exactly one;
- one pending login completed many times at once gives one session.
"""

from __future__ import annotations

import pyotp
import pytest
from support import DEMO_PASSWORD, race

from authcore.accounts.dynamo import DynamoUserStore
from authcore.accounts.login import LoginService
from authcore.accounts.passwords import Passwords
from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import MfaRequired
from authcore.mfa.dynamo import DynamoMfaStore
from authcore.mfa.sealing import KmsSealer
from authcore.mfa.service import Authenticated, MfaService
from authcore.sessions.dynamo import DynamoSessionStore
from authcore.tokens.issue import TokenIssuer

# As many as the second step's back-off lets through at once (its threshold): each
# attempt is counted before its code is checked, so more would meet a 429 instead.
RACERS = 5
ISSUER = "https://issuer.example"
T0 = 1_800_000_010.0
CLOCK = FrozenClock(T0)


def services(server):
    settings = Settings()
    dynamodb = server.client("dynamodb")
    users = DynamoUserStore(dynamodb, "users")
    store = DynamoMfaStore(dynamodb, "users")
    sessions = DynamoSessionStore(dynamodb, "sessions")
    issuer = TokenIssuer(settings, server.signer())
    login = LoginService(
        settings,
        users=users,
        passwords=Passwords(),
        sessions=sessions,
        issuer=issuer,
        clock=CLOCK,
        pending=store,
    )
    mfa = MfaService(
        settings,
        users=users,
        store=store,
        sealer=KmsSealer(server.client("kms"), settings.mfa_key_id),
        sessions=sessions,
        issuer=issuer,
        clock=CLOCK,
    )
    return login, mfa


def mfa_token(login: LoginService) -> str:
    with pytest.raises(MfaRequired) as required:
        login.login("sam", DEMO_PASSWORD, issuer=ISSUER)
    return required.value.mfa_token


@pytest.fixture
def enrolled(moto_server):
    server = moto_server.start()
    user = server.admin.create_user("sam", DEMO_PASSWORD, "profile")
    _, mfa = services(server)
    caller = Authenticated(user.user_id, "sam", frozenset({"pwd"}), T0)
    secret = mfa.start_totp(caller, issuer_name="test").secret
    # Confirmed with the previous step's code: the current step stays unspent.
    codes = mfa.confirm_totp(caller, pyotp.TOTP(secret).at(T0 - 30))
    return server, secret, codes


def sessions_made(results) -> int:
    assert all(r is not None and r[0] in ("ok", "refused") for r in results), results
    assert {r[1] for r in results if r[0] == "refused"} <= {"InvalidGrant"}, results
    return sum(1 for r in results if r[0] == "ok")


def test_one_code_sent_at_once_by_many_gives_one_session(enrolled):
    server, secret, _ = enrolled
    code = pyotp.TOTP(secret).at(T0)

    def prepare():
        login, mfa = services(server)
        return mfa, mfa_token(login)

    def act(prepared):
        mfa, token = prepared
        return mfa.complete_login(
            token, code=code, recovery_code=None, issuer=ISSUER, user_agent=""
        )

    assert sessions_made(race(prepare, act, RACERS)) == 1


def test_one_recovery_code_sent_at_once_by_many_gives_one_session(enrolled):
    server, _, codes = enrolled

    def prepare():
        login, mfa = services(server)
        return mfa, mfa_token(login)

    def act(prepared):
        mfa, token = prepared
        return mfa.complete_login(
            token, code=None, recovery_code=codes[0], issuer=ISSUER, user_agent=""
        )

    assert sessions_made(race(prepare, act, RACERS)) == 1


def test_one_pending_login_completed_at_once_gives_one_session(enrolled):
    server, _, codes = enrolled
    login, _ = services(server)
    token = mfa_token(login)

    def prepare():
        return services(server)[1]

    def act(mfa):
        # Each with a different recovery code: only the pending login is shared.
        index = id(mfa) % len(codes)
        return mfa.complete_login(
            token, code=None, recovery_code=codes[index], issuer=ISSUER, user_agent=""
        )

    assert sessions_made(race(prepare, act, RACERS)) == 1
