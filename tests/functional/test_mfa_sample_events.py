"""The second factor's sample events (events/), made real as infra/samlocal/cases.py
makes them for `sam local` and checked as it checks them, in-process over moto (KMS
included): what the sam local tier proves in containers, here without Docker."""

from __future__ import annotations

from support import LambdaContext, load_event, sample_session

from functions.login import app as login
from functions.mfa import app as mfa
from infra.samlocal.cases import cases

HANDLERS = {"LoginFunction": login, "MfaFunction": mfa}


def test_the_mfa_and_login_functions_answer_their_sample_events(stack, demo_user, login_as):
    main = sample_session(login_as)
    checked = [case for case in cases(main, main, main) if case.function in HANDLERS]
    assert {case.event_file for case in checked} >= {
        "login_mfa.json",
        "mfa_totp_start.json",
        "mfa_totp_confirm.json",
        "mfa_totp_delete.json",
        "mfa_recovery_codes.json",
    }
    for case in checked:
        event = load_event(case.event_file)
        case.edit(event)
        result = HANDLERS[case.function].lambda_handler(event, LambdaContext())
        assert case.check(result) is None, f"{case.name}: {case.check(result)}"
