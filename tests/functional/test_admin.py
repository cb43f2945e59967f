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


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """The admin's waits for the by_user index, recorded instead of slept."""
    waits = []
    monkeypatch.setattr(admin.time, "sleep", waits.append)
    return waits


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


class Terminal(io.StringIO):
    def isatty(self):
        return True


def prompted(*answers):
    """A prompt answering in turn, and what it was asked."""
    asked = []
    replies = iter(answers)

    def prompt(question):
        asked.append(question)
        return next(replies)

    return prompt, asked


def test_create_user_prompts_twice_on_a_terminal(tables):
    prompt, asked = prompted(DEMO_PASSWORD, DEMO_PASSWORD)
    out = io.StringIO()
    assert admin.main(["create-user", "carol"], stdin=Terminal(), stdout=out, prompt=prompt) == 0
    assert asked == ["Password: ", "Repeat: "]
    assert tables.admin.passwords.verify(
        tables.admin.users.get("carol").password_hash, DEMO_PASSWORD
    )
    assert DEMO_PASSWORD not in out.getvalue()


def test_a_mistyped_repeat_creates_nothing(tables):
    prompt, _ = prompted(DEMO_PASSWORD, DEMO_PASSWORD + "x")
    with pytest.raises(SystemExit, match="passwords differ"):
        admin.main(["create-user", "carol"], stdin=Terminal(), prompt=prompt)
    assert tables.admin.users.get("carol") is None


def test_stdin_is_read_only_to_the_end_of_the_first_line(tables):
    assert run(["create-user", "carol"], DEMO_PASSWORD + "\r\nsecond line\n")[0] == 0
    user = tables.admin.users.get("carol")
    assert tables.admin.passwords.verify(user.password_hash, DEMO_PASSWORD)


def fail_logins(login_as, times, **fields):
    return [login_as(password="wrong-password-123", **fields).status for _ in range(times)]


def test_show_reports_the_lock_and_unlock_ends_it(tables, demo_user, login_as):
    assert fail_logins(login_as, 5) == [401] * 5
    assert login_as().status == 429
    shown = json.loads(run(["show", "sam"])[1])
    assert shown["failed_logins"] == 5
    assert 55 <= shown["locked_for_seconds"] <= 60
    code, out = run(["unlock", "SAM"])
    assert (code, json.loads(out)) == (0, {"unlocked": "sam", "failed_logins_cleared": 5})
    shown = json.loads(run(["show", "sam"])[1])
    assert (shown["failed_logins"], shown["locked_for_seconds"]) == (0, 0)
    assert login_as().status == 200


def test_unlock_of_an_unknown_user_fails_and_creates_nothing(tables):
    code, _ = run(["unlock", "nobody"])
    assert code == 1
    assert tables.dynamodb.scan(TableName=tables.users_table)["Count"] == 0


def test_set_password_also_lifts_a_lock(tables, demo_user, login_as):
    fail_logins(login_as, 6)
    assert login_as().status == 429
    assert run(["set-password", "sam"], "a-brand-new-password\n")[0] == 0
    assert login_as(password="a-brand-new-password").status == 200


def test_show_and_unlock_never_print_secrets(tables, demo_user, login_as):
    fail_logins(login_as, 5)
    for command in (["show", "sam"], ["unlock", "sam"]):
        _, out = run(command)
        assert "argon2" not in out
        assert DEMO_PASSWORD not in out
        assert "wrong-password-123" not in out


@pytest.mark.parametrize("command", [["disable", "sam"], ["set-password", "sam"]])
def test_a_session_the_index_has_not_caught_up_with_is_revoked_by_the_second_sweep(
    tables, demo_user, login_as, sleeps, monkeypatch, command
):
    """The by_user index is eventually consistent (moto's is not): hide the newest session
    from the first listing, as a lagging index would, and it must still end."""
    from support import invoke, with_body

    from authcore.sessions.dynamo import DynamoSessionStore
    from functions.refresh import app as refresh

    older = login_as().body["refresh_token"]
    newest = login_as().body["refresh_token"]
    lagging = {newest.split(".")[0]}
    real_list = DynamoSessionStore.list_sids

    def list_sids(self, user_id, limit=None):
        sids = [sid for sid in real_list(self, user_id, limit) if sid not in lagging]
        lagging.clear()  # the index has caught up by the next listing
        return sids

    monkeypatch.setattr(DynamoSessionStore, "list_sids", list_sids)
    code, out = run(command, "a-brand-new-password\n")
    assert (code, json.loads(out)["sessions_revoked"]) == (0, 2)
    assert sleeps == [admin.INDEX_SETTLE_SECONDS]
    for token in (older, newest):
        answer = invoke(refresh, with_body("refresh.json", {"refresh_token": token}))
        assert answer.status == 401


# ---------------------------------------------------------------- addresses and invitations
@pytest.fixture
def mail_function(tables, monkeypatch, tmp_path):
    """The mail function's handler, run in process as ``invite`` would invoke it; what it
    sends lands in an outbox. Returns (runner, the jobs it ran, the mails)."""
    from support import LambdaContext

    from authcore.runtime import signing
    from functions.mail import app as mail_app

    outbox = tmp_path / "outbox"
    monkeypatch.setenv("LOCAL_OUTBOX_DIR", str(outbox))
    monkeypatch.setenv("APP_URL", "https://app.example.com")
    signing.reset()
    jobs = []

    def runner(job):
        jobs.append(dict(job))
        return mail_app.lambda_handler(dict(job), LambdaContext())["outcome"]

    def mails():
        names = sorted(outbox.glob("*.json")) if outbox.exists() else []
        return [json.loads(name.read_text()) for name in names]

    yield runner, jobs, mails
    signing.reset()


def invite(args, runner, stdin=""):
    out = io.StringIO()
    code = admin.main(["invite", *args], stdin=io.StringIO(stdin), stdout=out, mail=runner)
    return code, out.getvalue()


def accept(link, password):
    """POST /auth/password/reset with the link's token, as the accept-invite page does
    (the sessions' second sweep is handed to a stand-in for the mail function)."""
    from authcore.accounts.service import AccountService
    from authcore.runtime import signing

    class Jobs:
        def submit(self, job):
            pass

    service = AccountService(
        signing.settings(),
        users=signing.users(),
        passwords=signing.passwords(),
        sessions=signing.session_service(),
        jobs=Jobs(),
    )
    service.reset_password(link.split("#token=", 1)[1], password)


def first_link(mail):
    return next(word for word in mail["text"].split() if "#token=" in word)


def test_invite_creates_an_account_without_a_password_and_mails_the_link(
    tables, mail_function, login_as, capsys
):
    runner, jobs, mails = mail_function
    code, out = invite(["Dana", "--email", "Dana@Example.org", "--scope", "profile"], runner)
    assert code == 0, capsys.readouterr().err
    printed = json.loads(out)
    user = tables.admin.users.get("dana")
    assert printed == {"invited": "dana", "user_id": user.user_id, "mail": "sent"}
    assert (user.password_hash, user.scope) == ("", "profile")
    assert (user.email, user.email_verified) == ("dana@example.org", True)
    assert jobs == [{"job": "invite", "username": "dana"}]
    (mail,) = mails()
    assert mail["to"] == "dana@example.org"
    assert mail["subject"] == "You are invited"
    link = first_link(mail)
    assert link.startswith("https://app.example.com/accept-invite#token=")
    token = link.split("#token=", 1)[1]
    everything = out + "".join(capsys.readouterr())
    assert token not in everything, "the link is the invitee's alone"
    # No password works until the invitee chooses one; then theirs does.
    assert login_as("dana", "any-password-at-all").status == 401
    accept(link, "dana-chose-a-passphrase-of-her-own")
    assert login_as("dana", "dana-chose-a-passphrase-of-her-own").status == 200


def test_inviting_to_a_taken_address_or_name_creates_and_sends_nothing(
    tables, mail_function, capsys
):
    runner, jobs, mails = mail_function
    assert run(["create-user", "erin", "--email", "erin@example.org"], DEMO_PASSWORD)[0] == 0
    code, out = invite(["frank", "--email", "ERIN@example.org"], runner)
    assert (code, out) == (1, "")
    assert "the address ERIN@example.org belongs to another account" in capsys.readouterr().err
    assert tables.admin.users.get("frank") is None
    code, _ = invite(["erin", "--email", "erin@example.org"], runner)  # has a password
    assert code == 1
    assert "user erin already exists" in capsys.readouterr().err
    assert tables.admin.passwords.verify(
        tables.admin.users.get("erin").password_hash, DEMO_PASSWORD
    )
    assert (jobs, mails()) == ([], [])


def test_inviting_again_before_acceptance_sends_a_new_link_that_voids_the_old(
    tables, mail_function, login_as
):
    from authcore.errors import InvalidGrant

    runner, _, mails = mail_function
    assert invite(["gus", "--email", "gus@example.org"], runner)[0] == 0
    user_id = tables.admin.users.get("gus").user_id
    code, out = invite(["gus", "--email", "gus@example.org"], runner)
    assert (code, json.loads(out)["user_id"]) == (0, user_id)  # the same account
    first, second = (first_link(mail) for mail in mails())
    assert first != second
    with pytest.raises(InvalidGrant):
        accept(first, "gus-chose-a-passphrase-of-his-own")
    accept(second, "gus-chose-a-passphrase-of-his-own")
    assert login_as("gus", "gus-chose-a-passphrase-of-his-own").status == 200
    # Accepted: no more invitations (a reset is the way now).
    assert invite(["gus", "--email", "gus@example.org"], runner)[0] == 1
    assert len(mails()) == 2


def test_an_invitation_that_could_not_be_sent_says_so_and_can_be_retried(
    tables, mail_function, capsys
):
    runner, _, mails = mail_function

    def broken(job):
        raise admin.MailJobFailed("AccountMailFunction failed (TemporarilyUnavailable)")

    code, out = invite(["hana", "--email", "hana@example.org"], broken)
    assert (code, out) == (1, "")
    err = capsys.readouterr().err
    assert "created but the invitation was not sent" in err
    assert "run the same invite again" in err
    assert tables.admin.users.get("hana").password_hash == ""
    assert invite(["hana", "--email", "hana@example.org"], runner)[0] == 0
    assert [mail["to"] for mail in mails()] == ["hana@example.org"]


def test_invite_needs_a_mail_function_before_it_writes_anything(tables, monkeypatch, capsys):
    monkeypatch.delenv("MAIL_FUNCTION", raising=False)
    code = admin.main(["invite", "ivy", "--email", "ivy@example.org"], stdout=io.StringIO())
    assert code == 1
    assert "MAIL_FUNCTION is not set" in capsys.readouterr().err
    assert tables.admin.users.get("ivy") is None


def test_the_mail_functions_answer_is_read_from_the_lambda_invoke():
    class Client:
        def __init__(self, answer):
            self.answer = answer
            self.calls = []

        def invoke(self, **arguments):
            self.calls.append(arguments)
            return {**self.answer, "Payload": io.BytesIO(self.answer["Payload"])}

    good = Client({"StatusCode": 200, "Payload": b'{"job": "invite", "outcome": "sent"}'})
    assert admin.LambdaMail(good, "Mail")({"job": "invite", "username": "x"}) == "sent"
    (call,) = good.calls
    assert call["FunctionName"] == "Mail"
    assert call["InvocationType"] == "RequestResponse"  # the admin is owed the outcome
    assert json.loads(call["Payload"]) == {"job": "invite", "username": "x"}
    failed = Client(
        {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": b'{"errorType": "TemporarilyUnavailable", "errorMessage": "x"}',
        }
    )
    with pytest.raises(admin.MailJobFailed, match="TemporarilyUnavailable"):
        admin.LambdaMail(failed, "Mail")({"job": "invite", "username": "x"})


def test_an_address_given_by_the_admin_is_verified_and_unique(
    tables, login_as, monkeypatch, capsys
):
    monkeypatch.setenv("SIGNUP_REQUIRE_VERIFIED_EMAIL", "true")
    code, _ = run(["create-user", "jo", "--email", "Jo@Example.org"], DEMO_PASSWORD + "\n")
    assert code == 0
    shown = json.loads(run(["show", "jo"])[1])
    assert (shown["email"], shown["email_verified"]) == ("jo@example.org", True)
    assert login_as("jo").status == 200  # verified: no email_not_verified
    assert run(["create-user", "kim", "--email", "jo@EXAMPLE.org"], DEMO_PASSWORD)[0] == 1
    assert "the address jo@EXAMPLE.org belongs to another account" in capsys.readouterr().err
    assert tables.admin.users.get("kim") is None
