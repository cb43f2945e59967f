"""The local stack's machine clients (contract §9) without serving HTTP: LOCAL_CLIENTS_FILE
read, checked and seeded (secrets digested with the very pepper the OAuth function gets),
the admin environment carrying that pepper and the clients table, and the startup text."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from authcore.clients.dynamo import DynamoClientStore
from infra import template
from infra.local.stack import (
    LocalStack,
    SetupError,
    clients_to_seed,
    walkthrough,
    write_env_file,
)
from tests.e2e.machine_clients import CLIENT_KEY, public_jwk

pytestmark = pytest.mark.e2e

JWKS = {"keys": [public_jwk(CLIENT_KEY, "k1")]}


def clients_file(tmp_path: Path, entries: Any) -> dict[str, str]:
    path = tmp_path / "clients.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return {"LOCAL_CLIENTS_FILE": str(path)}


def test_no_file_no_clients():
    assert clients_to_seed({}) == []


def test_the_file_gives_secret_and_key_clients(tmp_path):
    environ = clients_file(
        tmp_path,
        [
            {"client_id": "job-one", "client_secret": "chosen by the developer", "scope": "a b"},
            {"client_id": "job-two", "jwks": JWKS},
        ],
    )
    one, two = clients_to_seed(environ)
    assert (one.client_id, one.scope, one.client_secret, one.jwks) == (
        "job-one",
        "a b",
        "chosen by the developer",
        None,
    )
    assert (two.client_id, two.scope, two.client_secret, two.jwks) == ("job-two", "", None, JWKS)
    assert "chosen by the developer" not in repr(one)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"client_id": "x"}, "expected a JSON array of clients"),
        ([{"client_secret": "s"}], "client 0 needs a string client_id"),
        (["job-one"], "client 0 needs a string client_id"),
        ([{"client_id": "job-one", "scope": "a"}], "'job-one': give either client_secret or jwks"),
        (
            [{"client_id": "job-one", "client_secret": "s", "jwks": JWKS}],
            "give either client_secret or jwks",
        ),
        ([{"client_id": "job-one", "secret": "s"}], "unknown member secret"),
        ([{"client_id": "job-one", "client_secret": "s", "scope": ["a"]}], "scope must be"),
        ([{"client_id": "job-one", "client_secret": ""}], "non-empty string"),
        (
            [
                {
                    "client_id": "job-one",
                    "jwks": {"keys": [{**JWKS["keys"][0], "d": "AAAA"}]},
                }
            ],
            "jwks: key 0 holds private members (d)",
        ),
        ("[{not json", "Expecting property name"),
    ],
)
def test_a_bad_file_stops_the_stack_with_a_clear_error(tmp_path, entries, message):
    stack = LocalStack(3999, lambda _line: None, clients_file(tmp_path, entries))
    with pytest.raises(SetupError, match=r"clients\.json") as error:
        stack.seed_clients()
    assert message in str(error.value)


def test_a_missing_file_stops_the_stack(tmp_path):
    stack = LocalStack(3999, lambda _line: None, {"LOCAL_CLIENTS_FILE": str(tmp_path / "no")})
    with pytest.raises(SetupError, match="No such file"):
        stack.seed_clients()


@pytest.fixture
def started(tmp_path):
    """A stack with its moto and tables, no functions: enough to seed."""
    made: list[LocalStack] = []

    def start(environ: dict[str, str]) -> LocalStack:
        stack = LocalStack(3999, lambda _line: None, environ)
        made.append(stack)
        stack.start_moto()
        stack.create_resources()
        return stack

    yield start
    for stack in made:
        stack.stop()


def test_seeded_secrets_are_digested_with_the_oauth_functions_pepper(tmp_path, started):
    secret = "chosen+by/the:developer%"
    stack = started(
        clients_file(
            tmp_path,
            [
                {"client_id": "job-one", "client_secret": secret, "scope": "reports:read"},
                {"client_id": "job-two", "jwks": JWKS, "scope": "a"},
            ],
        )
    )
    assert stack.seed_clients() == ["job-one", "job-two"]
    pepper = stack.function_specs()["OAuthFunction"].environment["CLIENT_SECRET_PEPPER"]
    assert len(pepper) >= 32
    admin = stack.admin_environment()
    assert admin["CLIENT_SECRET_PEPPER"] == pepper
    assert admin["CLIENTS_TABLE"] == stack.tables["ClientsTable"]
    store = DynamoClientStore(stack.dynamodb(), stack.tables["ClientsTable"])
    one, two = store.get("job-one"), store.get("job-two")
    assert one is not None
    assert two is not None
    (stored,) = one.secrets
    assert stored.digest == hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert one.scope == frozenset({"reports:read"})
    assert (two.secrets, two.jwks) == ((), JWKS)
    items = stack.dynamodb().scan(TableName=stack.tables["ClientsTable"])["Items"]
    assert secret not in json.dumps(items)


def test_the_pepper_is_generated_once_per_start_unless_given(started, tmp_path):
    stack = started({})
    first = stack.admin_environment()["CLIENT_SECRET_PEPPER"]
    assert first == stack.function_variable("CLIENT_SECRET_PEPPER")
    assert {
        spec.environment.get("CLIENT_SECRET_PEPPER") for spec in stack.function_specs().values()
    } - {None} == {first}
    given = "p" * 40
    assert (
        started({"CLIENT_SECRET_PEPPER": given}).admin_environment()["CLIENT_SECRET_PEPPER"]
        == given
    )


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [
                {"client_id": "job-one", "client_secret": "s"},
                {"client_id": "job-one", "client_secret": "t"},
            ],
            "client 'job-one' is listed twice",
        ),
        (
            [{"client_id": str(uuid.uuid4()), "client_secret": "s"}],
            "must not be a UUID",
        ),
        ([{"client_id": "job-one", "client_secret": "s", "scope": 'a "b'}], "scope must be"),
    ],
)
def test_clients_the_store_refuses_stop_the_stack(tmp_path, started, entries, message):
    stack = started(clients_file(tmp_path, entries))
    with pytest.raises(SetupError, match=r"cannot create client|listed twice") as error:
        stack.seed_clients()
    assert message in str(error.value)


def test_the_env_file_is_its_owners_alone_and_the_text_never_shows_the_pepper(tmp_path):
    pepper = "q" * 48
    variables = {"CLIENTS_TABLE": "local-ClientsTable", "CLIENT_SECRET_PEPPER": pepper}
    env_file = tmp_path / "env"
    env_file.write_text("old")
    env_file.chmod(0o644)
    write_env_file(env_file, variables)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"export CLIENT_SECRET_PEPPER={pepper}" in env_file.read_text()
    text = walkthrough("http://localhost:3999", False, variables, env_file, clients=["job-one"])
    assert pepper not in text
    assert "export CLIENT_SECRET_PEPPER=<in the file>" in text
    assert "export CLIENTS_TABLE=local-ClientsTable" in text
    assert "http://localhost:3999/oauth2/token" in text
    assert "Created from LOCAL_CLIENTS_FILE: job-one" in text


def test_the_template_gives_the_pepper_to_the_oauth_function():
    env = template.functions()["OAuthFunction"].environment
    assert "CLIENT_SECRET_PEPPER" in env
    assert "CLIENTS_TABLE" in env
