"""Every function of the template starts with only what Lambda gives it.

A deployed function sees its CodeUri folder as /var/task (the handler module is ``app``),
the layer (which brings its own pinned AWS SDK, ahead of the runtime's), and the runtime's
standard library. The development environment hides missing runtime dependencies: moto alone
installs the X-Ray SDK that Powertools' Tracer needs. So each handler is imported in a
subprocess of a virtual environment built from the layer's requirements only, with the
template's environment variables and the variables Lambda itself sets, tracing on (template
parameter Tracing: Active), the path that needs the layer's X-Ray SDK.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lambda_env import ROOT, ensure

from infra import template
from infra.local.stack import LocalStack

pytestmark = pytest.mark.packaging

FUNCTIONS = template.functions()
# The local stack's worker additions, which Lambda does not set.
LOCAL_ONLY = (
    "PYTHONPATH",
    "POWERTOOLS_TRACE_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "LOCAL_OUTBOX_DIR",
)
LAYER = ROOT / "layers" / "common"


@pytest.fixture(scope="module")
def lambda_python() -> Path:
    return ensure()


def _lambda_environment(logical_id: str) -> dict[str, str]:
    stack = LocalStack(port=3000, log=lambda _line: None)
    stack.tables = {name: f"local-{name}" for name in template.resources("AWS::DynamoDB::Table")}
    stack.endpoint = "http://127.0.0.1:9"
    spec = stack.function_specs()[logical_id]
    function = FUNCTIONS[logical_id]
    env = {name: value for name, value in spec.environment.items() if name not in LOCAL_ONLY}
    task_root = ROOT / function.code_uri
    env.update(
        PATH="/usr/bin:/bin",
        PYTHONPATH=str(LAYER),
        LAMBDA_TASK_ROOT=str(task_root),
        AWS_EXECUTION_ENV="AWS_Lambda_python3.12",
        _HANDLER=function.handler,
        POWERTOOLS_TRACE_DISABLED="false",
    )
    return env


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_handler_imports_in_the_lambda_environment(lambda_python, logical_id):
    function = FUNCTIONS[logical_id]
    module, attribute = function.handler.rsplit(".", 1)
    check = (
        "import importlib, sys\n"
        f"handler = getattr(importlib.import_module({module!r}), {attribute!r})\n"
        "assert callable(handler), handler\n"
        # Nothing came from outside the environment, the layer and the function's folder.
        "print(sys.version_info[:2])\n"
    )
    result = subprocess.run(
        [str(lambda_python), "-s", "-c", check],
        cwd=ROOT / function.code_uri,
        env=_lambda_environment(logical_id),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{logical_id} cannot start:\n{result.stderr[-3000:]}"


def test_environment_holds_only_the_layer(lambda_python):
    """The check above proves something only if the development packages are absent."""
    probe = subprocess.run(
        [str(lambda_python), "-s", "-c", "import moto"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0
    assert "No module named 'moto'" in probe.stderr


# py_webauthn costs about 110 ms at a cold start: only the passkey function may pay it.
WITHOUT_WEBAUTHN = (
    "LoginFunction",
    "RefreshFunction",
    "AuthorizerFunction",
    "SessionAuthorizerFunction",
    "PasswordFunction",
)


def _imports_webauthn(lambda_python: Path, logical_id: str) -> bool:
    function = FUNCTIONS[logical_id]
    module, attribute = function.handler.rsplit(".", 1)
    check = (
        "import importlib, sys\n"
        f"getattr(importlib.import_module({module!r}), {attribute!r})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'webauthn', 'cbor2'}))\n"
    )
    result = subprocess.run(
        [str(lambda_python), "-s", "-c", check],
        cwd=ROOT / function.code_uri,
        env=_lambda_environment(logical_id),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{logical_id} cannot start:\n{result.stderr[-3000:]}"
    return result.stdout.strip() != "[]"


@pytest.mark.parametrize("logical_id", WITHOUT_WEBAUTHN)
def test_only_the_passkey_function_imports_webauthn(lambda_python, logical_id):
    assert not _imports_webauthn(lambda_python, logical_id)


def test_the_passkey_function_does_import_webauthn(lambda_python):
    """The check above would pass for a misspelt module name: here it must see it."""
    assert _imports_webauthn(lambda_python, "PasskeyFunction")
