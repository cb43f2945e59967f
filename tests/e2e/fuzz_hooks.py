"""Schemathesis hooks for ``test_fuzz.py``, loaded by the fuzzer's own process
(``SCHEMATHESIS_HOOKS``), never by pytest.

The fuzzer shares the local stack with the other end-to-end tests. Five failed logins
lock an account for a minute, so a login the fuzzer generates for one of their users
(``FUZZ_RESERVED_USERS``; the documented examples name the demo user) goes to a
look-alike username instead: still schema-valid, still exercising every path of login,
never locking anyone the other tests need. A reset request for one of them goes elsewhere
too: it would spend that account's hourly allowance of reset mails.

The browser's ``Origin`` and ``Sec-Fetch-Site`` headers are documented parameters, but
any value but the API's own origin stops a request at the cross-site refusal, one branch
that the browser and walkthrough tests cover with the headers real browsers send. Left
to the fuzzer, they would keep most generated requests from ever reaching the parsing
and logic behind that check, so they are dropped here.

Where the document must promise less than the service checks (the account routes), two
answers are right although the fuzzer cannot know it, and only those failures are dropped
(``filter_failure``):

- ``400 weak_password`` to a schema-valid new password: JSON Schema cannot say "not a
  commonly used password" (zxcvbn decides), so the document gives only the lengths;
- ``202`` from forgot to a username or address outside the document's ASCII forms: as at
  login, the service also reads Unicode letters and digits, and any address of the
  documented shape, and forgot answers ``202`` to every request it can read.

And one answer the fuzzer's check does not count as a refusal although it is one: ``413``
to schema-violating data (schemathesis's list of refusals leaves it out). A value past its
``maxLength`` made of characters that take several bytes each (up to twelve in a form,
``%F0%9F%98%80``; six in JSON, ``\ud83d``) can take the body past 8 KiB, and the body's
size is checked before its fields.

The machine-client routes (``/oauth2/*``) need nothing more: the fuzzer has no client
secret, so its requests end at the function's client authentication, ``401
invalid_client`` (the document lists it), or earlier at the form's own checks.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

RESERVED = frozenset(filter(None, os.environ.get("FUZZ_RESERVED_USERS", "").split(",")))


def _canonical(username: str) -> str:
    # As the service folds usernames (NFKC + case fold), so "SAM" and its full-width form count too.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


BROWSER_HEADERS = frozenset({"origin", "sec-fetch-site"})
NAMES_USERS = frozenset({"/auth/login", "/auth/password/forgot"})


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.headers:
        for name in [n for n in case.headers if n.lower() in BROWSER_HEADERS]:
            del case.headers[name]
    # Forgot too: each reset mail spends one of the account's three an hour.
    if case.operation.path not in NAMES_USERS or not isinstance(case.body, dict):
        return
    username = case.body.get("username")
    if isinstance(username, str) and _canonical(username) in RESERVED:
        case.body["username"] = f"not-{_canonical(username)}"


NEW_PASSWORD_OPERATIONS = frozenset({"/auth/password", "/auth/password/reset", "/auth/signup"})
READS_NAMES_AND_ADDRESSES = frozenset({"/auth/password/forgot", "/auth/signup"})
USERNAME = re.compile(r"[A-Za-z0-9._@+-]{1,64}")  # the document's form (Username)


def _error_code(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return None
    return body.get("error") if isinstance(body, dict) else None


def _address_shape(value: str) -> bool:
    """The shape the service checks (docs/accounts.md): text, an ``@``, a dotted domain,
    nothing unprintable or blank; surrounding white space is ignored."""
    local, at, domain = value.strip().rpartition("@")
    return bool(
        at
        and local
        and "." in domain.strip(".")
        and all(ch.isprintable() and not ch.isspace() for ch in value.strip())
    )


def _read_as_intended(body: Any) -> bool:
    """A body the service rightly reads although the document calls it invalid: every
    field left the document's form, if at all, only by Unicode characters (or, an
    address, by keeping the checked shape), so an ASCII value outside it still fails."""
    if not isinstance(body, dict):
        return False
    for name, value in body.items():
        if not isinstance(value, str):
            return False
        if not value.isascii():
            continue
        if name == "email":
            readable = _address_shape(value)
        elif name == "username":
            readable = USERNAME.fullmatch(value) is not None
        else:  # a new password: the lengths are all the document can say
            readable = 12 <= len(value) <= 1024
        if not readable:
            return False
    return True


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    path = case.operation.path
    if isinstance(failure, RejectedPositiveData) and path in NEW_PASSWORD_OPERATIONS:
        return _error_code(response) != "weak_password"
    if isinstance(failure, AcceptedNegativeData) and response.status_code == 413:
        return False
    if (
        isinstance(failure, AcceptedNegativeData)
        and path in READS_NAMES_AND_ADDRESSES
        and response.status_code == 202
    ):
        return not _read_as_intended(case.body)
    return True
