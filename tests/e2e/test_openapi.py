"""openapi.yaml: a valid OpenAPI 3.1 document, in step with template.yaml, and true of
the local stack: a walk through every route and every status code the service can give
without breaking a dependency, each answer checked against the document (status code,
required headers and their values, body schema).

The validator here is deliberately small and independent of schemathesis (which
test_fuzz.py runs): JSON Schema 2020-12 (OpenAPI 3.1's dialect) over the document itself,
so ``$ref`` resolves exactly as the document says.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from typing import Any

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from authcore.accounts.devices import DEVICE_COOKIE
from infra import template
from tests.e2e.conftest import DEMO_PASSWORD, ROOT, USERS, LocalStack

pytestmark = pytest.mark.e2e

SPEC_PATH = ROOT / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
BASE_URI = "urn:serverless-auth:openapi"
REGISTRY = Registry().with_resource(BASE_URI, DRAFT202012.create_resource(SPEC))
OPERATION_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"


JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------ the validator
def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _at(pointer: str) -> Any:
    node: Any = SPEC
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _follow(pointer: str) -> tuple[str, dict[str, Any]]:
    """The pointer and node a (chain of) local ``$ref`` leads to."""
    node = _at(pointer)
    while "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), f"only local references: {reference}"
        pointer = reference[1:]
        node = _at(pointer)
    return pointer, node


def _schema_errors(schema_pointer: str, instance: Any) -> list[str]:
    validator = Draft202012Validator({"$ref": f"{BASE_URI}#{schema_pointer}"}, registry=REGISTRY)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def conformance_errors(
    method: str, path: str, response: requests.Response, described_as: str | None = None
) -> list[str]:
    """How an answer departs from the document: status code, headers, body.

    ``described_as`` names a response of ``components.responses`` instead of the
    operation's own (for answers no operation lists, such as 405)."""
    if described_as is None:
        operation = f"/paths/{_escape(path)}/{method.lower()}"
        responses = _at(f"{operation}/responses")
        status = str(response.status_code)
        if status not in responses:
            return [f"status {status} is not described (only {sorted(responses)})"]
        pointer, described = _follow(f"{operation}/responses/{status}")
    else:
        pointer, described = _follow(f"/components/responses/{described_as}")
    errors = []
    for name in described.get("headers", {}):
        header_pointer, header = _follow(f"{pointer}/headers/{_escape(name)}")
        value = response.headers.get(name)
        if value is None:
            if header.get("required"):
                errors.append(f"header {name} is missing")
            continue
        _, schema = _follow(f"{header_pointer}/schema")
        instance: Any = value
        if schema.get("type") == "integer":
            try:
                instance = int(value)
            except ValueError:
                errors.append(f"header {name}: {value!r} is not an integer")
                continue
        schema_errors = _schema_errors(f"{header_pointer}/schema", instance)
        errors += [f"header {name}: {e}" for e in schema_errors]
    content = described.get("content")
    if content is None:
        if response.content:
            errors.append(f"a body where none is described: {response.text[:200]!r}")
        return errors
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media_type not in content:
        return [*errors, f"Content-Type {media_type!r} is not one of {sorted(content)}"]
    try:
        body = response.json()
    except ValueError:
        return [*errors, f"the body is not JSON: {response.text[:200]!r}"]
    schema_pointer = f"{pointer}/content/{_escape(media_type)}/schema"
    return errors + [f"body {e}" for e in _schema_errors(schema_pointer, body)]


def check(
    method: str,
    path: str,
    response: requests.Response,
    status: int,
    described_as: str | None = None,
) -> requests.Response:
    assert response.status_code == status, (
        f"{method} {path}: {response.status_code} {response.text[:300]}"
    )
    errors = conformance_errors(method, path, response, described_as)
    assert not errors, f"{method} {path} -> {status} departs from openapi.yaml:\n" + "\n".join(
        errors
    )
    return response


# ------------------------------------------------------------ the document itself
def test_the_document_is_valid_openapi_3_1():
    validate_openapi(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in OPERATION_METHODS
    }


def test_every_route_of_the_template_is_described_and_no_other():
    # The /auth routes are ANY routes whose functions answer only POST (405 otherwise).
    routes = {("POST" if r.method == "ANY" else r.method, r.path): r for r in template.routes()}
    assert set(_operations()) == set(routes)
    for key, operation in _operations().items():
        security = operation.get("security", SPEC["security"])
        public = security == [] or {} in security
        assert public == (not routes[key].authorized), f"{key}: security {security}"


def test_every_error_code_of_the_contract_is_in_the_error_schema():
    codes = set(SPEC["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    contract = {
        "invalid_request",
        "invalid_grant",
        "forbidden",
        "too_many_requests",
        "temporarily_unavailable",
        # §7
        "weak_password",
        "email_not_verified",
        "not_found",
    }
    assert contract <= codes


# ---------------------------------------------------------- the stack's answers
def _login(stack: LocalStack, delivery: str, username: str = "sam", password: str = DEMO_PASSWORD):
    return requests.post(
        f"{stack.base_url}/auth/login",
        json={"username": username, "password": password, "delivery": delivery},
        timeout=10,
    )


def _cookie_values(response: requests.Response) -> dict[str, str]:
    values = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        values[name] = rest.split(";", 1)[0]
    return values


def test_discovery_answers_conform(local_stack: LocalStack):
    base = local_stack.base_url
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        check("GET", path, requests.get(f"{base}{path}", timeout=10), 200)


def test_login_answers_conform(local_stack: LocalStack):
    base, path = local_stack.base_url, "/auth/login"
    body = check("POST", path, _login(local_stack, "body"), 200)
    assert "Set-Cookie" not in body.headers
    cookie = check("POST", path, _login(local_stack, "cookie"), 200)
    assert set(_cookie_values(cookie)) == {ACCESS_COOKIE, REFRESH_COOKIE, DEVICE_COOKIE}
    # An unknown user: the same 401 as a wrong password (and no one's account locked).
    stranger = f"nobody-{secrets.token_hex(4)}"
    check("POST", path, _login(local_stack, "body", stranger, "wrong-password"), 401)
    for data, headers, status in (
        (b'{"username": "sam",', JSON, 400),
        (b'{"username": "sam", "username": "x", "password": "y"}', JSON, 400),
        (b'{"username": "sam", "password": "y", "delivery": "pigeon"}', JSON, 400),
        (b'{"username": "sam", "password": "y"}', {"Content-Type": "text/plain"}, 415),
        (json.dumps({"username": "sam", "password": "x" * 9000}).encode(), JSON, 413),
    ):
        response = requests.post(f"{base}{path}", data=data, headers=headers, timeout=10)
        check("POST", path, response, status)
    cross_site = requests.post(
        f"{base}{path}",
        json={"username": "sam", "password": DEMO_PASSWORD},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    check("POST", path, cross_site, 403)


def test_a_locked_account_answers_429_with_retry_after(local_stack: LocalStack):
    user = USERS["lockout-probe"]
    statuses = []
    for _ in range(8):
        response = _login(local_stack, "body", user["username"], "not-the-password")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, f"never locked: {statuses}"
    check("POST", "/auth/login", response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 900
    # While locked, even the right password is refused (and not checked).
    check("POST", "/auth/login", _login(local_stack, "body", **_credentials(user)), 429)


def _credentials(user: dict[str, str]) -> dict[str, str]:
    return {"username": user["username"], "password": user["password"]}


def test_refresh_answers_conform(local_stack: LocalStack):
    base, path = local_stack.base_url, "/auth/refresh"
    tokens = _login(local_stack, "body").json()
    rotated = check(
        "POST",
        path,
        requests.post(f"{base}{path}", json={"refresh_token": tokens["refresh_token"]}, timeout=10),
        200,
    )
    assert "Set-Cookie" not in rotated.headers
    cookies = _cookie_values(_login(local_stack, "cookie"))
    by_cookie = requests.post(
        f"{base}{path}",
        headers={"Cookie": f"{REFRESH_COOKIE}={cookies[REFRESH_COOKIE]}"},
        timeout=10,
    )
    check("POST", path, by_cookie, 200)
    garbage = requests.post(f"{base}{path}", json={"refresh_token": "garbage"}, timeout=10)
    check("POST", path, garbage, 401)
    refused_cookie = requests.post(
        f"{base}{path}", headers={"Cookie": f"{REFRESH_COOKIE}=garbage"}, timeout=10
    )
    check("POST", path, refused_cookie, 401)
    assert _cookie_values(refused_cookie) == {ACCESS_COOKIE: "", REFRESH_COOKIE: ""}
    cross_site = requests.post(
        f"{base}{path}",
        headers={
            "Cookie": f"{REFRESH_COOKIE}={_cookie_values(by_cookie)[REFRESH_COOKIE]}",
            "Sec-Fetch-Site": "cross-site",
        },
        timeout=10,
    )
    check("POST", path, cross_site, 403)
    for data, headers, status in (
        (b"[]", JSON, 400),
        (b'{"refresh_token": 7}', JSON, 400),
        (b'{"refresh_token": "x"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ):
        response = requests.post(f"{base}{path}", data=data, headers=headers, timeout=10)
        check("POST", path, response, status)


def test_logout_answers_conform(local_stack: LocalStack):
    base, path = local_stack.base_url, "/auth/logout"
    tokens = _login(local_stack, "body").json()
    by_body = requests.post(
        f"{base}{path}", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    )
    check("POST", path, by_body, 204)
    assert _cookie_values(by_body) == {ACCESS_COOKIE: "", REFRESH_COOKIE: ""}
    cookies = _cookie_values(_login(local_stack, "cookie"))
    cross_site = requests.post(
        f"{base}{path}",
        headers={"Cookie": f"{REFRESH_COOKIE}={cookies[REFRESH_COOKIE]}", "Origin": "null"},
        timeout=10,
    )
    check("POST", path, cross_site, 403)
    by_cookie = requests.post(
        f"{base}{path}",
        headers={"Cookie": f"{REFRESH_COOKIE}={cookies[REFRESH_COOKIE]}"},
        timeout=10,
    )
    check("POST", path, by_cookie, 204)
    check("POST", path, requests.post(f"{base}{path}", timeout=10), 204)
    for data, status in ((b'{"all": "yes"}', 400), (b'{"refresh_token": 7}', 400)):
        response = requests.post(f"{base}{path}", data=data, headers=JSON, timeout=10)
        check("POST", path, response, status)


def test_a_null_refresh_token_is_a_wrong_type(local_stack: LocalStack):
    """Contract §2: wrong types are a 400. ``null`` is not a string: it must not pass for
    an absent field (the fuzzer found logout answering 204 to it)."""
    base = local_stack.base_url
    for path in ("/auth/refresh", "/auth/logout"):
        response = requests.post(
            f"{base}{path}", data=b'{"refresh_token": null}', headers=JSON, timeout=10
        )
        check("POST", path, response, 400)


def test_wrong_methods_on_the_auth_routes_answer_405(local_stack: LocalStack):
    for path in ("/auth/login", "/auth/refresh", "/auth/logout"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = requests.request(method, f"{local_stack.base_url}{path}", timeout=10)
            check(method, path, response, 405, described_as="MethodNotAllowed")


def test_protected_answers_conform(local_stack: LocalStack):
    base = local_stack.base_url
    tokens = _login(local_stack, "body").json()
    other = _login(local_stack, "body").json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    check("GET", "/api/me", requests.get(f"{base}/api/me", headers=bearer, timeout=10), 200)
    check("GET", "/api/me", requests.get(f"{base}/api/me", timeout=10), 403)
    listed = check(
        "GET",
        "/auth/sessions",
        requests.get(f"{base}/auth/sessions", headers=bearer, timeout=10),
        200,
    ).json()["sessions"]
    check("GET", "/auth/sessions", requests.get(f"{base}/auth/sessions", timeout=10), 403)
    path = "/auth/sessions/{sid}"
    other_sid = other["refresh_token"].split(".", 1)[0]
    assert other_sid in {s["sid"] for s in listed}
    unknown = requests.delete(f"{base}/auth/sessions/{'A' * 22}", headers=bearer, timeout=10)
    check("DELETE", path, unknown, 404)
    revoked = requests.delete(f"{base}/auth/sessions/{other_sid}", headers=bearer, timeout=10)
    check("DELETE", path, revoked, 204)
    check("DELETE", path, requests.delete(f"{base}/auth/sessions/{other_sid}", timeout=10), 403)


# ---------------------------------------------------------------- accounts (§7)
STRONG = "plover-quartz-lantern-violet"


def _new_user(stack: LocalStack, password: str) -> str:
    """A user of this test's own (through the admin command line), so that a wrong
    current password or ended sessions disturb nobody else's."""
    name = f"accounts-{secrets.token_hex(4)}"
    created = subprocess.run(
        [sys.executable, "-m", "infra.admin", "create-user", name, "--scope", "profile"],
        input=password + "\n",
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    return name


def test_password_change_answers_conform(local_stack: LocalStack):
    base, path = local_stack.base_url, "/auth/password"
    password = "a-passphrase-about-to-change"
    name = _new_user(local_stack, password)
    this = _login(local_stack, "body", name, password).json()
    other = _login(local_stack, "body", name, password).json()
    bearer = {"Authorization": f"Bearer {this['access_token']}"}

    def change(current: str, new: str) -> requests.Response:
        body = {"current_password": current, "new_password": new}
        return requests.post(f"{base}{path}", json=body, headers=bearer, timeout=10)

    weak = check("POST", path, change(password, "password1234"), 400)
    assert weak.json()["error"] == "weak_password"
    assert check("POST", path, change(password, name), 400).json()["error"] == "weak_password"
    wrong = check("POST", path, change("not-the-password", STRONG), 401)
    assert wrong.json()["error"] == "invalid_grant"
    for data, headers, status in (
        (b'{"current_password": 7, "new_password": "x"}', JSON, 400),
        (b'{"current_password": "x"}', JSON, 400),
        (b'{"current_password": "x", "new_password": "y"}', {"Content-Type": "text/plain"}, 415),
        (json.dumps({"current_password": "x" * 9000, "new_password": "y"}).encode(), JSON, 413),
    ):
        response = requests.post(
            f"{base}{path}", data=data, headers={**headers, **bearer}, timeout=10
        )
        check("POST", path, response, status)
    check("POST", path, requests.post(f"{base}{path}", json={}, timeout=10), 403)

    check("POST", path, change(password, STRONG), 204)
    # This session stays; the other one ended; the new password is the one that works.
    listed = requests.get(f"{base}/auth/sessions", headers=bearer, timeout=10)
    assert listed.status_code == 200, listed.text
    assert {s["sid"] for s in listed.json()["sessions"]} == {this["refresh_token"].split(".")[0]}
    refused = requests.post(
        f"{base}/auth/refresh", json={"refresh_token": other["refresh_token"]}, timeout=10
    )
    assert refused.status_code == 401
    assert _login(local_stack, "body", name, password).status_code == 401
    assert _login(local_stack, "body", name, STRONG).status_code == 200


def test_reset_and_verify_refuse_tokens_that_do_not_work(local_stack: LocalStack):
    base = local_stack.base_url
    bogus = secrets.token_urlsafe(32)
    for path, body in (
        ("/auth/password/reset", {"token": bogus, "new_password": STRONG}),
        # Checked before the new password: a weak one with a bad token is still a 401.
        ("/auth/password/reset", {"token": bogus, "new_password": "x"}),
        ("/auth/email/verify", {"token": bogus}),
        ("/auth/email/verify", {"token": "not even base64url!"}),
    ):
        refused = check("POST", path, requests.post(f"{base}{path}", json=body, timeout=10), 401)
        assert refused.json()["error"] == "invalid_grant"
        assert "Set-Cookie" not in refused.headers
    for path in ("/auth/password/reset", "/auth/email/verify"):
        for data, headers, status in (
            (b'{"token": 7, "new_password": "x"}', JSON, 400),
            (b'{"token": ""}', JSON, 400),
            (json.dumps({"token": "t" * 513, "new_password": "x"}).encode(), JSON, 400),
            (b'{"token": "t"}', {"Content-Type": "text/plain"}, 415),
            (json.dumps({"token": "t" * 9000}).encode(), JSON, 413),
        ):
            response = requests.post(f"{base}{path}", data=data, headers=headers, timeout=10)
            check("POST", path, response, status)


def test_forgot_refuses_what_it_cannot_read(local_stack: LocalStack):
    base, path = local_stack.base_url, "/auth/password/forgot"
    for data, headers, status in (
        (b"{}", JSON, 400),
        (b'{"email": "sam@example.com", "username": "sam"}', JSON, 400),
        (b'{"email": "not an address"}', JSON, 400),
        (b'{"username": "no spaces here"}', JSON, 400),
        (b'{"username": 7}', JSON, 400),
        (b'{"email": "sam@example.com"}', {"Content-Type": "text/plain"}, 415),
        (json.dumps({"email": "x" * 9000}).encode(), JSON, 413),
    ):
        response = requests.post(f"{base}{path}", data=data, headers=headers, timeout=10)
        check("POST", path, response, status)


def test_forgot_answers_the_same_for_every_account(local_stack: LocalStack):
    """Contract §7: ``202 {}``, identical whether an account matches or not."""
    base, path = local_stack.base_url, "/auth/password/forgot"
    answers = [
        check("POST", path, requests.post(f"{base}{path}", json=body, timeout=10), 202)
        for body in (
            {"username": "alice"},
            {"username": f"nobody-{secrets.token_hex(4)}"},
            {"email": f"nobody-{secrets.token_hex(4)}@example.com"},
        )
    ]
    varying = {"date", "apigw-requestid", "x-amzn-requestid"}
    shapes = {
        (
            a.content,
            tuple(sorted((k.lower(), v) for k, v in a.headers.items() if k.lower() not in varying)),
        )
        for a in answers
    }
    assert len(shapes) == 1, shapes
    assert answers[0].json() == {}


def test_wrong_methods_on_the_account_routes_answer_405(local_stack: LocalStack):
    for path in (
        "/auth/password/forgot",
        "/auth/password/reset",
        "/auth/signup",
        "/auth/email/verify",
    ):
        for method in ("GET", "PUT", "DELETE"):
            response = requests.request(method, f"{local_stack.base_url}{path}", timeout=10)
            check(method, path, response, 405, described_as="MethodNotAllowed")
            assert response.headers["Allow"] == "POST"
