"""The OAuth function's sample events (events/oauth_*.json), made real as
infra/samlocal/cases.py makes them for `sam local` and checked as it checks them,
in-process over moto: a client registered in the clients table, its token, the demo
user's access token introspected, a revocation; and, unedited, the events' placeholder
client refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support import LambdaContext, load_event, sample_session

from authcore.clients.dynamo import DynamoClientStore
from authcore.clients.model import Client
from authcore.runtime import signing
from functions.oauth import app as oauth
from infra.samlocal.cases import Machine, cases

PEPPER = "sample-events-pepper-of-at-least-32-characters"


@pytest.fixture
def machine(stack, monkeypatch) -> Machine:
    monkeypatch.setenv("CLIENT_SECRET_PEPPER", PEPPER)
    signing.reset()
    client = Client("sample-events-client", frozenset({"reports:read"}))
    client, secret = client.with_new_secret(PEPPER.encode(), time.time())
    DynamoClientStore(stack.dynamodb, "clients").create(client)
    return Machine(client.client_id, secret, "reports:read")


def _answers(checked: list[Any]) -> None:
    assert [case.event_file for case in checked] == [
        "oauth_token.json",
        "oauth_introspect.json",
        "oauth_revoke.json",
    ]
    for case in checked:
        event = load_event(case.event_file)
        case.edit(event)
        answer = oauth.lambda_handler(event, LambdaContext())
        assert case.check(answer) is None, f"{case.name}: {case.check(answer)}"
        assert answer["headers"]["Cache-Control"] == "no-store"


def test_the_oauth_function_answers_its_sample_events(stack, demo_user, login_as, machine, watch):
    main = sample_session(login_as)
    _answers([c for c in cases(main, main, main, machine=machine) if c.function == "OAuthFunction"])


def test_the_events_placeholder_client_is_refused(stack, demo_user, login_as, machine, watch):
    main = sample_session(login_as)
    _answers([c for c in cases(main, main, main) if c.function == "OAuthFunction"])
