"""The passkey function's sample events (events/webauthn_*.json), made real as
infra/samlocal/cases.py makes them for `sam local` and checked as it checks them,
in-process over moto: what the sam local tier proves in containers, here without Docker."""

from __future__ import annotations

from support import LambdaContext, load_event, sample_session

from functions.webauthn import app as passkey
from infra.samlocal.cases import cases


def test_the_passkey_function_answers_its_sample_events(stack, demo_user, login_as, watch):
    main = sample_session(login_as)
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
