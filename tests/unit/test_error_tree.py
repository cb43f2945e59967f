"""One exception tree: everything the core raises on purpose is an ``AuthcoreError``,
and keeps the built-in base its callers catch."""

from __future__ import annotations

import inspect
import re

import pytest
from support import ROOT

from authcore import errors

CORE = ROOT / "layers" / "common" / "authcore"
# The one bare Exception: REST API Gateway answers 401 for exactly this one.
_API_GATEWAY_401 = 'raise Exception("Unauthorized")'
_BARE_RAISE = re.compile(
    r"raise (ValueError|LookupError|KeyError|RuntimeError|TypeError|Exception)\("
)


def test_every_class_of_errors_py_joins_the_root():
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__
    ]
    assert len(classes) > 20
    assert all(issubclass(c, errors.AuthcoreError) for c in classes)


def test_the_core_raises_no_bare_builtin_exception():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(CORE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _BARE_RAISE.search(line) and _API_GATEWAY_401 not in line
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ConfigError, RuntimeError),
        (errors.StrictJSONError, ValueError),
        (errors.Malformed, ValueError),
        (errors.InvalidKey, ValueError),
        (errors.InvalidKeySet, TypeError),
        (errors.UnknownUser, LookupError),
        (errors.UnknownKey, LookupError),
        (errors.KeySourceRefused, ValueError),
    ],
)
def test_callers_that_catch_a_builtin_still_catch_it(cls, builtin):
    assert issubclass(cls, builtin)


def test_refusals_and_internal_signals_are_apart():
    # The web layer maps AuthError to HTTP; nothing else may reach that table.
    for signal in (errors.ConfigError, errors.WriteConflict, errors.Unknown, errors.Malformed):
        assert not issubclass(signal, errors.AuthError)
    for refusal in (
        errors.KeysUnconfirmed,
        errors.SessionCheckUnavailable,
        errors.IssuerNotConfigured,
    ):
        assert issubclass(refusal, errors.AuthError)
