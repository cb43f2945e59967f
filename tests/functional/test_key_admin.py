"""`python -m infra.keys`: list, rotate and the emergency revoke, against moto."""

import io
import json

import pytest
from support import load_event

from authcore.keys.table import KeyTable
from functions.authorizer import app as authorizer
from infra import keys


def run(*args):
    out = io.StringIO()
    code = keys.main(list(args), stdout=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


@pytest.fixture
def environment(stack, monkeypatch):
    monkeypatch.setenv("STACK_NAME", "local")
    return stack


def test_list_shows_states_and_never_private_material(environment):
    code, result = run("list")
    assert code == 0
    assert sorted(k["state"] for k in result["keys"]) == ["current", "pending"]
    assert all(set(k) == {"kid", "alg", "state", "since"} for k in result["keys"])


def test_revoke_retires_the_key_promotes_the_pending_one_and_reports_sessions(
    environment, demo_user, login_as, jwks_server
):
    first = login_as().body["access_token"]
    sid = login_as().body["refresh_token"].split(".")[0]
    compromised = environment.key_id
    code, result = run("revoke", compromised)
    assert code == 0
    assert result["retired"] == [compromised]
    assert result["promoted"]
    reported = {s["sid"] for s in result["sessions_to_reauthenticate"]}
    assert sid in reported
    assert all(s["username"] == "sam" for s in result["sessions_to_reauthenticate"])
    states = {r.kid: r.state for r in KeyTable(environment.dynamodb, "keys").load()}
    assert states[compromised] == "retired"
    assert states[result["promoted"]] == "current"
    # The authorizer refuses the revoked key's tokens from its next ring reload.
    jwks_server.jwks = json.dumps(environment.jwks()).encode()
    authorizer.runtime.reset()
    event = load_event("authorizer.json")
    event["headers"]["authorization"] = f"Bearer {first}"
    assert authorizer.lambda_handler(event, None) == {"isAuthorized": False}


def test_revoking_an_unknown_key_fails(environment):
    assert run("revoke", "no-such-kid")[0] == 1


def test_rotate_runs_one_step(environment):
    code, result = run("rotate")
    assert code == 0
    assert result == {"created": [], "promoted": None, "retired": []}
