"""The key-rotation function: bootstrap by CloudFormation, then the schedule."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import LambdaContext, invoke, load_event

from authcore.keys.table import KeyTable
from authcore.runtime import signing
from functions.rotation import app as rotation
from functions.wellknown import app as wellknown


@pytest.fixture
def empty_ring(stack):
    """A stack whose key table was never bootstrapped (a fresh deployment)."""
    stack.dynamodb.delete_table(TableName="keys")
    from infra import template

    stack.dynamodb.create_table(**template.table_definition("KeysTable", "keys"))
    signing.reset()
    return KeyTable(stack.dynamodb, "keys")


class _CloudFormation(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def cloudformation():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CloudFormation)
    server.answers = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def custom_resource_event(request_type, server):
    return {
        "RequestType": request_type,
        "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/auth/1",
        "RequestId": "req-1",
        "LogicalResourceId": "KeyRingBootstrap",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": {},
    }


def test_deploy_time_bootstrap_creates_the_first_keys_and_answers_cloudformation(
    empty_ring, cloudformation
):
    assert empty_ring.load() == []
    rotation.lambda_handler(custom_resource_event("Create", cloudformation), LambdaContext())
    states = sorted(r.state for r in empty_ring.load())
    assert states == ["current", "pending"]
    (answer,) = cloudformation.answers
    assert answer["Status"] == "SUCCESS"
    assert (answer["RequestId"], answer["LogicalResourceId"]) == ("req-1", "KeyRingBootstrap")
    jwks = invoke(wellknown, load_event("wellknown_jwks.json")).body
    assert {k["kid"] for k in jwks["keys"]} == {r.kid for r in empty_ring.load()}


def test_stack_deletion_keeps_the_keys(stack, cloudformation):
    before = KeyTable(stack.dynamodb, "keys").load()
    result = rotation.lambda_handler(
        custom_resource_event("Delete", cloudformation), LambdaContext()
    )
    assert result == {"status": "kept"}
    assert KeyTable(stack.dynamodb, "keys").load() == before
    assert cloudformation.answers[0]["Status"] == "SUCCESS"


def test_a_failed_bootstrap_reports_failure_to_cloudformation(empty_ring, cloudformation, stack):
    from support import Faults

    from authcore import aws

    Faults(aws.kms()).fail("CreateKey", "KMSInternalException")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the invocation fails as it should
        rotation.lambda_handler(custom_resource_event("Create", cloudformation), LambdaContext())
    assert cloudformation.answers[0]["Status"] == "FAILED"
    assert empty_ring.load() == []


def test_the_schedule_is_idempotent(stack):
    before = sorted((r.kid, r.state) for r in KeyTable(stack.dynamodb, "keys").load())
    scheduled = load_event("rotation_scheduled.json")
    assert rotation.lambda_handler(scheduled, LambdaContext())["promoted"] is None
    after = sorted((r.kid, r.state) for r in KeyTable(stack.dynamodb, "keys").load())
    assert after == before
