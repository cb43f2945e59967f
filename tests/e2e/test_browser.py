"""The browser flow in a real browser: Debian's Chromium, headless, driven by Selenium
through Debian's chromedriver (never a downloaded browser).

What a Python cookie jar cannot show, a browser does:

- the demo page (the reference for single-page apps, served at ``/``) logs in, reads
  ``/api/me``, refreshes, lists sessions and logs out, and at no step can its JavaScript
  reach a token: not in ``document.cookie``, Web Storage, IndexedDB, Cache Storage, the
  DOM, nor any answer a script could read;
- Chromium accepts the ``__Host-``/``__Secure-`` cookies from ``http://localhost`` and
  stores them with the contract's attributes (read through the DevTools protocol, which
  sees HttpOnly cookies);
- a page of another origin cannot use the visitor's cookies: from another port of the
  same host (same site: the browser sends the cookies, the API's Origin check refuses)
  and from another host (another site: SameSite keeps the cookies home, Sec-Fetch-Site
  says cross-site), every attempt is a 403 that consumes nothing.

Chromium missing is a failure, not a skip: ``.ci/run`` installs it. The driving and the
DevTools views live in ``chromium.py``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
import requests

from authcore.accounts.devices import DEVICE_COOKIE, DEVICE_COOKIE_TTL_SECONDS
from tests.e2e import totp_users
from tests.e2e.chromium import Browser, running
from tests.e2e.conftest import STACK_SETTINGS, USERS, LocalStack

pytestmark = pytest.mark.e2e

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"
# Set on every successful login, whatever the delivery: the device that logged in is trusted
# next time (docs/login-protection.md, "Device cookies"); the local stack generates its key.
ACCESS_TTL = int(STACK_SETTINGS["ACCESS_TOKEN_TTL_SECONDS"])
JWT = re.compile(r"eyJ[\w-]*\.eyJ[\w-]*\.[\w-]+")
USER = USERS["browser"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with running(tmp_path_factory, "profile") as started:
        yield started


# ------------------------------------------------------------------- the demo page
def open_demo(browser: Browser, stack: LocalStack, path: str = "/") -> None:
    browser.reset()
    browser.driver.get(f"{stack.base_url}{path}")
    state = browser.element("state")
    browser.wait(
        lambda _: state.get_attribute("data-signed-in") != "unknown", "the page's first check"
    )


def outcome(browser: Browser, action: str) -> tuple[int, Any]:
    result = browser.element("result")
    assert result.get_attribute("data-action") == action
    text = browser.element("body").text
    return int(result.get_attribute("data-status")), (
        None if text == "(no body)" else json.loads(text)
    )


def log_in(browser: Browser, stack: LocalStack) -> dict[str, Any]:
    return log_in_as(browser, stack, USER)


def log_in_as(browser: Browser, stack: LocalStack, user: dict[str, str]) -> dict[str, Any]:
    open_demo(browser, stack)
    browser.element("username").send_keys(user["username"])
    browser.element("password").send_keys(user["password"])
    browser.click("login")
    status, body = outcome(browser, "login")
    assert status == 200, body
    return dict(body)


def token_secrets(cookies: dict[str, dict[str, Any]]) -> set[str]:
    """What must never be readable by a script: the access token, and the refresh token
    and its secret part (its session id, before the dot, is listed by /auth/sessions)."""
    found = set()
    if ACCESS_COOKIE in cookies:
        found.add(cookies[ACCESS_COOKIE]["value"])
    if REFRESH_COOKIE in cookies:
        value = cookies[REFRESH_COOKIE]["value"]
        found |= {value, value.rpartition(".")[2]}
    return {s for s in found if len(s) >= 16}


def assert_no_token_within_reach_of_scripts(browser: Browser, secrets: set[str], step: str):
    view = browser.javascript_view()
    assert view["cookie"] == "", f"{step}: document.cookie = {view['cookie']!r}"
    assert view["localStorage"] == {}, f"{step}: localStorage holds {list(view['localStorage'])}"
    assert view["sessionStorage"] == {}, f"{step}: sessionStorage {list(view['sessionStorage'])}"
    assert view["indexedDB"] == [], f"{step}: IndexedDB databases {view['indexedDB']}"
    assert view["caches"] == [], f"{step}: Cache Storage {view['caches']}"
    everything = json.dumps(view)
    assert not JWT.search(everything), f"{step}: a JWT is within reach of scripts"
    leaked = [s[:8] + "…" for s in secrets if s in everything]
    assert not leaked, f"{step}: token material readable by scripts: {leaked}"


def assert_contract_cookies(cookies: dict[str, dict[str, Any]], refresh_expires_in: int):
    """Contract §4, as Chromium stored the cookies (it accepted the prefixes on
    http://localhost because it treats localhost as a secure context)."""
    assert set(cookies) == {ACCESS_COOKIE, REFRESH_COOKIE, DEVICE_COOKIE}, sorted(cookies)
    now = time.time()
    expected = {
        ACCESS_COOKIE: ("/", "Lax", ACCESS_TTL),
        REFRESH_COOKIE: ("/auth", "Strict", refresh_expires_in),
    }
    if "expires" in cookies[DEVICE_COOKIE]:
        # Set at login only; a refresh leaves it as it was.
        assert cookies[DEVICE_COOKIE]["expires"] - now > DEVICE_COOKIE_TTL_SECONDS - 3600
    for name, (path, same_site, max_age) in expected.items():
        cookie = cookies[name]
        assert cookie["path"] == path, (name, cookie["path"])
        assert cookie["secure"] is True, name
        assert cookie["httpOnly"] is True, name
        assert cookie["sameSite"] == same_site, (name, cookie["sameSite"])
        # Host-only: a Domain attribute would show as ".localhost" (and __Host- forbids it).
        assert cookie["domain"] == "localhost", (name, cookie["domain"])
        assert cookie["sourceScheme"] == "Secure", (name, cookie["sourceScheme"])
        assert cookie["session"] is False, f"{name} has no Max-Age"
        assert abs(cookie["expires"] - (now + max_age)) < 30, (name, cookie["expires"] - now)


# ----------------------------------------------------------------------- the tests
def test_the_demo_page_never_lets_a_script_near_a_token(browser: Browser, local_stack: LocalStack):
    open_demo(browser, local_stack)
    assert browser.element("state").get_attribute("data-signed-in") == "false"
    assert browser.cookies() == {}
    secrets: set[str] = set()

    # Log in: the answer carries lifetimes only, the tokens are cookies.
    body = log_in(browser, local_stack)
    assert set(body) == {"token_type", "expires_in", "refresh_expires_in"}, body
    assert body["expires_in"] == ACCESS_TTL
    cookies = browser.cookies()
    assert_contract_cookies(cookies, body["refresh_expires_in"])
    secrets |= token_secrets(cookies)
    assert_no_token_within_reach_of_scripts(browser, secrets, "after login")

    browser.click("me")
    status, me = outcome(browser, "me")
    assert (status, me["user"]) == (200, USER["username"]), me
    assert_no_token_within_reach_of_scripts(browser, secrets, "after /api/me")

    # Refresh rotates both cookies.
    before = cookies
    browser.click("refresh")
    status, body = outcome(browser, "refresh")
    assert status == 200, body
    assert set(body) == {"token_type", "expires_in", "refresh_expires_in"}, body
    cookies = browser.cookies()
    assert_contract_cookies(cookies, body["refresh_expires_in"])
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        assert cookies[name]["value"] != before[name]["value"], f"{name} was not rotated"
    secrets |= token_secrets(cookies)
    assert_no_token_within_reach_of_scripts(browser, secrets, "after refresh")

    browser.click("sessions")
    status, listed = outcome(browser, "sessions")
    assert status == 200, listed
    current = [s for s in listed["sessions"] if s["current"]]
    assert len(current) == 1, listed
    assert "Chrome" in current[0]["user_agent"]
    assert_no_token_within_reach_of_scripts(browser, secrets, "after /auth/sessions")

    # An expired access cookie: the page refreshes once and retries, as an SPA should.
    browser.delete_cookie(ACCESS_COOKIE, local_stack.base_url)
    browser.click("me")
    status, me = outcome(browser, "me")
    assert (status, me["user"]) == (200, USER["username"]), me
    cookies = browser.cookies()
    assert ACCESS_COOKIE in cookies, "the page did not refresh the missing access cookie"
    secrets |= token_secrets(cookies)
    assert_no_token_within_reach_of_scripts(browser, secrets, "after the silent refresh")

    # Log out: both token cookies gone, /api/me refused, the session dead on the server too.
    # The device cookie stays: it holds no token, and it is what keeps this device trusted
    # at its next login.
    last_refresh_token = cookies[REFRESH_COOKIE]["value"]
    browser.click("logout")
    status, _ = outcome(browser, "logout")
    assert status == 204
    assert set(browser.cookies()) == {DEVICE_COOKIE}, "logout left token cookies behind"
    assert_no_token_within_reach_of_scripts(browser, secrets, "after logout")
    browser.click("me")
    status, body = outcome(browser, "me")
    assert status in (401, 403), body
    assert browser.element("state").get_attribute("data-signed-in") == "false"
    replay = requests.post(
        f"{local_stack.base_url}/auth/refresh",
        headers={"Cookie": f"{REFRESH_COOKIE}={last_refresh_token}"},
        timeout=10,
    )
    assert replay.status_code == 401, replay.text

    # Nothing a script could have read from any answer of the API held a token either.
    browser.network()
    answered = browser.answered(local_stack.base_url + "/auth/", local_stack.base_url + "/api/")
    assert len(answered) >= 8, [r.url for _, r in answered]
    for request_id, request in answered:
        if request.status == 204:
            continue
        body_text = browser.response_body(request_id)
        assert not JWT.search(body_text), f"a JWT in the answer to {request.url}"
        assert not any(s in body_text for s in secrets), f"token material in {request.url}"


def test_the_demo_page_ships_a_strict_content_security_policy(local_stack: LocalStack):
    page = requests.get(f"{local_stack.base_url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    for directive in ("script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # A page is served only where the template has no route, and only for GET and HEAD.
    assert requests.post(f"{local_stack.base_url}/", timeout=10).status_code == 404
    assert requests.get(f"{local_stack.base_url}/demo/../README.md", timeout=10).status_code == 404


@dataclass(frozen=True)
class Attack:
    button: str
    action: str
    path: str
    origin: str  # the Origin header Chromium sends: "{page}" for the page's own origin


ATTACKS = (
    Attack("attack-refresh", "refresh", "/auth/refresh", "{page}"),
    Attack("attack-logout", "logout", "/auth/logout", "{page}"),
    # A form posted from a page with Referrer-Policy: no-referrer says Origin: null.
    Attack("attack-form-logout", "form-logout", "/auth/logout", "null"),
)


@pytest.mark.parametrize(
    ("host", "same_site"),
    [("localhost", True), ("127.0.0.1", False)],
    ids=["same-site-other-port", "cross-site-other-host"],
)
def test_another_origin_cannot_use_the_visitors_cookies(
    browser: Browser, local_stack: LocalStack, host: str, same_site: bool
):
    log_in(browser, local_stack)
    victim = browser.cookies()
    demo_tab = browser.driver.current_window_handle

    page = f"http://{host}:{local_stack.other_origin_port}"
    browser.driver.switch_to.new_window("tab")
    browser.driver.get(f"{page}/?api={local_stack.base_url}")
    assert browser.element("target").text == local_stack.base_url
    browser.network()
    for attack in ATTACKS:
        browser.click(attack.button)
        assert browser.element("result").get_attribute("data-action") == attack.action
        sent = browser.requests_to(f"{local_stack.base_url}/auth/", 1)
        assert [(r.method, r.url) for r in sent] == [
            ("POST", f"{local_stack.base_url}{attack.path}")
        ], attack
        request = sent[0]
        # What reached the API, and what it answered: a refusal.
        assert request.status == 403, (attack, request)
        assert request.headers.get("origin") == attack.origin.format(page=page), request.headers
        cookie_header = request.headers.get("cookie", "")
        if same_site:
            # Ports do not make sites: Chromium sends the cookies, Sec-Fetch-Site says
            # same-site, and only the API's Origin check stands in the way.
            assert request.headers.get("sec-fetch-site") == "same-site", request.headers
            assert f"{REFRESH_COOKIE}={victim[REFRESH_COOKIE]['value']}" in cookie_header
        else:
            # Another host is another site: SameSite keeps both cookies home.
            assert request.headers.get("sec-fetch-site") == "cross-site", request.headers
            assert cookie_header == "", "cookies went cross-site"
            for name in (ACCESS_COOKIE, REFRESH_COOKIE):
                reasons = request.cookies.get(name, [])
                assert any("SameSite" in reason for reason in reasons), (name, reasons)
    browser.driver.close()
    browser.driver.switch_to.window(demo_tab)

    # Nothing was consumed: the victim's cookies are the ones from before, and they work.
    assert {n: c["value"] for n, c in browser.cookies().items()} == {
        n: c["value"] for n, c in victim.items()
    }
    browser.click("me")
    status, me = outcome(browser, "me")
    assert (status, me["user"]) == (200, USER["username"]), me
    browser.click("refresh")  # with the very refresh token the attacks carried
    status, body = outcome(browser, "refresh")
    assert status == 200, body
    assert browser.cookies()[REFRESH_COOKIE]["value"] != victim[REFRESH_COOKIE]["value"]
    browser.click("logout")
    assert outcome(browser, "logout")[0] == 204


# ------------------------------------------------------------- a forgotten password
def test_a_forgotten_password_is_reset_on_the_demo_page_through_the_local_outbox(
    browser: Browser, local_stack: LocalStack
):
    """What a person does on ``make run``: ask for a link, open the mail from the outbox
    panel, follow its link, choose a password, sign in with it."""
    reader = USERS["reader"]
    base = local_stack.base_url
    new_password = "the-reader-picked-a-fresh-passphrase"
    open_demo(browser, local_stack, "/forgot-password")
    assert browser.element("forgot-form").is_displayed()
    assert not browser.element("login-form").is_displayed()
    browser.element("forgot-who").send_keys(reader["email"])
    browser.click("forgot")
    assert outcome(browser, "forgot") == (202, {})
    assert "a mail is on its way" in browser.element("forgot-message").text

    # The panel looks for the newest mail to the address just given (the job is async).
    assert browser.element("outbox-to").get_attribute("value") == reader["email"]
    browser.click("open-last-mail")
    status, mail = outcome(browser, "outbox")
    assert status == 200, mail
    assert (mail["to"], mail["subject"]) == (reader["email"], "Reset your password")
    assert browser.element("mail-to").text == reader["email"]
    link = browser.element("mail-link")
    assert link.get_attribute("href") == mail["link"]
    assert mail["link"].startswith(f"{base}/reset-password#token=")

    link.click()
    # The page reads the token and takes it out of the address bar (and the history).
    browser.wait(lambda driver: driver.current_url == f"{base}/reset-password", "the token to go")
    assert browser.element("reset-form").is_displayed()
    for field in ("reset-password", "reset-password-again"):
        browser.element(field).send_keys("password1234")
    browser.click("reset")
    status, refusal = outcome(browser, "reset")
    assert (status, refusal["error"]) == (400, "weak_password")
    assert browser.element("reset-message").text == refusal["error_description"]
    for field in ("reset-password", "reset-password-again"):
        browser.element(field).clear()
        browser.element(field).send_keys(new_password)
    browser.click("reset")
    assert outcome(browser, "reset") == (204, None)
    assert "Password set" in browser.element("reset-message").text

    browser.element("reset-done").click()
    state = browser.element("state")
    browser.wait(lambda _: state.get_attribute("data-signed-in") == "false", "the sign-in page")
    browser.element("username").send_keys(reader["username"])
    browser.element("password").send_keys(reader["password"])
    browser.click("login")
    assert outcome(browser, "login")[0] == 401  # the old password is gone
    browser.element("username").clear()
    browser.element("username").send_keys(reader["username"])
    browser.element("password").send_keys(new_password)
    browser.click("login")
    status, body = outcome(browser, "login")
    assert status == 200, body
    browser.click("me")
    assert outcome(browser, "me")[1]["user"] == reader["username"]


# ------------------------------------------------------------ two-factor authentication
def test_totp_is_set_up_on_the_demo_page_and_a_login_then_asks_for_the_code(
    browser: Browser, local_stack: LocalStack
):
    """What a person does: set up an authenticator app (the code computed here from the
    key the page shows, as the app would), keep the recovery codes, log out, log in with
    password and code, then turn it off with that fresh second factor."""
    username, password = totp_users.new_user(local_stack, "browser-mfa")
    open_demo(browser, local_stack)
    browser.element("username").send_keys(username)
    browser.element("password").send_keys(password)
    browser.click("login")
    assert outcome(browser, "login")[0] == 200

    browser.click("totp-start")
    status, started = outcome(browser, "totp-start")
    assert status == 200, started
    secret = browser.element("totp-secret").text
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert started["secret"] == secret
    qr = browser.element("totp-qr")
    assert qr.is_displayed()
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    # The image loaded: the page's CSP lets the QR code's data: URI through.
    browser.wait(
        lambda driver: driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", qr
        ),
        "the QR code to load",
    )
    browser.element("totp-code").send_keys(pyotp.TOTP(secret).now())
    browser.click("totp-confirm")
    status, confirmed = outcome(browser, "totp-confirm")
    assert status == 200, confirmed
    shown = [item.text for item in browser.element("recovery-list").find_elements("tag name", "li")]
    assert shown == confirmed["recovery_codes"]
    assert len(set(shown)) == 10
    assert not browser.element("totp-enrolment").is_displayed()
    assert browser.element("totp-secret").text == ""  # the key is gone from the page

    # This login used the password alone: new recovery codes need the second factor.
    browser.click("recovery-codes")
    status, refused = outcome(browser, "recovery-codes")
    assert (status, refused["error"]) == (401, "insufficient_user_authentication")
    message = browser.element("mfa-message")
    assert refused["error_description"] in message.text
    assert message.get_attribute("data-ok") == "false"

    browser.click("logout")
    assert outcome(browser, "logout")[0] == 204
    browser.element("username").clear()  # the page keeps the name it signed in with
    browser.element("username").send_keys(username)
    browser.element("password").send_keys(password)
    browser.click("login")
    status, required = outcome(browser, "login")
    assert (status, required["error"]) == (401, "mfa_required")
    assert browser.element("mfa-form").is_displayed()
    assert not browser.element("login-form").is_displayed()
    assert ACCESS_COOKIE not in browser.cookies()
    # The mfa_token stays in a variable of the page, never in the DOM.
    assert required["mfa_token"] == "(held by the page for the second step)"

    # The next step's code: the confirming code's step is spent.
    browser.element("mfa-code").send_keys(totp_users.code_after(secret))
    browser.click("mfa-submit")
    status, body = outcome(browser, "login-mfa")
    assert status == 200, body
    assert set(body) == {"token_type", "expires_in", "refresh_expires_in"}, body
    assert browser.element("state").get_attribute("data-signed-in") == "true"
    assert browser.element("login-form").is_displayed()
    cookies = browser.cookies()
    assert totp_users.claims_of(cookies[ACCESS_COOKIE]["value"])["amr"] == ["pwd", "otp", "mfa"]
    browser.click("me")
    assert outcome(browser, "me")[1]["user"] == username

    # A login with the second factor moments ago may turn it off.
    browser.click("totp-off")
    assert outcome(browser, "totp-off")[0] == 204
    assert "off" in browser.element("mfa-message").text
    assert totp_users.login(local_stack, username, password).status_code == 200
