"""The account functions' sample events (events/), made real as infra/samlocal/cases.py
makes them for `sam local` and checked as it checks them, in-process over moto: what the
sam local tier proves in containers, here without Docker.

The mail jobs the HTTP functions hand off are recorded instead of sent to Lambda.
"""

from __future__ import annotations

import functools

import pytest
from support import LambdaContext, load_event, sample_session

from authcore.runtime import accounts as accounts_runtime
from authcore.runtime import signing
from functions.mail import app as mail
from functions.password import app as password
from functions.signup import app as signup
from infra.samlocal.cases import CHANGER, cases

HANDLERS = {"PasswordFunction": password, "SignupFunction": signup, "AccountMailFunction": mail}


class RecordedJobs:
    def __init__(self) -> None:
        self.jobs: list[dict[str, str]] = []

    def submit(self, job: dict[str, str]) -> None:
        self.jobs.append(job)


@pytest.fixture
def jobs(stack, monkeypatch) -> RecordedJobs:
    recorded = RecordedJobs()
    # Cached as the real one is: signing.reset() clears it.
    monkeypatch.setattr(accounts_runtime, "mail_jobs", functools.cache(lambda: recorded))
    # What sam local sets as well: the template's MailSender is empty by default, and the
    # mail function builds its SES adapter before it runs any job.
    monkeypatch.setenv("MAIL_FROM", "no-reply@example.com")
    signing.reset()
    return recorded


def test_the_account_functions_answer_their_sample_events(stack, demo_user, login_as, jobs, watch):
    changer_user = stack.admin.create_user(CHANGER["username"], CHANGER["password"], "profile")
    main = sample_session(login_as)
    changer = sample_session(login_as, CHANGER["username"], CHANGER["password"])
    checked = [case for case in cases(main, main, main, changer) if case.function in HANDLERS]
    assert {case.function for case in checked} == set(HANDLERS)
    for case in checked:
        event = load_event(case.event_file)
        case.edit(event)
        answer = HANDLERS[case.function].lambda_handler(event, LambdaContext())
        assert case.check(answer) is None, f"{case.name}: {case.check(answer)}"
    # The change kept the changer's session and handed the second sweep off; the forgot
    # event handed its reset job off with the address canonical.
    assert jobs.jobs == [
        {
            "job": "password_changed",
            "username": changer_user.username,
            "keep": changer.claims["sid"],
        },
        {"job": "reset", "email": "sam@example.com"},
    ]
