"""The admin command line's machine clients (contract §9), each command's effect seen
through the real token endpoint (the OAuth handler over moto): secrets printed once and
stored only as digests, rotation's overlap, revocation, disabling, scopes, quotas, keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from support import Answer, invoke, load_event

from authcore.runtime import signing
from functions.oauth import app as oauth_app
from infra import admin, admin_clients

PEPPER = "a-pepper-of-at-least-thirty-two-characters"
ISSUER = "https://abc123.execute-api.us-east-1.amazonaws.com"


@pytest.fixture
def clients(stack, monkeypatch):
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", PEPPER)
    signing.reset()
    return stack


def run(args: list[str]) -> tuple[int, Any]:
    out = io.StringIO()
    code = admin.main(args, stdout=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def grant(client_id: str, secret: str, **form: str) -> Answer:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    event = load_event("login.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/oauth2/token"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /oauth2/token"
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    event["headers"]["authorization"] = "Basic " + base64.b64encode(pair).decode()
    event["body"] = urlencode({"grant_type": "client_credentials", **form})
    return invoke(oauth_app, event)


def items(stack) -> list[dict[str, Any]]:
    return stack.dynamodb.scan(TableName="clients")["Items"]


def create(client_id: str = "reports-job", *more: str) -> dict[str, Any]:
    scope = "reports:read reports:write"
    code, printed = run(["create-client", client_id, "--scope", scope, *more])
    assert code == 0
    return printed


# ------------------------------------------------------------------ create, list
def test_create_prints_the_secret_once_and_stores_only_its_digest(clients, capsys):
    printed = create()
    secret = printed["client_secret"]
    assert printed["created"] == printed["client_id"] == "reports-job"
    assert (printed["scope"], printed["status"]) == ("reports:read reports:write", "active")
    assert len(secret) >= 43  # 256 bits
    assert "shown this once" in capsys.readouterr().err
    (item,) = items(clients)
    stored = json.dumps(item)
    assert secret not in stored
    digest = hmac.new(PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert item["secrets"]["L"][0]["M"]["digest"]["S"] == digest
    assert grant("reports-job", secret).status == 200
    # Listed: never the secret nor its digest.
    code, listed = run(["list-clients"])
    assert code == 0
    (shown,) = listed
    assert secret not in json.dumps(listed)
    assert digest not in json.dumps(listed)
    assert "client_secret" not in shown
    assert shown["secrets"] == printed["secrets"]
    assert [set(s) for s in shown["secrets"]] == [{"secret_id", "expires_at", "live"}]
    assert shown["secrets"][0]["live"] is True
    assert (shown["quota_per_hour"], shown["jwks_kids"], shown["auth"]) == (
        None,
        [],
        "client_secret",
    )


def test_create_refuses_a_taken_id_a_uuid_and_bad_scopes(clients, capsys):
    create()
    assert run(["create-client", "reports-job"])[0] == 1
    assert "client reports-job already exists" in capsys.readouterr().err
    assert run(["create-client", "0b6f7a4e-8a59-4d43-9d55-2b7a3c4e5f60"])[0] == 1
    assert "UUID" in capsys.readouterr().err
    assert run(["create-client", "other-job", "--scope", 'a "b'])[0] == 1
    assert run(["create-client", "other-job", "--quota", "-1"])[0] == 1
    assert [i["client_id"]["S"] for i in items(clients)] == ["reports-job"]


def test_a_new_secret_needs_the_pepper_and_nothing_is_written_without_it(
    clients, monkeypatch, capsys
):
    monkeypatch.delenv("CLIENT_SECRET_PEPPER")
    code, printed = run(["create-client", "reports-job"])
    assert (code, printed) == (1, None)
    assert "CLIENT_SECRET_PEPPER is not set (or give --stack)" in capsys.readouterr().err
    assert items(clients) == []
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", "short")
    assert run(["create-client", "reports-job"])[0] == 1
    assert "at least 32 characters" in capsys.readouterr().err
    assert items(clients) == []


def test_commands_that_make_no_secret_need_no_pepper(clients, monkeypatch):
    create()
    monkeypatch.delenv("CLIENT_SECRET_PEPPER")
    assert run(["list-clients"])[0] == 0
    assert run(["set-quota", "reports-job", "7"])[1]["quota_per_hour"] == 7
    assert run(["disable-client", "reports-job"])[1]["status"] == "disabled"


def test_the_table_must_be_named(clients, monkeypatch, capsys):
    monkeypatch.delenv("CLIENTS_TABLE")
    assert run(["list-clients"])[0] == 1
    assert "CLIENTS_TABLE is not set (or give --stack)" in capsys.readouterr().err


# ------------------------------------------------------------------ secrets
def test_rotation_overlaps_then_revoking_the_old_secret_ends_it(clients):
    first = create()
    old_id = first["secrets"][0]["secret_id"]
    code, rotated = run(["rotate-secret", "reports-job"])
    assert code == 0
    second = rotated["client_secret"]
    assert second != first["client_secret"]
    assert rotated["secrets"][0]["secret_id"] == old_id  # oldest first
    assert len(rotated["secrets"]) == 2
    # The overlap: both work while the client's deployments switch.
    assert grant("reports-job", first["client_secret"]).status == 200
    assert grant("reports-job", second).status == 200
    code, after = run(["revoke-secret", "reports-job", old_id])
    assert code == 0
    assert old_id not in [s["secret_id"] for s in after["secrets"]]
    refused = grant("reports-job", first["client_secret"])
    assert (refused.status, refused.body["error"]) == (401, "invalid_client")
    assert grant("reports-job", second).status == 200
    assert second not in json.dumps(after)
    assert second not in json.dumps(items(clients))


def test_at_most_two_secrets_stay_live(clients):
    first = create()["client_secret"]
    second = run(["rotate-secret", "reports-job"])[1]["client_secret"]
    code, third = run(["rotate-secret", "reports-job"])
    assert code == 0
    assert len(third["secrets"]) == 2
    assert grant("reports-job", first).status == 401  # the oldest went
    assert grant("reports-job", second).status == 200
    assert grant("reports-job", third["client_secret"]).status == 200


def test_revoking_an_unknown_secret_or_client_fails(clients, capsys):
    create()
    assert run(["revoke-secret", "reports-job", "nope"])[0] == 1
    assert "has no secret nope" in capsys.readouterr().err
    for command in (
        ["rotate-secret", "nobody-here"],
        ["revoke-secret", "nobody-here", "x"],
        ["disable-client", "nobody-here"],
        ["set-scopes", "nobody-here", "--scope", "a"],
        ["set-quota", "nobody-here", "1"],
    ):
        assert run(command)[0] == 1
        assert "no such client: nobody-here" in capsys.readouterr().err


def test_a_concurrent_edit_is_redone_on_the_fresh_client(clients, monkeypatch):
    """Another administrator's write between our read and our write: ours is applied
    again to what they wrote, never over it."""
    create()
    store = admin_clients.DynamoClientStore
    real_replace = store.replace
    raced = []

    def replace_after_a_rival(self, before, after):
        if not raced:
            raced.append(True)
            real_replace(self, before, admin_clients.replace(before, quota_per_hour=9))
        return real_replace(self, before, after)

    monkeypatch.setattr(store, "replace", replace_after_a_rival)
    code, printed = run(["set-scopes", "reports-job", "--scope", "reports:read"])
    assert code == 0
    assert (printed["scope"], printed["quota_per_hour"]) == ("reports:read", 9)


# ------------------------------------------------------------------ status, scopes, quota
def test_disable_and_enable(clients):
    secret = create()["client_secret"]
    assert run(["disable-client", "reports-job"])[1]["status"] == "disabled"
    assert grant("reports-job", secret).status == 401
    assert run(["enable-client", "reports-job"])[1]["status"] == "active"
    assert grant("reports-job", secret).status == 200


def test_set_scopes(clients):
    secret = create()["client_secret"]
    code, printed = run(["set-scopes", "reports-job", "--scope", "audit:read"])
    assert (code, printed["scope"]) == (0, "audit:read")
    assert grant("reports-job", secret).body["scope"] == "audit:read"
    refused = grant("reports-job", secret, scope="reports:read")
    assert (refused.status, refused.body["error"]) == (400, "invalid_scope")
    assert run(["set-scopes", "reports-job", "--scope", "bad\\scope"])[0] == 1


def test_set_quota(clients):
    secret = create()["client_secret"]
    code, printed = run(["set-quota", "reports-job", "2"])
    assert (code, printed["quota_per_hour"]) == (0, 2)
    assert [grant("reports-job", secret).status for _ in range(3)] == [200, 200, 429]
    assert run(["set-quota", "reports-job", "0"])[1]["quota_per_hour"] is None  # the default
    assert grant("reports-job", secret).status == 200
    assert run(["set-quota", "reports-job", "10000001"])[0] == 1


def test_quota_at_creation(clients):
    printed = create("quota-job", "--quota", "1")
    assert printed["quota_per_hour"] == 1
    assert [grant("quota-job", printed["client_secret"]).status for _ in range(2)] == [200, 429]


# ------------------------------------------------------------------ private_key_jwt
def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str = "k1") -> dict[str, Any]:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


def assertion(key: ec.EllipticCurvePrivateKey, client_id: str, kid: str = "k1") -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "jti": f"j-{now}-{kid}",
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def test_a_jwks_client_has_no_secret_and_authenticates_with_its_key(clients, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk(key)]}))
    code, printed = run(["create-client", "signed-job", "--scope", "a", "--jwks", str(jwks)])
    assert code == 0
    assert "client_secret" not in printed
    assert (printed["auth"], printed["secrets"], printed["jwks_kids"]) == (
        "private_key_jwt",
        [],
        ["k1"],
    )
    event = load_event("login.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/oauth2/token"
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /oauth2/token"
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    event["body"] = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(key, "signed-job"),
        }
    )
    answer = invoke(oauth_app, event)
    assert (answer.status, answer.body["scope"]) == (200, "a")
    # It has no secret to rotate.
    assert run(["rotate-secret", "signed-job"])[0] == 1


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("private", "holds private members (d)"),
        ("symmetric", "holds private members (k)"),
        ("not a set", "expected a JWK set"),
        ("empty", "has no keys"),
        ("twice", "kid 'k1' is given twice"),
        ("no kids", "each needs a kid"),
        ("off the curve", "not a usable key"),
        ("not json", "jwks.json"),
    ],
)
def test_a_key_set_that_is_not_public_signing_keys_is_refused(
    clients, tmp_path, capsys, keys, message
):
    key = ec.generate_private_key(ec.SECP256R1())
    public = public_jwk(key)
    documents = {
        "private": {"keys": [jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)]},
        "symmetric": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        "not a set": [public],
        "empty": {"keys": []},
        "twice": {"keys": [public, public]},
        "no kids": {"keys": [public, {k: v for k, v in public.items() if k != "kid"}]},
        "off the curve": {"keys": [{**public, "y": public["x"]}]},
    }
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(documents[keys]) if keys in documents else "{nope")
    assert run(["create-client", "signed-job", "--jwks", str(path)])[0] == 1
    assert message in capsys.readouterr().err
    assert items(clients) == []


# ------------------------------------------------------------------ a deployed stack
@pytest.fixture
def deployed(clients, monkeypatch):
    """--stack: the outputs as CloudFormation gives them, the pepper in (moto's)
    Secrets Manager as the template generates it."""
    import boto3

    generated = "g" * 64
    arn = boto3.client("secretsmanager").create_secret(Name="pepper", SecretString=generated)["ARN"]
    outputs = {"ClientsTableName": "clients", "ClientSecretPepperSecretArn": arn}
    monkeypatch.setattr(admin, "stack_outputs", lambda stack: outputs)
    monkeypatch.delenv("CLIENT_SECRET_PEPPER")
    monkeypatch.delenv("CLIENTS_TABLE")
    return outputs, generated


def as_deployed(monkeypatch, pepper: str) -> None:
    """The OAuth function's environment, as the stack configures it."""
    monkeypatch.setenv("CLIENTS_TABLE", "clients")
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", pepper)
    signing.reset()


def test_with_stack_the_pepper_is_the_generated_secret(deployed, clients, monkeypatch):
    _, generated = deployed
    code, printed = run(["--stack", "prod", "create-client", "reports-job"])
    assert code == 0
    (item,) = items(clients)
    digest = hmac.new(generated.encode(), printed["client_secret"].encode(), hashlib.sha256)
    assert item["secrets"]["L"][0]["M"]["digest"]["S"] == digest.hexdigest()
    # The token endpoint, configured with the same pepper, takes it.
    as_deployed(monkeypatch, generated)
    assert grant("reports-job", printed["client_secret"]).status == 200


def test_with_stack_a_different_pepper_in_the_environment_is_refused(
    deployed, clients, monkeypatch, capsys
):
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", PEPPER)
    assert run(["--stack", "prod", "create-client", "reports-job"])[0] == 1
    assert "differs from the pepper stack prod generated" in capsys.readouterr().err
    assert items(clients) == []


def test_a_stack_with_its_own_pepper_needs_it_in_the_environment(
    deployed, clients, monkeypatch, capsys
):
    outputs, _ = deployed
    del outputs["ClientSecretPepperSecretArn"]
    assert run(["--stack", "prod", "create-client", "reports-job"])[0] == 1
    assert "deployed with its own ClientSecretPepper" in capsys.readouterr().err
    assert items(clients) == []
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", PEPPER)
    printed = run(["--stack", "prod", "create-client", "reports-job"])[1]
    as_deployed(monkeypatch, PEPPER)
    assert grant("reports-job", printed["client_secret"]).status == 200
