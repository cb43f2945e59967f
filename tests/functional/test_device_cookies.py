"""Issue 14, item 5: the lockout must not be a weapon against the account's owner.

Five guesses an hour with the username in upper case used to keep any account
locked. A device that has logged in to the account before carries a signed device
cookie and is charged to a counter of its own: failures from elsewhere do not lock
it out, while untrusted clients stay locked. Driven through the login handler over
moto; time passes by moving stored failures into the past.
"""

from __future__ import annotations

import time

import pytest
from support import DEMO_PASSWORD, invoke, with_body

from authcore.accounts.devices import DEVICE_COOKIE, DEVICE_COOKIE_TTL_SECONDS
from authcore.runtime import signing
from functions.login import app as login

WRONG = "wrong-password-123"
KEY = "device-cookie-key-for-tests-0123456789"


@pytest.fixture
def devices_on(stack, monkeypatch):
    monkeypatch.setenv("DEVICE_COOKIE_KEY", KEY)
    signing.reset()


def post_login(username="sam", password=WRONG, device=None, delivery="cookie"):
    body = {"username": username, "password": password, "delivery": delivery}
    cookies = [f"{DEVICE_COOKIE}={device}"] if device else []
    return invoke(login, with_body("login.json", body, cookies=cookies))


def device_of(answer):
    (cookie,) = [c for c in answer.cookies if c.startswith(DEVICE_COOKIE + "=")]
    return cookie.split(";")[0].partition("=")[2]


def lock_out(username="SAM"):
    """The attacker: five wrong guesses from an untrusted client, name in upper case."""
    assert [post_login(username).status for _ in range(5)] == [401] * 5


def test_an_attacker_cannot_lock_the_owner_out_of_a_trusted_device(demo_user, devices_on):
    device = device_of(post_login(password=DEMO_PASSWORD))
    lock_out()
    assert post_login(password=DEMO_PASSWORD).status == 429  # untrusted: locked
    answer = post_login(password=DEMO_PASSWORD, device=device)
    assert answer.status == 200
    # The attacker stays locked out: the owner's success reset only the device's count.
    assert post_login("Sam", WRONG).status == 429


def test_failures_from_a_trusted_device_lock_that_device_only(stack, demo_user, devices_on):
    device = device_of(post_login(password=DEMO_PASSWORD))
    other = device_of(post_login(password=DEMO_PASSWORD))
    assert [post_login(device=device).status for _ in range(5)] == [401] * 5
    answer = post_login(password=DEMO_PASSWORD, device=device)
    assert (answer.status, answer.headers["Retry-After"]) == (429, "60")
    assert post_login(password=DEMO_PASSWORD, device=other).status == 200
    assert post_login(password=DEMO_PASSWORD).status == 200  # the account's count is untouched


def test_a_success_from_a_device_resets_its_count(demo_user, devices_on):
    device = device_of(post_login(password=DEMO_PASSWORD))
    for _ in range(3):
        assert [post_login(device=device).status for _ in range(4)] == [401] * 4
        answer = post_login(password=DEMO_PASSWORD, device=device)
        assert answer.status == 200
        device = device_of(answer)


def test_a_password_change_untrusts_every_device(stack, demo_user, devices_on):
    """Cookies collected while the old password was known (the reason for a reset) must not
    each keep a guess budget of their own against the new password."""
    collected = [device_of(post_login(password=DEMO_PASSWORD)) for _ in range(3)]
    stack.admin.set_password("sam", "a-new-password-456")
    lock_out()
    for device in collected:
        assert post_login(device=device).status == 429
    assert post_login(password="a-new-password-456", device=collected[0]).status == 429


def test_a_device_cookie_of_another_account_is_untrusted(stack, demo_user, devices_on):
    stack.admin.create_user("dora", "dora-password-123")
    sams = device_of(post_login(password=DEMO_PASSWORD))
    lock_out("DORA")
    assert post_login("dora", "dora-password-123", device=sams).status == 429


@pytest.mark.parametrize("tamper", ["forged", "expired", "garbage"])
def test_forged_expired_or_garbage_cookies_are_untrusted(demo_user, devices_on, stack, tamper):
    device = device_of(post_login(password=DEMO_PASSWORD))
    if tamper == "forged":
        version, nonce, expires, mac = device.split(".")
        device = f"{version}.{nonce}.{int(expires) + 1}.{mac}"
    elif tamper == "expired":
        signing.use_clock(lambda: time.time() + DEVICE_COOKIE_TTL_SECONDS + 1)
    else:
        device = "not-a-device-cookie"
    lock_out()
    answer = post_login(password=DEMO_PASSWORD, device=device)
    assert answer.status == 429
    assert answer.cookies == []


def test_the_cookie_is_set_only_on_success_with_host_prefix_attributes(demo_user, devices_on):
    assert post_login().cookies == []
    # Contract §2: body delivery carries no Set-Cookie at all.
    assert post_login(password=DEMO_PASSWORD, delivery="body").cookies == []
    for delivery in ("cookie",):
        answer = post_login(password=DEMO_PASSWORD, delivery=delivery)
        (cookie,) = [c for c in answer.cookies if c.startswith(DEVICE_COOKIE + "=")]
        attributes = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
        assert {"Path", "Secure", "HttpOnly", "SameSite", "Max-Age"} <= attributes
        assert "Domain" not in attributes
        assert "Path=/;" in cookie + ";"
        assert "SameSite=Strict" in cookie
        assert f"Max-Age={DEVICE_COOKIE_TTL_SECONDS}" in cookie
    lock_out()
    assert post_login(password=DEMO_PASSWORD).cookies == []


def test_known_and_unknown_usernames_answer_alike_with_a_foreign_device_cookie(
    stack, demo_user, devices_on
):
    # An attacker holding some device cookie (here one of dora's) learns nothing
    # about which usernames exist: both are charged to the untrusted counter.
    stack.admin.create_user("dora", "dora-password-123")
    doras = device_of(post_login("dora", "dora-password-123"))
    known = [post_login("sam", device=doras) for _ in range(6)]
    unknown = [post_login("nobody", device=doras) for _ in range(6)]
    assert [a.status for a in known] == [401] * 5 + [429]
    assert [(a.status, a.body, a.headers, a.cookies) for a in unknown] == [
        (a.status, a.body, a.headers, a.cookies) for a in known
    ]


def test_without_a_key_no_device_cookie_is_issued_or_honoured(demo_user, stack):
    answer = post_login(password=DEMO_PASSWORD)
    assert answer.status == 200
    assert not [c for c in answer.cookies if c.startswith(DEVICE_COOKIE)]
