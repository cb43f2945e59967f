"""X-Ray tracing is opt-in (template parameter Tracing): off, no function imports the X-Ray
SDK (Powertools' Tracer imports it even when disabled, about 130 ms of every cold start);
on, every HTTP handler goes through Powertools' Tracer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from authcore.edge import observability

ROOT = Path(__file__).resolve().parents[2]

# Records what Powertools' Tracer is asked to wrap (importing the class costs nothing: the
# SDK is imported when a Tracer is built).
_PROBE = """
import json, sys
from aws_lambda_powertools import Tracer
wrapped = []
original = Tracer.capture_lambda_handler
def recording(self, lambda_handler=None, **options):
    wrapped.append(options)
    return original(self, lambda_handler, **options)
Tracer.capture_lambda_handler = recording
import functions.login.app
from authcore.edge import observability
print(json.dumps({
    "xray": sorted({m.split(".")[0] for m in sys.modules} & {"aws_xray_sdk"}),
    "tracer_built": observability.tracer.cache_info().currsize == 1,
    "wrapped": wrapped,
}))
"""


def _cold_start(**variables: str) -> dict[str, object]:
    """A fresh process importing the login handler with these variables (a cold start)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        # What Lambda sets: Powertools' Tracer would otherwise call itself disabled.
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "login"),
        "AWS_LAMBDA_FUNCTION_NAME": "LoginFunction",
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("variables", [{}, {"POWERTOOLS_TRACE_DISABLED": "true"}])
def test_tracing_off_never_imports_the_xray_sdk(variables):
    report = _cold_start(**variables)
    assert report == {"xray": [], "tracer_built": False, "wrapped": []}


def test_tracing_on_wraps_the_handler_in_powertools_tracer():
    """The check above would pass if nothing ever traced: here the same probe must see it."""
    report = _cold_start(POWERTOOLS_TRACE_DISABLED="false")
    assert report == {
        "xray": ["aws_xray_sdk"],
        "tracer_built": True,
        # The login handler, never recording its response (tokens) nor its errors.
        "wrapped": [{"capture_response": False, "capture_error": False}],
    }


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, False),
        ("true", False),
        ("1", False),
        ("", False),
        ("false", True),
        ("False", True),
        ("0", True),
    ],
)
def test_tracing_is_on_only_when_told_so(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    else:
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    assert observability.tracing_enabled() is on


def test_traced_is_the_handler_itself_when_off(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")

    def handler(event, context):
        return {"event": event}

    assert observability.traced(handler, capture_error=False) is handler


def test_tracing_on_puts_each_aws_call_in_a_subsegment(monkeypatch):
    """botocore's calls were traced by the X-Ray SDK's patch; the functions' own clients
    are traced by ``trace_aws_calls``: the service, the operation, nothing of the request."""
    from contextlib import contextmanager

    from authcore import awsjson

    answer = (200, b'{"ok": true}', {})
    monkeypatch.setattr(awsjson.Client, "request", lambda self, operation, *_: answer)
    opened: list[list[object]] = []

    class Subsegment:
        def set_aws(self, meta: dict[str, str]) -> None:
            opened[-1].append(meta)

    class Provider:
        @contextmanager
        def in_subsegment(self, name: str, **options: str):
            opened.append([name, options])
            yield Subsegment()

    observability.trace_aws_calls(Provider())
    signed = awsjson.KMS(env={"AWS_REGION": "eu-west-1"}).sign(KeyId="k", Message=b"secret")
    assert signed == {"ok": True}
    assert opened == [["kms", {"namespace": "aws"}, {"operation": "Sign", "region": "eu-west-1"}]]
