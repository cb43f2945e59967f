import io
import json

import pytest
from support import DEMO_PASSWORD

from infra import admin


def run(args, stdin=""):
    out = io.StringIO()
    code = admin.main(args, stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue()


@pytest.fixture
def tables(stack, monkeypatch):
    monkeypatch.setenv("USERS_TABLE", stack.users_table)
    monkeypatch.setenv("SESSIONS_TABLE", stack.sessions_table)
    return stack


def test_create_user_reads_the_password_from_stdin_and_show_never_prints_the_hash(tables):
    code, out = run(["create-user", "Alice", "--scope", "profile admin"], DEMO_PASSWORD + "\n")
    assert code == 0
    assert json.loads(out)["created"] == "alice"
    code, out = run(["show", "ALICE"])
    shown = json.loads(out)
    assert code == 0
    assert shown["username"] == "alice"
    assert shown["scope"] == "profile admin"
    assert "argon2" not in out
    assert "password" not in out
    assert DEMO_PASSWORD not in out


def test_create_duplicate_user_fails(tables):
    assert run(["create-user", "bob"], DEMO_PASSWORD)[0] == 0
    assert run(["create-user", "BOB"], DEMO_PASSWORD)[0] == 1


def test_short_password_is_refused(tables):
    assert run(["create-user", "bob"], "short")[0] == 1


def test_password_is_never_an_argument():
    with pytest.raises(SystemExit):
        admin.main(["create-user", "bob", "--password", DEMO_PASSWORD])


def test_disable_and_set_password_revoke_every_session(tables, demo_user, login_as):
    from support import invoke, with_body

    from functions.refresh import app as refresh

    def refresh_ok(token):
        return invoke(refresh, with_body("refresh.json", {"refresh_token": token})).status == 200

    token = login_as().body["refresh_token"]
    code, out = run(["disable", "sam"])
    assert (code, json.loads(out)) == (0, {"sessions_revoked": 1})
    assert login_as().status == 401
    assert not refresh_ok(token)
    assert run(["enable", "sam"])[0] == 0
    token = login_as().body["refresh_token"]
    assert run(["set-password", "sam"], "a-brand-new-password\n")[0] == 0
    assert not refresh_ok(token)
    assert login_as().status == 401
    assert login_as(password="a-brand-new-password").status == 200


def test_unknown_user(tables):
    assert run(["show", "nobody"])[0] == 1
    assert run(["disable", "nobody"])[0] == 1
