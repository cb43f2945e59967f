"""Schemathesis against the local stack, from openapi.yaml: every phase (the documented
examples, boundary values, random positive and negative data, stateful sequences), a
bounded number of cases per operation, and every check but one:

- no 5xx at all (the service's own 503 means a dependency failed, and nothing fails
  locally: a 503 here is an unexpected error the handlers swallowed);
- every status code, header and body conforms to the document;
- schema-valid requests are not refused as malformed, schema-invalid ones are refused;
- protected operations refuse a request without the Bearer token.

Left out: ``unsupported_method``, which expects 405 for every undocumented method. API
Gateway itself answers 404 to a method no route has (the local gateway does the same);
only the three ANY routes under /auth answer 405, which test_openapi.py checks.

FUZZ_EXAMPLES (cases per operation and phase, default 15) and FUZZ_SEED (default a
fixed seed, so CI is repeatable; "random" for a new one) tune a run.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest
import requests

from tests.e2e.conftest import ROOT, USERS, LocalStack

pytestmark = pytest.mark.e2e

SPEC = ROOT / "openapi.yaml"
HOOKS = ROOT / "tests" / "e2e" / "fuzz_hooks.py"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 15)
SEED = os.environ.get("FUZZ_SEED") or "20261127"
TIME_LIMIT_SECONDS = 240  # a hang, not a slow run: a run takes well under a minute
FUZZER = USERS["fuzzer"]


def test_schemathesis_finds_nothing(local_stack: LocalStack, tmp_path):
    login = requests.post(
        f"{local_stack.base_url}/auth/login",
        json={"username": FUZZER["username"], "password": FUZZER["password"], "delivery": "body"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    # A TOTP enrolment under way for the fuzzer's account, so that a schema-valid
    # confirmation meets a wrong code (401) rather than "no enrolment under way" (400),
    # whichever operation the fuzzer calls first. Nothing it can send ends the enrolment
    # (turning TOTP off needs a second factor) or, short of guessing the code, confirms it.
    started = requests.post(
        f"{local_stack.base_url}/auth/mfa/totp",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert started.status_code == 200, started.text
    seed = str(secrets.randbelow(2**32)) if SEED == "random" else SEED
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(SPEC),
        "--url",
        local_stack.base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        seed,
        "--exclude-checks",
        "unsupported_method",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    reserved = ",".join(name for name in ("sam", *USERS) if name != FUZZER["username"])
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "FUZZ_RESERVED_USERS": reserved,
        "COLUMNS": "120",
    }
    started = time.monotonic()
    run = subprocess.run(
        command,
        cwd=tmp_path,  # no schemathesis.toml of anyone's is picked up; reports land here
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_SECONDS,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    # Redact the token from what pytest may print.
    output = output.replace(token, "<access token>")
    assert run.returncode == 0, f"schemathesis (seed {seed}) failed:\n{output[-20000:]}"
    assert "Test cases:" in output, output[-5000:]
    print(f"schemathesis: seed {seed}, {elapsed:.0f} s\n{output[-1500:]}")
