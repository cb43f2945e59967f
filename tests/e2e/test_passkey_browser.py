"""Passkeys in a real browser (contract §8): the demo page registers a passkey with Chromium's
virtual authenticator (a platform authenticator that holds discoverable credentials and
verifies its user, driven through WebDriver's WebAuthn extension), and signs in with it,
without a password and without a username, against the local stack (RP ID localhost).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

from tests.e2e.chromium import Browser, running
from tests.e2e.conftest import USERS, LocalStack
from tests.e2e.test_browser import ACCESS_COOKIE, log_in_as, open_demo, outcome

pytestmark = pytest.mark.e2e

USER = USERS["passkey-holder"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with running(tmp_path_factory, "passkeys") as started:
        yield started


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_the_demo_page_registers_a_passkey_and_signs_in_with_it(
    browser: Browser, local_stack: LocalStack
):
    browser.driver.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol="ctap2",
            transport="internal",
            has_resident_key=True,
            has_user_verification=True,
            is_user_verified=True,
        )
    )
    try:
        log_in_as(browser, local_stack, USER)
        browser.element("passkey-name").send_keys("Virtual authenticator")
        browser.click("passkey-register")
        status, body = outcome(browser, "passkey-register")
        assert status == 201, body
        assert body["name"] == "Virtual authenticator"
        (stored,) = browser.driver.get_credentials()
        assert stored.is_resident_credential
        assert stored.user_handle  # the user's id, for usernameless sign-in

        browser.click("logout")
        assert outcome(browser, "logout")[0] == 204
        assert ACCESS_COOKIE not in browser.cookies()

        # No username, no password: the device offers the passkey it holds for localhost.
        open_demo(browser, local_stack)
        assert browser.element("state").get_attribute("data-signed-in") == "false"
        browser.click("passkey-login")
        status, body = outcome(browser, "passkey-login")
        assert status == 200, body
        assert set(body) == {"token_type", "expires_in", "refresh_expires_in"}, body
        access = claims(browser.cookies()[ACCESS_COOKIE]["value"])
        assert access["username"] == USER["username"]
        assert access["amr"] == ["hwk", "user", "mfa"]
        browser.click("me")
        status, me = outcome(browser, "me")
        assert (status, me["user"]) == (200, USER["username"]), me
        # The signature counter moved (the virtual authenticator counts).
        assert browser.driver.get_credentials()[0].sign_count >= 1
    finally:
        browser.driver.remove_virtual_authenticator()
