"""Device cookies (issue 14, item 5): signed, bound to one account, expiring."""

import pytest

from authcore import b64
from authcore.accounts.devices import DEVICE_COOKIE_TTL_SECONDS, DeviceCookies
from authcore.config import Settings
from authcore.errors import ConfigError

NOW = 1_800_000_000.0
KEY = b"k" * 32


def test_a_cookie_is_trusted_for_its_account_only_and_until_it_expires():
    devices = DeviceCookies(KEY)
    cookie = devices.issue("user-1", NOW)
    assert devices.is_trusted(cookie, "user-1", NOW)
    assert devices.is_trusted(cookie, "user-1", NOW + DEVICE_COOKIE_TTL_SECONDS - 1)
    assert not devices.is_trusted(cookie, "user-1", NOW + DEVICE_COOKIE_TTL_SECONDS)
    assert not devices.is_trusted(cookie, "user-2", NOW)
    assert not devices.is_trusted(cookie, None, NOW)  # an unknown username


def test_a_cookie_names_neither_the_account_nor_the_key():
    cookie = DeviceCookies(KEY).issue("user-1", NOW)
    assert "user-1" not in cookie
    assert KEY.decode() not in cookie


def test_another_key_tampering_or_an_extended_expiry_is_untrusted():
    devices = DeviceCookies(KEY)
    cookie = devices.issue("user-1", NOW)
    assert not DeviceCookies(b"x" * 32).is_trusted(cookie, "user-1", NOW)
    version, nonce, expires, mac = cookie.split(".")
    later = f"{version}.{nonce}.{int(expires) + 86_400}.{mac}"
    assert not devices.is_trusted(later, "user-1", NOW)
    flipped = b64.encode(bytes([b64.decode(mac)[0] ^ 1]) + b64.decode(mac)[1:])
    assert not devices.is_trusted(f"{version}.{nonce}.{expires}.{flipped}", "user-1", NOW)
    other_nonce = devices.issue("user-1", NOW).split(".")[1]
    assert not devices.is_trusted(f"{version}.{other_nonce}.{expires}.{mac}", "user-1", NOW)


def test_a_cookie_claiming_more_than_the_lifetime_is_untrusted():
    # Issued by a key holder with a longer lifetime configured, or forged: not ours.
    long_lived = DeviceCookies(KEY, ttl=10 * DEVICE_COOKIE_TTL_SECONDS).issue("user-1", NOW)
    assert not DeviceCookies(KEY).is_trusted(long_lived, "user-1", NOW)


@pytest.mark.parametrize(
    "value",
    [None, "", "v1", "v2.AAAAAAAAAAAAAAAAAAAAAA.1800000000." + "A" * 43, "x" * 5000, "v1...."],
)
def test_malformed_cookies_are_simply_untrusted(value):
    devices = DeviceCookies(KEY)
    assert devices.nonce_of(value) is None
    assert not devices.is_trusted(value, "user-1", NOW)


def test_the_counter_key_is_a_keyed_digest_of_the_nonce():
    devices = DeviceCookies(KEY)
    nonce = DeviceCookies.nonce_of(devices.issue("user-1", NOW))
    assert nonce is not None
    key = devices.counter_key(nonce)
    assert key.startswith("#device#")
    assert nonce not in key
    assert key != DeviceCookies(b"x" * 32).counter_key(nonce)


def test_the_key_is_read_and_must_be_long_enough():
    assert Settings.from_env({}).device_cookie_key is None
    assert Settings.from_env({"DEVICE_COOKIE_KEY": "k" * 32}).device_cookie_key == "k" * 32
    assert "k" * 32 not in repr(Settings.from_env({"DEVICE_COOKIE_KEY": "k" * 32}))
    with pytest.raises(ConfigError, match="DEVICE_COOKIE_KEY"):
        Settings.from_env({"DEVICE_COOKIE_KEY": "k" * 31})
