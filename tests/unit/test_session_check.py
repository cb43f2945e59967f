"""The session check, pure: the cache's lag and its bounds, on a frozen clock with a
fake reader that counts its reads. (Through the handler and DynamoDB: the
functional tests in test_session_checked_authorizer.py.)"""

from __future__ import annotations

import pytest

from authcore.clock import FrozenClock
from authcore.config import Settings
from authcore.errors import ConfigError, InvalidToken, NoUserSession, SessionCheckUnavailable
from authcore.sessions.check import (
    SessionCache,
    SessionChecker,
    SessionStatus,
    status_from_item,
)

T0 = 1_800_000_000.0
LAG = 5
LEEWAY = 60
MS = 0.001
USER = "user-1"


class FakeReader:
    """sid -> SessionStatus (None: no item), and a count of reads; ``failing``
    makes every read fail as DynamoDB would; ``during_read`` runs inside a read."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.sessions: dict[str, SessionStatus | None] = {}
        self.reads = 0
        self.failing = False
        self.during_read = None

    def live(self, sid: str, expires_in: float = 3600) -> None:
        self.sessions[sid] = SessionStatus(USER, False, self.clock() + expires_in)

    def revoke(self, sid: str) -> None:
        current = self.sessions[sid]
        assert current is not None
        self.sessions[sid] = SessionStatus(current.user_id, True, current.expires_at)

    def status(self, sid: str) -> SessionStatus | None:
        self.reads += 1
        if self.during_read is not None:
            self.during_read()
        if self.failing:
            raise SessionCheckUnavailable("ThrottlingException")
        return self.sessions.get(sid)


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def reader(clock):
    reader = FakeReader(clock)
    reader.live("s1")
    return reader


@pytest.fixture
def checker(reader, clock):
    return SessionChecker(reader, max_lag=LAG, leeway=LEEWAY, clock=clock)


def claims(sid="s1", sub=USER, exp=T0 + 900):
    return {"sid": sid, "sub": sub, "exp": exp}


def refused(checker, token_claims=None):
    with pytest.raises(InvalidToken) as caught:
        checker.check(token_claims or claims())
    return caught.value.reason


def test_a_machine_clients_token_has_no_session_to_check_and_is_refused_without_a_read(
    checker, reader
):
    """Contract §9: session routes refuse a client's token (403); there is nothing to read."""
    with pytest.raises(NoUserSession):
        checker.check({"sub": "reporting-client", "client_id": "reporting-client", "exp": T0})
    assert reader.reads == 0


# ---------------------------------------------------------------- the lag
def test_a_live_session_is_read_once_per_lag(checker, reader, clock):
    checker.check(claims())
    clock.advance(LAG - MS)
    checker.check(claims())
    assert reader.reads == 1
    clock.advance(MS)  # the cached answer has lived LAG seconds: ask again
    checker.check(claims())
    assert reader.reads == 2


def test_a_revocation_is_seen_exactly_when_the_lag_has_passed(checker, reader, clock):
    checker.check(claims())  # "live" cached at T0
    reader.revoke("s1")  # the logout lands right after
    clock.advance(LAG - MS)
    checker.check(claims())  # still within the documented lag
    clock.advance(MS)
    assert refused(checker) == "session_revoked"


def test_with_no_lag_every_check_reads(reader, clock):
    checker = SessionChecker(reader, max_lag=0, clock=clock)
    for _ in range(3):
        checker.check(claims())
    assert reader.reads == 3
    reader.revoke("s1")
    assert refused(checker) == "session_revoked"  # at once, same instant


def test_a_slow_read_does_not_stretch_the_lag(checker, reader, clock):
    """The clock is read before the session is: a read that takes 3 s (retries, a
    sick network) and returned "live" from before a revocation must not earn a
    full LAG from its end."""
    reader.during_read = lambda: clock.advance(3)
    checker.check(claims())  # sent at T0, answered at T0 + 3
    reader.during_read = None
    reader.revoke("s1")
    clock.now = T0 + LAG
    assert refused(checker) == "session_revoked"


def test_live_is_never_trusted_past_the_sessions_own_expiry(reader, checker, clock):
    reader.live("s1", expires_in=2)
    checker.check(claims())
    clock.advance(2 - MS)
    checker.check(claims())
    assert reader.reads == 1
    clock.advance(MS)
    assert refused(checker) == "session_expired"
    assert reader.reads == 2


# ---------------------------------------------------------------- refusals
def test_refused_is_remembered_until_the_token_can_no_longer_verify(checker, reader, clock):
    reader.revoke("s1")
    assert refused(checker) == "session_revoked"
    clock.now = T0 + 900 + LEEWAY - MS  # the verifier would still accept the token
    assert refused(checker) == "session_revoked"
    assert reader.reads == 1  # a revoked token hammering the API costs no reads
    clock.advance(MS)
    assert checker.cache.get("s1", clock()) is None  # bounded by the token's life
    assert "s1" not in checker.cache


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (None, "session_unknown"),
        (SessionStatus(USER, True, T0 + 3600), "session_revoked"),
        (SessionStatus(USER, False, T0), "session_expired"),
        (SessionStatus(USER, False, T0 - 1), "session_expired"),
        (SessionStatus("someone-else", False, T0 + 3600), "session_mismatch"),
    ],
)
def test_every_kind_of_dead_session_is_refused(checker, reader, status, reason):
    reader.sessions["s1"] = status
    assert refused(checker) == reason


def test_a_failed_read_refuses_and_is_never_cached(checker, reader, clock):
    reader.failing = True
    with pytest.raises(SessionCheckUnavailable) as caught:
        checker.check(claims())
    assert caught.value.cause == "ThrottlingException"
    assert len(checker.cache) == 0
    reader.failing = False
    checker.check(claims())  # recovered: the next request reads and passes
    assert reader.reads == 2


def test_a_failure_after_the_lag_refuses_although_the_session_was_live(checker, reader, clock):
    checker.check(claims())
    clock.advance(LAG)
    reader.failing = True
    with pytest.raises(SessionCheckUnavailable):
        checker.check(claims())  # no stale "live" past the lag, outage or not


# ---------------------------------------------------------------- the cache
def test_the_cache_is_bounded_and_evicts_the_oldest(reader, clock):
    checker = SessionChecker(reader, max_lag=LAG, clock=clock, cache=SessionCache(max_entries=3))
    for n in range(5):
        reader.live(f"s{n}")
        checker.check(claims(f"s{n}"))
    assert len(checker.cache) == 3
    assert "s0" not in checker.cache
    assert "s4" in checker.cache
    checker.check(claims("s0"))  # evicted: one more read, never a wrong answer
    assert reader.reads == 6


def test_clearing_the_cache_forces_a_read(checker, reader):
    checker.check(claims())
    checker.cache.clear()
    checker.check(claims())
    assert reader.reads == 2


# ---------------------------------------------------------------- items
def test_an_item_reads_as_its_earlier_expiry_and_its_revocation():
    item = {
        "user_id": {"S": USER},
        "idle_expires_at": {"N": "2000.000"},
        "absolute_expires_at": {"N": "1500.000"},
    }
    assert status_from_item(item) == SessionStatus(USER, False, 1500.0)
    item["revoked_at"] = {"N": "1000.000"}
    assert status_from_item(item).revoked is True


@pytest.mark.parametrize(
    "item",
    [
        {"user_id": {"S": USER}},
        {"user_id": {"S": USER}, "idle_expires_at": {"N": "x"}, "absolute_expires_at": {"N": "9"}},
        {"idle_expires_at": {"N": "9e12"}, "absolute_expires_at": {"N": "9e12"}},
    ],
)
def test_a_malformed_item_never_authorizes(item, clock, reader):
    reader.sessions["s1"] = status_from_item(item)
    checker = SessionChecker(reader, max_lag=LAG, clock=clock)
    with pytest.raises(InvalidToken):
        checker.check(claims())


@pytest.mark.parametrize(
    ("cause", "logged"),
    [
        ("ThrottlingException", "ThrottlingException"),
        ("ReadTimeoutError", "ReadTimeoutError"),
        ("eyJhbGciOi.eyJzdWIi.c2ln with spaces", "error"),
        ("x" * 65, "error"),
    ],
)
def test_the_cause_of_an_outage_is_safe_to_log(cause, logged):
    assert SessionCheckUnavailable(cause).cause == logged


# ---------------------------------------------------------------- configuration
def test_the_mode_defaults_to_stateless_with_a_five_second_lag():
    settings = Settings.from_env({})
    assert (settings.authorizer_mode, settings.revocation_max_lag) == ("stateless", 5)


def test_session_mode_and_its_lag_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "AUTHORIZER_MODE": "session",
            "SESSIONS_TABLE": "sessions",
            "REVOCATION_MAX_LAG_SECONDS": "0",
        }
    )
    assert (settings.authorizer_mode, settings.revocation_max_lag) == ("session", 0)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTHORIZER_MODE": "sessions", "SESSIONS_TABLE": "t"}, "AUTHORIZER_MODE"),
        ({"AUTHORIZER_MODE": "Session", "SESSIONS_TABLE": "t"}, "AUTHORIZER_MODE"),
        ({"AUTHORIZER_MODE": "session"}, "SESSIONS_TABLE"),
        ({"REVOCATION_MAX_LAG_SECONDS": "-1"}, "REVOCATION_MAX_LAG_SECONDS"),
        ({"REVOCATION_MAX_LAG_SECONDS": "3601"}, "REVOCATION_MAX_LAG_SECONDS"),
        ({"REVOCATION_MAX_LAG_SECONDS": "soon"}, "REVOCATION_MAX_LAG_SECONDS"),
    ],
)
def test_a_bad_mode_or_lag_fails_the_cold_start(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_a_cached_answer_counts_only_for_the_sessions_own_user(checker, reader):
    """A token naming someone else's sid (only a forged one could) gets no answer
    cached for the real owner, and cannot ride on the owner's cached "live"."""
    checker.check(claims())  # the owner's "live", cached
    assert refused(checker, claims(sub="intruder")) == "session_mismatch"
    assert reader.reads == 2  # the owner's entry did not answer for the intruder
    checker.check(claims())  # and the owner is unaffected
    assert reader.reads == 2
    reader.revoke("s1")
    checker.cache.clear()
    assert refused(checker, claims(sub="intruder")) == "session_mismatch"
    assert "s1" not in checker.cache  # nothing cached under the owner's sid
