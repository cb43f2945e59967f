"""Schemathesis hooks for ``test_fuzz.py``, loaded by the fuzzer's own process
(``SCHEMATHESIS_HOOKS``), never by pytest.

The fuzzer shares the local stack with the other end-to-end tests. Five failed logins
lock an account for a minute, so a login the fuzzer generates for one of their users
(``FUZZ_RESERVED_USERS``; the documented examples name the demo user) goes to a
look-alike username instead: still schema-valid, still exercising every path of login,
never locking anyone the other tests need.

The browser's ``Origin`` and ``Sec-Fetch-Site`` headers are documented parameters, but
any value but the API's own origin stops a request at the cross-site refusal, one branch
that the browser and walkthrough tests cover with the headers real browsers send. Left
to the fuzzer, they would keep most generated requests from ever reaching the parsing
and logic behind that check, so they are dropped here.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

import schemathesis

RESERVED = frozenset(filter(None, os.environ.get("FUZZ_RESERVED_USERS", "").split(",")))


def _canonical(username: str) -> str:
    # As the service folds usernames (NFKC + case fold), so "SAM" and its full-width form count too.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


BROWSER_HEADERS = frozenset({"origin", "sec-fetch-site"})


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.headers:
        for name in [n for n in case.headers if n.lower() in BROWSER_HEADERS]:
            del case.headers[name]
    if case.operation.path != "/auth/login" or not isinstance(case.body, dict):
        return
    username = case.body.get("username")
    if isinstance(username, str) and _canonical(username) in RESERVED:
        case.body["username"] = f"not-{_canonical(username)}"
