"""The README's walkthrough over real HTTP against the local stack, as a browser and as an
API client would do it: login -> /api/me -> refresh -> the old refresh token refused ->
logout -> refresh refused.

The stack serves http://localhost while the cookies are ``Secure`` with ``__Host-`` and
``__Secure-`` prefixes, so no Python cookie jar would send them back: the test keeps its
own jar, checks every attribute of contract §4 and sends ``Cookie`` headers itself,
honouring each cookie's Path the way a browser does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from authcore.accounts.devices import DEVICE_COOKIE, DEVICE_COOKIE_TTL_SECONDS
from tests.e2e.conftest import DEMO_PASSWORD, EXTRA_USERS, ROOT, STACK_SETTINGS, LocalStack
from tests.e2e.conftest import USERS as USERS_BY_NAME

pytestmark = pytest.mark.e2e

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"
# Set on every successful login, whatever the delivery: the device that logged in is trusted
# next time (docs/login-protection.md, "Device cookies"); the local stack generates its key.
ACCESS_TTL = int(STACK_SETTINGS["ACCESS_TOKEN_TTL_SECONDS"])
JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------- cookies by hand
@dataclass(frozen=True)
class SetCookie:
    name: str
    value: str
    attributes: dict[str, str]  # lower-cased names; flags map to ""


def set_cookies(response: requests.Response) -> dict[str, SetCookie]:
    """Every Set-Cookie header of a response (requests folds them into one string)."""
    found = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        pair, *attrs = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        attributes = {}
        for attr in attrs:
            key, _, val = attr.partition("=")
            attributes[key.strip().lower()] = val.strip()
        assert name not in found, f"two Set-Cookie headers for {name}"
        found[name] = SetCookie(name, value, attributes)
    return found


def assert_cookie_attributes(cookie: SetCookie, *, path: str, same_site: str, max_age: int):
    assert cookie.attributes.get("path") == path
    assert "secure" in cookie.attributes
    assert "httponly" in cookie.attributes
    assert cookie.attributes.get("samesite", "").lower() == same_site.lower()
    assert int(cookie.attributes["max-age"]) == max_age
    assert "domain" not in cookie.attributes  # __Host- forbids it; neither needs it


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


class CookieJar:
    def __init__(self) -> None:
        self.cookies: dict[str, tuple[str, str]] = {}  # name -> (value, path)

    def update(self, response: requests.Response) -> dict[str, SetCookie]:
        received = set_cookies(response)
        for cookie in received.values():
            if int(cookie.attributes.get("max-age", "1")) <= 0:
                self.cookies.pop(cookie.name, None)
            else:
                self.cookies[cookie.name] = (cookie.value, cookie.attributes.get("path", "/"))
        return received

    def header(self, path: str) -> dict[str, str]:
        pairs = [f"{n}={v}" for n, (v, p) in self.cookies.items() if path_matches(path, p)]
        return {"Cookie": "; ".join(pairs)} if pairs else {}

    def value(self, name: str) -> str:
        return self.cookies[name][0]


# ---------------------------------------------------------------- helpers
def login(
    stack: LocalStack,
    delivery: str | None = None,
    username: str = "sam",
    password: str = DEMO_PASSWORD,
) -> requests.Response:
    body = {"username": username, "password": password}
    if delivery is not None:
        body["delivery"] = delivery
    return requests.post(f"{stack.base_url}/auth/login", json=body, timeout=10)


def assert_refused_grant(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "no-store"


def assert_gateway_denied(response: requests.Response) -> None:
    """Never the route's answer: the gateway's own 401/403."""
    assert response.status_code in (401, 403), response.text
    assert "user" not in response.text
    assert "sub" not in response.text


def verify_access_token(stack: LocalStack, token: str) -> dict:
    discovery = requests.get(f"{stack.base_url}/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    issuer = discovery.json()["issuer"]
    assert issuer == stack.base_url  # contract §6: the local stack's own origin
    jwks = requests.get(discovery.json()["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    assert jwks.headers["Cache-Control"].startswith("public, max-age=")
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    key = jwt.PyJWKSet.from_dict(jwks.json())[header["kid"]]
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience="api",
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )
    assert claims["iss"] == issuer
    assert claims["exp"] - claims["iat"] == ACCESS_TTL
    for claim in ("client_id", "sid", "scope", "username"):
        assert claim in claims
    return claims


# ---------------------------------------------------------------- the walkthroughs
def test_cookie_walkthrough(local_stack: LocalStack):
    base, jar = local_stack.base_url, CookieJar()

    # Login: the tokens only in Set-Cookie, with every attribute of contract §4.
    response = login(local_stack)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_TTL
    assert "access_token" not in body
    assert "refresh_token" not in body
    cookies = jar.update(response)
    assert set(cookies) == {ACCESS_COOKIE, REFRESH_COOKIE, DEVICE_COOKIE}
    assert_cookie_attributes(cookies[ACCESS_COOKIE], path="/", same_site="Lax", max_age=ACCESS_TTL)
    assert_cookie_attributes(
        cookies[REFRESH_COOKIE],
        path="/auth",
        same_site="Strict",
        max_age=body["refresh_expires_in"],
    )
    assert_cookie_attributes(
        cookies[DEVICE_COOKIE], path="/", same_site="Strict", max_age=DEVICE_COOKIE_TTL_SECONDS
    )
    assert body["refresh_expires_in"] > 0
    claims = verify_access_token(local_stack, jar.value(ACCESS_COOKIE))
    assert claims["username"] == "sam"
    first_refresh = jar.value(REFRESH_COOKIE)

    # /api/me with the access cookie; the refresh cookie (Path=/auth) stays home.
    headers = jar.header("/api/me")
    assert REFRESH_COOKIE not in headers["Cookie"]
    me = requests.get(f"{base}/api/me", headers=headers, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json() == {"user": "sam", "sub": claims["sub"], "scope": "profile"}
    assert me.json()["sub"] != "sam"  # a stable user id, not the username

    # Refresh with the cookie: both tokens rotate, the answer comes back as cookies.
    refreshed = requests.post(
        f"{base}/auth/refresh", headers=jar.header("/auth/refresh"), timeout=10
    )
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()
    cookies = jar.update(refreshed)
    assert set(cookies) == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert_cookie_attributes(cookies[ACCESS_COOKIE], path="/", same_site="Lax", max_age=ACCESS_TTL)
    assert_cookie_attributes(
        cookies[REFRESH_COOKIE],
        path="/auth",
        same_site="Strict",
        max_age=refreshed.json()["refresh_expires_in"],
    )
    assert jar.value(REFRESH_COOKIE) != first_refresh
    assert verify_access_token(local_stack, jar.value(ACCESS_COOKIE))["sid"] == claims["sid"]

    # The old refresh token is refused.
    old = {"Cookie": f"{REFRESH_COOKIE}={first_refresh}"}
    assert_refused_grant(requests.post(f"{base}/auth/refresh", headers=old, timeout=10))

    # Logout: 204, both cookies cleared with the same name, path and attributes.
    current_refresh = jar.value(REFRESH_COOKIE)
    out = requests.post(f"{base}/auth/logout", headers=jar.header("/auth/logout"), timeout=10)
    assert out.status_code == 204, out.text
    assert out.headers["Cache-Control"] == "no-store"
    cleared = jar.update(out)
    assert set(cleared) == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert_cookie_attributes(cleared[ACCESS_COOKIE], path="/", same_site="Lax", max_age=0)
    assert_cookie_attributes(cleared[REFRESH_COOKIE], path="/auth", same_site="Strict", max_age=0)
    # The device cookie outlives the session: it is what trusts this device at its next login.
    assert set(jar.cookies) == {DEVICE_COOKIE}

    # After logout: refresh refused, and the browser has no token left to send.
    again = {"Cookie": f"{REFRESH_COOKIE}={current_refresh}"}
    assert_refused_grant(requests.post(f"{base}/auth/refresh", headers=again, timeout=10))
    assert_gateway_denied(requests.get(f"{base}/api/me", headers=jar.header("/api/me"), timeout=10))


def test_body_walkthrough(local_stack: LocalStack):
    base = local_stack.base_url

    response = login(local_stack, delivery="body")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert set_cookies(response) == {}
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == ACCESS_TTL
    assert tokens["refresh_expires_in"] > 0
    claims = verify_access_token(local_stack, tokens["access_token"])

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = requests.get(f"{base}/api/me", headers=bearer, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json() == {"user": "sam", "sub": claims["sub"], "scope": "profile"}

    refreshed = requests.post(
        f"{base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 200, refreshed.text
    assert set_cookies(refreshed) == {}
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert verify_access_token(local_stack, new["access_token"])["sid"] == claims["sid"]
    me = requests.get(
        f"{base}/api/me", headers={"Authorization": f"Bearer {new['access_token']}"}, timeout=10
    )
    assert me.status_code == 200, me.text

    old = requests.post(
        f"{base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    assert_refused_grant(old)

    out = requests.post(
        f"{base}/auth/logout", json={"refresh_token": new["refresh_token"]}, timeout=10
    )
    assert out.status_code == 204, out.text
    assert out.text == ""

    after = requests.post(
        f"{base}/auth/refresh", json={"refresh_token": new["refresh_token"]}, timeout=10
    )
    assert_refused_grant(after)


def test_logout_alone_revokes_the_session(local_stack: LocalStack):
    """The walkthroughs above present an old token before logging out, which reuse
    detection may already punish; here logout is the only thing that happens."""
    tokens = login(local_stack, delivery="body").json()
    out = requests.post(
        f"{local_stack.base_url}/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert out.status_code == 204, out.text
    after = requests.post(
        f"{local_stack.base_url}/auth/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=10,
    )
    assert_refused_grant(after)


# ---------------------------------------------------------------- the gateway
def test_protected_route_without_a_valid_token_is_denied_by_the_gateway(local_stack: LocalStack):
    url = f"{local_stack.base_url}/api/me"
    assert_gateway_denied(requests.get(url, timeout=10))
    assert_gateway_denied(
        requests.get(url, headers={"Authorization": "Bearer garbage"}, timeout=10)
    )
    assert_gateway_denied(
        requests.get(url, headers={"Cookie": f"{ACCESS_COOKIE}=x.y.z"}, timeout=10)
    )
    # Well-formed and with the real kid, but signed by a key of our own.
    kid = requests.get(f"{local_stack.base_url}/.well-known/jwks.json", timeout=10).json()
    now = int(time.time())
    forged = jwt.encode(
        {
            "iss": local_stack.base_url,
            "sub": "x",
            "aud": "api",
            "iat": now,
            "exp": now + 60,
            "jti": "j",
            "sid": "s",
            "scope": "profile",
            "username": "sam",
            "client_id": "web",
        },
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": kid["keys"][0]["kid"], "typ": "at+jwt"},
    )
    assert_gateway_denied(
        requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    )
    sessions = f"{local_stack.base_url}/auth/sessions"
    assert_gateway_denied(requests.get(sessions, timeout=10))


def test_a_protected_route_with_route_scopes_needs_them(local_stack: LocalStack):
    """ROUTE_SCOPES reaches the local authorizer from template.yaml, and the local gateway
    hands it the routeKey as API Gateway does: sam's token (scope "profile") gets the
    gateway's 403 on GET /api/reports, a token holding reports:read the route's answer."""
    url = f"{local_stack.base_url}/api/reports"
    sam = login(local_stack, "body").json()["access_token"]
    refused = requests.get(url, headers={"Authorization": f"Bearer {sam}"}, timeout=10)
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"message": "Forbidden"}
    me = requests.get(
        f"{local_stack.base_url}/api/me", headers={"Authorization": f"Bearer {sam}"}, timeout=10
    )
    assert me.status_code == 200  # unscoped routes are unchanged
    reporter = USERS_BY_NAME["reporter"]
    token = login(local_stack, "body", reporter["username"], reporter["password"])
    answer = requests.get(
        url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"reports": [], "client_id": "web", "scope": "reports:read"}


def test_unknown_routes_and_methods_are_404_from_the_gateway(local_stack: LocalStack):
    base = local_stack.base_url
    for method, path in (
        ("GET", "/nope"),
        ("DELETE", "/api/me"),
        ("POST", "/.well-known/jwks.json"),
    ):
        response = requests.request(method, f"{base}{path}", timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"message": "Not Found"}


def test_wrong_method_on_an_auth_route_is_the_functions_405(local_stack: LocalStack):
    """The /auth/* routes are ANY routes: the function itself answers other methods."""
    response = requests.get(f"{local_stack.base_url}/auth/refresh", timeout=10)
    assert response.status_code == 405, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_concurrent_requests_each_pass_the_authorizer(local_stack: LocalStack):
    """Several functions' workers busy at once, the authorizer fetching the JWKS from
    the same server meanwhile."""
    token = login(local_stack, delivery="body").json()["access_token"]
    url = f"{local_stack.base_url}/api/me"

    def call(_: int) -> int:
        return requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=20
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(call, range(16))) == [200] * 16


def test_users_from_the_local_users_file(local_stack: LocalStack):
    alice = EXTRA_USERS[0]
    response = login(local_stack, "body", alice["username"], alice["password"])
    assert response.status_code == 200, response.text
    me = requests.get(
        f"{local_stack.base_url}/api/me",
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        timeout=10,
    )
    assert me.json()["user"] == "alice"
    assert me.json()["scope"] == alice["scope"]


def test_the_admin_command_line_reaches_the_local_stack(local_stack: LocalStack):
    password = "bob-has-an-even-longer-passphrase"
    created = subprocess.run(
        [sys.executable, "-m", "infra.admin", "create-user", "bob", "--scope", "profile"],
        input=password + "\n",
        env={**local_stack.env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert login(local_stack, "body", "bob", password).status_code == 200
