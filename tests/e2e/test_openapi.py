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
import time
from typing import Any

import boto3
import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from authcore.accounts.devices import DEVICE_COOKIE
from authcore.clients.dynamo import DynamoClientStore
from authcore.clients.model import Client
from infra import template
from tests.e2e import totp_users
from tests.e2e.conftest import CLIENT_SECRET_PEPPER, DEMO_PASSWORD, ROOT, USERS, LocalStack

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


# The methods the functions behind the ANY routes answer (405 to the others): POST, and
# for TOTP, POST (start enrolment) and DELETE (turn it off).
ANY_METHODS = {"/auth/mfa/totp": ("POST", "DELETE")}


def test_every_route_of_the_template_is_described_and_no_other():
    routes = {
        (method, r.path): r
        for r in template.routes()
        for method in (ANY_METHODS.get(r.path, ("POST",)) if r.method == "ANY" else (r.method,))
    }
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
        # §9 (RFC 6749 §5.2, RFC 7009 §2.2.1)
        "invalid_client",
        "invalid_scope",
        "unsupported_grant_type",
        "unsupported_token_type",
        # §8 (RFC 9470)
        "insufficient_user_authentication",
    }
    assert contract <= codes
    # §8: the first step's answer for an account with a second factor has a schema of its own.
    assert SPEC["components"]["schemas"]["MfaRequired"]["properties"]["error"] == {
        "const": "mfa_required"
    }


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
    totp_users.create_user(stack, name, password)
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


# ------------------------------------------------------------ machine clients (§9)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OAUTH_PATHS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")
# CLIENT_ID's default: the client the web app's sessions (and so its tokens) belong to.
WEB_CLIENT = "web"


def _clients(stack: LocalStack) -> DynamoClientStore:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.env["AWS_ENDPOINT_URL"],
        region_name=stack.env["AWS_REGION"],
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
    )
    # The stack names each table local-<logical id> (infra.local.stack).
    return DynamoClientStore(dynamodb, stack.env.get("CLIENTS_TABLE", "local-ClientsTable"))


def _register(stack: LocalStack, client_id: str, scope: str, quota_per_hour: int = 0) -> str:
    """A client in the stack's table, straight through the store (the stack's pepper is
    the tests' own); its new secret. A client registered already gets one more secret."""
    store = _clients(stack)
    existing = store.get(client_id)
    client = existing or Client(client_id, frozenset(scope.split()), quota_per_hour=quota_per_hour)
    updated, secret = client.with_new_secret(CLIENT_SECRET_PEPPER.encode(), time.time())
    if existing is None:
        store.create(updated)
    else:
        store.replace(existing, updated)
    return secret


@pytest.fixture(scope="module")
def machine(local_stack: LocalStack) -> tuple[str, str]:
    client_id = f"openapi-{secrets.token_hex(4)}"
    return client_id, _register(local_stack, client_id, "reports:read reports:write")


def _oauth(stack: LocalStack, path: str, form: dict[str, str] | bytes, **kwargs: Any):
    """A form (requests encodes a dict and says so; raw bytes are sent as a form too,
    unless ``headers`` says otherwise)."""
    kwargs.setdefault("headers", FORM)
    return requests.post(f"{stack.base_url}{path}", data=form, timeout=10, **kwargs)


def _client_token(stack: LocalStack, machine: tuple[str, str], **form: str) -> str:
    answer = _oauth(
        stack, "/oauth2/token", {"grant_type": "client_credentials", **form}, auth=machine
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_token_answers_conform(local_stack: LocalStack, machine: tuple[str, str]):
    path = "/oauth2/token"
    client_id, secret = machine

    def token(form: dict[str, str] | bytes, **kwargs: Any) -> requests.Response:
        return _oauth(local_stack, path, form, **kwargs)

    basic = check("POST", path, token({"grant_type": "client_credentials"}, auth=machine), 200)
    assert basic.json()["scope"] == "reports:read reports:write"
    assert basic.headers["Pragma"] == "no-cache"
    posted = token(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "reports:read",
        }
    )
    assert check("POST", path, posted, 200).json()["scope"] == "reports:read"
    for form, code in (
        ({"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"scope": "reports:read"}, "invalid_request"),
        (b"grant_type=client_credentials&scope=a&scope=b", "invalid_request"),
        ({"grant_type": "client_credentials", "client_secret": secret}, "invalid_request"),
    ):
        refused = check("POST", path, token(form, auth=machine), 400)
        assert refused.json()["error"] == code, (form, refused.text)
    wrong = (client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    stranger = (f"nobody-{secrets.token_hex(4)}", secret)
    answers = [
        check("POST", path, token({"grant_type": "client_credentials"}, auth=who), 401)
        for who in (wrong, stranger)
    ]
    answers.append(check("POST", path, token({"grant_type": "client_credentials"}), 401))
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].json()["error"] == "invalid_client"
    check("POST", path, token(b'{"grant_type": "client_credentials"}', headers=JSON), 415)
    check("POST", path, token({"grant_type": "client_credentials", "scope": "x" * 9000}), 413)


def test_a_client_over_its_quota_gets_429_with_retry_after(local_stack: LocalStack):
    client_id = f"quota-{secrets.token_hex(4)}"
    secret = _register(local_stack, client_id, "reports:read", quota_per_hour=1)
    form = {"grant_type": "client_credentials"}
    path = "/oauth2/token"
    check("POST", path, _oauth(local_stack, path, form, auth=(client_id, secret)), 200)
    refused = check("POST", path, _oauth(local_stack, path, form, auth=(client_id, secret)), 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


def test_introspection_answers_conform(local_stack: LocalStack, machine: tuple[str, str]):
    path = "/oauth2/introspect"

    def introspect(token: str, **kwargs: Any) -> requests.Response:
        return _oauth(local_stack, path, {"token": token}, **kwargs)

    user = _login(local_stack, "body").json()
    about_user = check("POST", path, introspect(user["access_token"], auth=machine), 200).json()
    assert about_user["active"] is True
    assert about_user["username"] == "sam"
    assert about_user["sid"] == user["refresh_token"].split(".")[0]
    for token in ("garbage", user["refresh_token"]):
        assert check("POST", path, introspect(token, auth=machine), 200).json() == {"active": False}
    # A logout shows at once.
    logout = requests.post(
        f"{local_stack.base_url}/auth/logout",
        json={"refresh_token": user["refresh_token"]},
        timeout=10,
    )
    assert logout.status_code == 204
    ended = check("POST", path, introspect(user["access_token"], auth=machine), 200)
    assert ended.json() == {"active": False}
    check("POST", path, introspect(user["access_token"]), 401)
    check("POST", path, _oauth(local_stack, path, {"token": ""}, auth=machine), 400)
    check("POST", path, _oauth(local_stack, path, b"token=a&token=b", auth=machine), 400)
    check("POST", path, _oauth(local_stack, path, b'{"token": "x"}', headers=JSON), 415)


def test_revocation_answers_conform(local_stack: LocalStack, machine: tuple[str, str]):
    path = "/oauth2/revoke"
    web = (WEB_CLIENT, _register(local_stack, WEB_CLIENT, ""))

    def revoke(token: str, **kwargs: Any) -> requests.Response:
        return _oauth(local_stack, path, {"token": token}, **kwargs)

    user = _login(local_stack, "body").json()
    # Another client's request revokes nothing, and says so in no way.
    check("POST", path, revoke(user["refresh_token"], auth=machine), 200)
    assert _introspected(local_stack, machine, user["access_token"])["active"] is True
    check("POST", path, revoke(user["refresh_token"], auth=web), 200)
    assert _introspected(local_stack, machine, user["access_token"]) == {"active": False}
    check("POST", path, revoke("garbage", auth=web), 200)
    check("POST", path, revoke("garbage"), 401)
    check("POST", path, _oauth(local_stack, path, {"token_type_hint": "x"}, auth=web), 400)


def test_client_tokens_introspect_and_cannot_be_revoked(
    local_stack: LocalStack, machine: tuple[str, str]
):
    client_token = _client_token(local_stack, machine)
    introspected = _oauth(local_stack, "/oauth2/introspect", {"token": client_token}, auth=machine)
    about = check("POST", "/oauth2/introspect", introspected, 200).json()
    assert about["active"] is True
    assert about["sub"] == about["client_id"] == machine[0]
    assert "sid" not in about
    assert "username" not in about
    revoked = _oauth(local_stack, "/oauth2/revoke", {"token": client_token}, auth=machine)
    refused = check("POST", "/oauth2/revoke", revoked, 400)
    assert refused.json()["error"] == "unsupported_token_type"


def _introspected(stack: LocalStack, machine: tuple[str, str], token: str) -> dict[str, Any]:
    answer = _oauth(stack, "/oauth2/introspect", {"token": token}, auth=machine)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_wrong_methods_on_the_oauth_routes_answer_405(local_stack: LocalStack):
    for path in OAUTH_PATHS:
        for method in ("GET", "PUT", "DELETE"):
            response = requests.request(method, f"{local_stack.base_url}{path}", timeout=10)
            check(method, path, response, 405, described_as="MethodNotAllowed")
            assert response.headers["Allow"] == "POST"


# ------------------------------------------------------------ second factor (§8)
STEP_UP = 'Bearer error="insufficient_user_authentication"'


def test_totp_enrolment_answers_conform(local_stack: LocalStack):
    stack = local_stack
    name, password = totp_users.new_user(stack, "openapi-mfa")
    token = totp_users.login(stack, name, password).json()["access_token"]
    assert totp_users.claims_of(token)["amr"] == ["pwd"]

    # A password-only login may neither turn TOTP off nor replace recovery codes.
    refused = check(
        "DELETE", "/auth/mfa/totp", totp_users.delete(stack, "/auth/mfa/totp", token), 401
    )
    assert refused.json()["error"] == "insufficient_user_authentication"
    assert refused.headers["WWW-Authenticate"].startswith(STEP_UP)
    assert refused.headers["WWW-Authenticate"].endswith("max_age=300")
    path = "/auth/mfa/recovery-codes"
    check("POST", path, totp_users.post(stack, path, token=token), 401)

    path = "/auth/mfa/totp/confirm"
    # Nothing to confirm yet.
    early = check("POST", path, totp_users.post(stack, path, {"code": "123456"}, token), 400)
    assert early.json()["error"] == "invalid_request"
    started = check(
        "POST", "/auth/mfa/totp", totp_users.post(stack, "/auth/mfa/totp", token=token), 200
    )
    secret = started.json()["secret"]
    assert f"secret={secret}" in started.json()["otpauth_uri"]
    wrong = totp_users.post(stack, path, {"code": totp_users.wrong_code(secret)}, token)
    assert check("POST", path, wrong, 401).json()["error"] == "invalid_grant"
    assert wrong.headers["WWW-Authenticate"] == 'Bearer error="invalid_grant"'
    bearer = {"Authorization": f"Bearer {token}"}
    for data, headers, status in (
        (b'{"code": 123456}', JSON, 400),
        (b"{}", JSON, 400),
        (json.dumps({"code": "1" * 65}).encode(), JSON, 400),
        (b'{"code": "123456"}', {"Content-Type": "text/plain"}, 415),
        (json.dumps({"code": "1" * 9000}).encode(), JSON, 413),
    ):
        response = requests.post(
            f"{stack.base_url}{path}", data=data, headers={**headers, **bearer}, timeout=10
        )
        check("POST", path, response, status)
    check("POST", path, requests.post(f"{stack.base_url}{path}", json={}, timeout=10), 403)
    confirmed = totp_users.post(stack, path, {"code": totp_users.code_now(secret)}, token)
    codes = check("POST", path, confirmed, 200).json()["recovery_codes"]

    # On: the password alone now answers mfa_required.
    required = check("POST", "/auth/login", totp_users.login(stack, name, password), 401)
    assert required.json()["methods"] == ["totp", "recovery_code"]
    assert required.headers["WWW-Authenticate"] == 'Bearer error="mfa_required"'
    assert "Set-Cookie" not in required.headers

    # With the second factor, the step-up routes answer.
    done = totp_users.post(
        stack,
        "/auth/login/mfa",
        {"mfa_token": totp_users.mfa_token_of(required), "recovery_code": codes[0]},
    )
    strong = check("POST", "/auth/login/mfa", done, 200).json()["access_token"]
    assert totp_users.claims_of(strong)["amr"] == ["pwd", "otp", "mfa"]
    path = "/auth/mfa/recovery-codes"
    fresh = check("POST", path, totp_users.post(stack, path, token=strong), 200).json()
    assert not set(fresh["recovery_codes"]) & set(codes)
    path = "/auth/mfa/totp"
    check("DELETE", path, totp_users.delete(stack, path, strong), 204)
    off = check("DELETE", path, totp_users.delete(stack, path, strong), 404)
    assert off.json()["error"] == "not_found"
    path = "/auth/mfa/recovery-codes"
    check("POST", path, totp_users.post(stack, path, token=strong), 404)
    check("POST", "/auth/login", totp_users.login(stack, name, password), 200)


def test_the_mfa_routes_refuse_what_they_do_not_serve(local_stack: LocalStack):
    base = local_stack.base_url
    token = _login(local_stack, "body", **_credentials(USERS["alice"])).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for path, allowed in (
        ("/auth/mfa/totp", "POST, DELETE"),
        ("/auth/mfa/totp/confirm", "POST"),
        ("/auth/mfa/recovery-codes", "POST"),
    ):
        check("POST", path, requests.post(f"{base}{path}", timeout=10), 403)
        for method in ("GET", "PUT", "PATCH"):
            response = requests.request(method, f"{base}{path}", headers=bearer, timeout=10)
            check(method, path, response, 405, described_as="MethodNotAllowed")
            assert response.headers["Allow"] == allowed
    check("DELETE", "/auth/mfa/totp", requests.delete(f"{base}/auth/mfa/totp", timeout=10), 403)
    for method in ("GET", "PUT", "DELETE"):
        response = requests.request(method, f"{base}/auth/login/mfa", timeout=10)
        check(method, "/auth/login/mfa", response, 405, described_as="MethodNotAllowed")
        assert response.headers["Allow"] == "POST"


def test_second_step_answers_conform(local_stack: LocalStack):
    stack, path = local_stack, "/auth/login/mfa"
    user = totp_users.enrolled_user(stack, "openapi-mfa")

    def second_step(**body: str) -> requests.Response:
        return totp_users.post(stack, path, body)

    first = check("POST", "/auth/login", totp_users.login(stack, user.username, user.password), 401)
    mfa_token = totp_users.mfa_token_of(first)
    refused = check(
        "POST", path, second_step(mfa_token=mfa_token, code=totp_users.wrong_code(user.secret)), 401
    )
    assert refused.json()["error"] == "invalid_grant"
    unknown = second_step(
        mfa_token=secrets.token_urlsafe(32), code=totp_users.code_after(user.secret)
    )
    assert check("POST", path, unknown, 401).json()["error"] == "invalid_grant"
    for data, headers, status in (
        (json.dumps({"mfa_token": mfa_token}).encode(), JSON, 400),
        (
            json.dumps({"mfa_token": mfa_token, "code": "1", "recovery_code": "x"}).encode(),
            JSON,
            400,
        ),
        (b'{"code": "123456"}', JSON, 400),
        (json.dumps({"mfa_token": mfa_token, "code": 123456}).encode(), JSON, 400),
        (
            json.dumps({"mfa_token": mfa_token, "code": "1"}).encode(),
            {"Content-Type": "text/plain"},
            415,
        ),
        (json.dumps({"mfa_token": mfa_token, "code": "1" * 9000}).encode(), JSON, 413),
    ):
        response = requests.post(f"{stack.base_url}{path}", data=data, headers=headers, timeout=10)
        check("POST", path, response, status)
    cross_site = totp_users.post(
        stack,
        path,
        {"mfa_token": mfa_token, "code": totp_users.code_after(user.secret)},
        Origin="https://evil.example",
    )
    check("POST", path, cross_site, 403)
    # Nothing was consumed by the refusals: the pending login still completes.
    done = check(
        "POST", path, second_step(mfa_token=mfa_token, code=totp_users.code_after(user.secret)), 200
    )
    assert set(done.json()) >= {"access_token", "refresh_token"}
    assert "Set-Cookie" not in done.headers
    # Cookie delivery, asked at the first step, with a recovery code.
    first = totp_users.login(stack, user.username, user.password, delivery="cookie")
    by_cookie = second_step(
        mfa_token=totp_users.mfa_token_of(first), recovery_code=user.recovery_codes[0]
    )
    check("POST", path, by_cookie, 200)
    assert set(_cookie_values(by_cookie)) == {ACCESS_COOKIE, REFRESH_COOKIE}
    assert "access_token" not in by_cookie.json()


def test_a_locked_second_step_answers_429_with_retry_after(local_stack: LocalStack):
    stack, path = local_stack, "/auth/login/mfa"
    user = totp_users.enrolled_user(stack, "openapi-mfa")
    mfa_token = totp_users.mfa_token_of(totp_users.login(stack, user.username, user.password))
    wrong = {"mfa_token": mfa_token, "code": totp_users.wrong_code(user.secret)}
    statuses = []
    for _ in range(8):
        response = totp_users.post(stack, path, wrong)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses == [401] * 5 + [429], statuses
    check("POST", path, response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 900
    # Locked: even the right code is refused (and not spent).
    right = {"mfa_token": mfa_token, "code": totp_users.code_after(user.secret)}
    assert check("POST", path, totp_users.post(stack, path, right), 429).json()["error"] == (
        "too_many_requests"
    )
