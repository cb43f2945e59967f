"""An environment that can never reach a real account, whatever the developer's shell has."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What Lambda puts on sys.path for our code: the function folders' parent (the
# handlers are imported as ``functions.<name>.app``) and the layer's content.
PYTHONPATH = (ROOT, ROOT / "layers" / "common")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# Never real credentials: moto accepts anything, and a stray call can reach no account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_REAL_ACCOUNT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def isolated(environ: Mapping[str, str] = os.environ) -> dict[str, str | None]:
    """What ``isolate`` changes: name -> new value, or None for a variable to remove.
    Fake credentials and region; nothing that could point boto3 at a real account
    (profiles, session tokens, config files, endpoints, per-service ones too); no X-Ray
    daemon for Powertools to warn about."""
    changes: dict[str, str | None] = {
        name: None
        for name in environ
        if name.startswith("AWS_ENDPOINT_URL") or name in _REAL_ACCOUNT
    }
    changes.update(FAKE_CREDENTIALS)
    changes.update(
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        POWERTOOLS_TRACE_DISABLED="true",
    )
    return changes


def isolate(environ: MutableMapping[str, str] = os.environ) -> None:
    """Apply ``isolated`` to a process's environment (tests use monkeypatch instead)."""
    for name, value in isolated(environ).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def host_functions(variables: Mapping[str, str]) -> None:
    """This process, made a place to call handlers in (the benchmarks): isolated, the
    handlers and the layer importable, and the functions' own ``variables`` set before
    their first import (Powertools reads the environment at import)."""
    isolate()
    use_layer()
    os.environ.update(variables)


def use_layer() -> None:
    """Make the handlers and the layer importable, as Lambda does."""
    for entry in reversed(PYTHONPATH):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
