"""What the in-process benchmarks share: an environment that can never reach a
real account, a Lambda-like context, and the tables and bootstrapped signing-key
ring of template.yaml in moto."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
TABLES = {"UsersTable": "users", "SessionsTable": "sessions", "KeysTable": "keys"}


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id: str = "bench"


def isolate_environment() -> None:
    """Never reach a real account, whatever the shell has; then make the layer
    importable, as Lambda does (Powertools reads the environment at import)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "USERS_TABLE": "users",
            "SESSIONS_TABLE": "sessions",
            "KEYS_TABLE": "keys",
        }
    )
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))


def create(db: Any, kms: Any) -> str:
    """Create everything inside an active moto mock; return the current key's KMS id."""
    from authcore.keys.lifecycle import KeyLifecycle
    from authcore.keys.material import KmsMaterial
    from authcore.keys.table import KeyTable
    from authcore.runtime import signing
    from infra import template

    for logical_id, table in TABLES.items():
        db.create_table(**template.table_definition(logical_id, table))
    keys = KeyTable(db, "keys")
    KeyLifecycle(keys, KmsMaterial(kms, stack="local")).rotate()
    signing.reset()
    return next(r.ref for r in keys.load() if r.state == "current")
