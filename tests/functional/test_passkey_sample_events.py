"""The passkey function's sample events (events/webauthn_*.json), made real as
infra/samlocal/cases.py makes them for `sam local` and checked as it checks them,
in-process over moto: what the sam local tier proves in containers, here without Docker."""

from __future__ import annotations

import base64
import json
from typing import Any

from support import DEMO_PASSWORD, LambdaContext, load_event

from functions.webauthn import app as passkey
from infra.samlocal.cases import Session, cases


def _session(login_as: Any, username: str, password: str) -> Session:
    answer = login_as(username, password)
    assert answer.status == 200, answer.body
    access = answer.body["access_token"]
    payload = access.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Session(access, answer.body["refresh_token"], claims)


def test_the_passkey_function_answers_its_sample_events(stack, demo_user, login_as, watch):
    main = _session(login_as, "sam", DEMO_PASSWORD)
    checked = [case for case in cases(main, main, main) if case.function == "PasskeyFunction"]
    assert {case.event_file for case in checked} == {
        "webauthn_register_options.json",
        "webauthn_register.json",
        "webauthn_login_options.json",
        "webauthn_login.json",
    }
    for case in checked:
        event = load_event(case.event_file)
        case.edit(event)
        answer = passkey.lambda_handler(event, LambdaContext())
        assert case.check(answer) is None, f"{case.name}: {case.check(answer)}"
