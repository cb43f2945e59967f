import pytest

from authcore.accounts.lockout import Failures, LockoutPolicy, unknown_account_key
from authcore.accounts.users import canonical_username
from authcore.config import Settings
from authcore.errors import ConfigError

POLICY = LockoutPolicy()
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [
        (0, 0),
        (1, 0),
        (4, 0),
        (5, 60),
        (6, 120),
        (7, 240),
        (8, 480),
        (9, 900),
        (10, 900),
        (500, 900),
    ],
)
def test_back_off_starts_at_a_minute_after_five_and_doubles_to_fifteen(failures, seconds):
    assert POLICY.lock_seconds(failures) == seconds


def test_retry_after_counts_down_from_the_last_failure():
    failures = Failures(count=5, last_at=NOW)
    assert failures.retry_after(POLICY, NOW) == 60
    assert failures.retry_after(POLICY, NOW + 0.5) == 60
    assert failures.retry_after(POLICY, NOW + 59.2) == 1
    assert failures.retry_after(POLICY, NOW + 60) == 0
    assert Failures(count=4, last_at=NOW).retry_after(POLICY, NOW) == 0


def test_a_last_failure_in_the_future_never_locks_longer_than_the_lock():
    # Another container's clock may run ahead of this one.
    assert Failures(count=5, last_at=NOW + 3600).retry_after(POLICY, NOW) == 60


def test_failures_are_forgotten_a_day_after_the_last():
    failures = Failures(count=9, last_at=NOW)
    assert failures.current(POLICY, NOW + 86_399) == 9
    assert failures.current(POLICY, NOW + 86_400) == 0
    assert failures.is_stale(POLICY, NOW + 86_400)
    assert not Failures().is_stale(POLICY, NOW)
    assert failures.retry_after(POLICY, NOW + 86_400) == 0


def test_a_counter_item_outlives_every_lock_it_can_cause():
    assert POLICY.item_lifetime() >= POLICY.forget_after_seconds + POLICY.max_seconds


def test_unknown_account_keys_are_keyed_digests_that_never_collide_with_a_user():
    key = unknown_account_key("correct-horse-battery-staple", b"k" * 32)
    assert key.startswith("#failures#")
    assert len(key) == len("#failures#") + 32
    assert "correct" not in key
    assert key == unknown_account_key("correct-horse-battery-staple", b"k" * 32)
    assert key != unknown_account_key("correct-horse-battery-staple", b"j" * 32)
    assert key != unknown_account_key("correct-horse-battery-stapler", b"k" * 32)
    assert unknown_account_key("sam", None) != unknown_account_key("sam", b"k" * 32)
    with pytest.raises(Exception, match="not allowed"):
        canonical_username(key)


def test_lockout_key_is_read_and_must_be_long_enough():
    assert Settings.from_env({}).lockout_key is None
    assert Settings.from_env({"LOCKOUT_KEY": "k" * 16}).lockout_key == "k" * 16
    assert "k" * 16 not in repr(Settings.from_env({"LOCKOUT_KEY": "k" * 16}))
    with pytest.raises(ConfigError, match="LOCKOUT_KEY"):
        Settings.from_env({"LOCKOUT_KEY": "short"})
