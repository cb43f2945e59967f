"""The local stack's own pieces for the account mails, without starting it: the Lambda
Invoke API (through boto3, as the functions and the admin command line call it), the
functions' environment (where mail goes, where links lead, how Lambda is reached), the
seeded users' addresses, and the local outbox page."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra import template
from infra.local.gateway import Request
from infra.local.invoke import AsyncConfig, LambdaApi, function_name, lambda_server
from infra.local.outbox import OUTBOX_PATH, OutboxPage, first_link, read_mails
from infra.local.pool import FunctionPool, FunctionSpec
from infra.local.stack import DEFAULT_OUTBOX_DIR, LocalStack, async_configs, users_to_seed

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 20


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


# ---------------------------------------------------------------- the Invoke API
@pytest.fixture
def lambda_api(tmp_path):
    """The Invoke API over one fake function that records each run (with its request
    id) in a file, and fails when the event asks it to."""
    (tmp_path / "fake_jobs.py").write_text(
        textwrap.dedent(
            """
            import json, os

            def handler(event, context):
                with open(os.environ["RUNS"], "a") as runs:
                    runs.write(json.dumps({"id": context.aws_request_id, "event": event}) + "\\n")
                if isinstance(event, dict) and event.get("mode") == "crash":
                    raise RuntimeError("boom: a secret the answer must not echo")
                return {"echo": event}
            """
        )
    )
    runs = tmp_path / "runs.jsonl"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{template.ROOT}{os.pathsep}{tmp_path}",
        "RUNS": str(runs),
    }
    lines: list[str] = []
    spec = FunctionSpec("Jobs", "fake_jobs", "handler", env, 128, 5)
    pools = {"Jobs": FunctionPool(spec, lines.append)}
    api = LambdaApi(pools, lines.append, {"Jobs": AsyncConfig(max_retries=2)}, (0.0, 0.0))
    server = lambda_server(api, lines.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        config=Config(retries={"total_max_attempts": 1}),
    )

    def recorded() -> list[dict]:
        if not runs.exists():
            return []
        return [json.loads(line) for line in runs.read_text().splitlines()]

    yield client, recorded, lines
    api.close()
    server.shutdown()
    server.server_close()
    pools["Jobs"].close()


def test_a_synchronous_invocation_answers_the_functions_result(lambda_api):
    client, recorded, _ = lambda_api
    answer = client.invoke(FunctionName="Jobs", Payload=json.dumps({"job": "invite"}))
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"].read()) == {"echo": {"job": "invite"}}
    assert [run["event"] for run in recorded()] == [{"job": "invite"}]


def test_a_failed_synchronous_invocation_is_200_with_the_function_error(lambda_api):
    client, _, _ = lambda_api
    answer = client.invoke(FunctionName="Jobs", Payload=json.dumps({"mode": "crash"}))
    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    payload = answer["Payload"].read().decode()
    assert json.loads(payload)["errorType"] == "RuntimeError"
    assert "secret" not in payload


@pytest.mark.parametrize(
    "name",
    [
        "Jobs",
        "Jobs:$LATEST",
        "123456789012:function:Jobs",
        "arn:aws:lambda:us-east-1:123456789012:function:Jobs",
    ],
)
def test_every_form_of_a_functions_name_reaches_it(lambda_api, name):
    client, _, _ = lambda_api
    assert client.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


@pytest.mark.parametrize(
    "name",
    [
        "Nope",
        "Jobs:7",  # a version that does not exist here
        "arn:aws:lambda:us-east-1:210987654321:function:Jobs",  # another account's
        "arn:aws:lambda:eu-west-1:123456789012:function:Jobs",  # another region's
    ],
)
def test_an_unknown_function_is_resource_not_found(lambda_api, name):
    client, recorded, _ = lambda_api
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName=name, Payload=b"{}", InvocationType="Event")
    error = raised.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found" in error["Error"]["Message"]
    assert recorded() == []


def test_a_payload_that_is_no_json_is_refused_before_the_function_runs(lambda_api):
    client, recorded, _ = lambda_api
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="Jobs", Payload=b"{not json")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert client.invoke(FunctionName="Jobs", InvocationType="DryRun")["StatusCode"] == 204
    assert recorded() == []


def test_an_event_invocation_answers_202_at_once_and_runs_in_the_background(lambda_api):
    client, recorded, _ = lambda_api
    answer = client.invoke(
        FunctionName="Jobs", InvocationType="Event", Payload=json.dumps({"job": "reset"})
    )
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    runs = wait_for(recorded, "the event to run")
    assert [run["event"] for run in runs] == [{"job": "reset"}]


def test_a_failing_event_is_retried_twice_with_its_request_id_then_dropped(lambda_api):
    client, recorded, lines = lambda_api
    client.invoke(FunctionName="Jobs", InvocationType="Event", Payload=b'{"mode": "crash"}')
    wait_for(lambda: any("dropped" in line for line in lines), "the event to be dropped")
    runs = recorded()
    assert len(runs) == 3, runs
    assert len({run["id"] for run in runs}) == 1  # one invocation, three attempts
    retries = [line for line in lines if line.startswith("[lambda] Jobs event")]
    assert [("retrying" in line, "dropped" in line) for line in retries] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    assert not any("secret" in line for line in retries)


def test_boto3_finds_the_api_through_aws_endpoint_url_lambda(lambda_api, monkeypatch):
    """What the stack relies on: the service-specific variable sends Lambda calls there,
    and only those (DynamoDB keeps AWS_ENDPOINT_URL)."""
    client, _, _ = lambda_api
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", client.meta.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert boto3.client("lambda").meta.endpoint_url == client.meta.endpoint_url
    assert boto3.client("dynamodb").meta.endpoint_url == "http://127.0.0.1:9"
    answer = boto3.client("lambda").invoke(FunctionName="Jobs", Payload=b'{"job": "x"}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"job": "x"}}


def test_function_names_parse_like_lambdas():
    assert function_name("Jobs", None) == ("Jobs", None)
    assert function_name("Jobs%3A%24LATEST", None) == ("Jobs", "$LATEST")
    assert function_name("Jobs", "$LATEST") == ("Jobs", "$LATEST")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:Jobs:live"
    assert function_name(arn, None) == ("Jobs", "live")


def test_the_retries_come_from_the_templates_event_invoke_config():
    configs = async_configs()
    mail = template.resources("AWS::Serverless::Function")["AccountMailFunction"]
    expected = mail["Properties"]["EventInvokeConfig"]
    assert configs["AccountMailFunction"] == AsyncConfig(
        expected["MaximumRetryAttempts"], expected["MaximumEventAgeInSeconds"]
    )
    assert configs["LoginFunction"] == AsyncConfig()  # Lambda's defaults


# ---------------------------------------------------------------- the environment
def specs_of(environ: dict[str, str]) -> tuple[LocalStack, dict[str, dict[str, str]]]:
    stack = LocalStack(port=3999, log=lambda _line: None, environ=environ)
    stack.tables = {name: f"local-{name}" for name in template.resources("AWS::DynamoDB::Table")}
    stack.endpoint = "http://127.0.0.1:9"
    stack.lambda_endpoint = "http://127.0.0.1:8"
    return stack, {name: spec.environment for name, spec in stack.function_specs().items()}


def test_every_function_reaches_the_local_lambda_api_and_writes_mail_to_the_outbox():
    stack, specs = specs_of({})
    for name, env in specs.items():
        assert env["AWS_ENDPOINT_URL_LAMBDA"] == "http://127.0.0.1:8", name
        assert env["LOCAL_OUTBOX_DIR"] == str(DEFAULT_OUTBOX_DIR), name
    assert DEFAULT_OUTBOX_DIR == template.ROOT / ".local" / "outbox"
    # The links in mails lead to the local origin; sign-up stays closed by default.
    assert specs["AccountMailFunction"]["APP_URL"] == stack.origin
    assert specs["SignupFunction"]["SIGNUP_ENABLED"] == "false"
    assert specs["PasswordFunction"]["MAIL_FUNCTION"] == "AccountMailFunction"
    admin = stack.admin_environment()
    assert admin["MAIL_FUNCTION"] == "AccountMailFunction"
    assert admin["AWS_ENDPOINT_URL_LAMBDA"] == "http://127.0.0.1:8"
    assert admin["LOCAL_OUTBOX_DIR"] == str(DEFAULT_OUTBOX_DIR)


def test_the_environment_overrides_the_outbox_the_app_url_and_sign_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, specs = specs_of(
        {
            "LOCAL_OUTBOX_DIR": "mails",
            "APP_URL": "https://app.example.com",
            "SIGNUP_ENABLED": "true",
        }
    )
    assert specs["AccountMailFunction"]["LOCAL_OUTBOX_DIR"] == str(tmp_path / "mails")
    assert specs["AccountMailFunction"]["APP_URL"] == "https://app.example.com"
    assert specs["SignupFunction"]["SIGNUP_ENABLED"] == "true"


def test_seeded_users_may_carry_an_address(tmp_path):
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            [
                {"username": "ann", "password": "p" * 12, "email": "ann@example.org"},
                {"username": "bo", "password": "p" * 12},
            ]
        )
    )
    seeds = users_to_seed({"LOCAL_USERS_FILE": str(users)})
    assert [(u.username, u.email) for u in seeds] == [
        ("sam", ""),
        ("ann", "ann@example.org"),
        ("bo", ""),
    ]
    users.write_text(json.dumps([{"username": "ann", "password": "p" * 12, "email": 7}]))
    with pytest.raises(ValueError, match="string email"):
        users_to_seed({"LOCAL_USERS_FILE": str(users)})


# ---------------------------------------------------------------- the outbox page
def write_mail(directory: Path, name: str, to: str, subject: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(json.dumps({"to": to, "subject": subject, "text": text}))


def test_the_outbox_lists_the_newest_mails_first_with_their_links(tmp_path):
    outbox = tmp_path / "outbox"
    reset = (
        "Reset at http://localhost:3999.\nOpen\nhttp://localhost:3999/reset-password#token=a-b_c\n"
    )
    write_mail(outbox, "00000000000000000001-aa.json", "ann@example.org", "Reset", reset)
    notice = "at http://localhost:3999 ... reset it at http://localhost:3999/forgot-password\n"
    write_mail(outbox, "00000000000000000002-bb.json", "bo@example.org", "Notice", notice)
    (outbox / ".00000000000000000003-cc.json.tmp").write_text("{half a ma")
    mails = read_mails(outbox)
    assert [(m["name"], m["link"]) for m in mails] == [
        ("00000000000000000002-bb.json", "http://localhost:3999/forgot-password"),
        ("00000000000000000001-aa.json", "http://localhost:3999/reset-password#token=a-b_c"),
    ]
    assert [m["to"] for m in read_mails(outbox, to="ANN@example.org")] == ["ann@example.org"]
    assert read_mails(tmp_path / "none yet") == []
    assert first_link("no link here") is None


def test_the_outbox_answers_only_under_the_stacks_own_name(tmp_path):
    outbox = tmp_path / "outbox"
    write_mail(outbox, "00000000000000000001-aa.json", "ann@example.org", "S", "http://x/y")
    page = OutboxPage(outbox, 3999)

    def get(host: str, method: str = "GET", path: str = OUTBOX_PATH):
        return page.serve(Request(method, path, "", [("Host", host)], b"", "127.0.0.1"))

    answer = get("localhost:3999")
    assert answer is not None
    assert answer.status == 200
    assert json.loads(answer.body)[0]["to"] == "ann@example.org"
    assert ("Cache-Control", "no-store") in answer.headers
    assert get("127.0.0.1:3999").status == 200
    # A rebound DNS name reaches the port, under its own name.
    refused = get("attacker.example:3999")
    assert refused.status == 403
    assert b"ann@" not in refused.body
    assert get("localhost:3999", method="POST") is None  # the gateway's 404
    assert get("localhost:3999", path="/_local/outbox/x") is None
