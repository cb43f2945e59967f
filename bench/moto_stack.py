"""The tables and the bootstrapped signing-key ring of template.yaml, in moto, for
benchmarks that run the real handlers in-process."""

from __future__ import annotations

import os
from typing import Any

from authcore import runtime
from authcore.key_material import KmsMaterial
from authcore.keystore import KeyLifecycle, KeyTable

from infra import template

TABLES = {"UsersTable": "users", "SessionsTable": "sessions", "KeysTable": "keys"}


def create(db: Any, kms: Any) -> str:
    """Create everything inside an active moto mock; return the current key's KMS id."""
    for logical_id, table in TABLES.items():
        db.create_table(**template.table_definition(logical_id, table))
    keys = KeyTable(db, "keys")
    KeyLifecycle(keys, KmsMaterial(kms, stack="local")).rotate()
    os.environ.update({"USERS_TABLE": "users", "SESSIONS_TABLE": "sessions", "KEYS_TABLE": "keys"})
    runtime.reset()
    return next(r.ref for r in keys.load() if r.state == "current")
