"""The core knows nothing of API Gateway: accounts, sessions and tokens never
import the HTTP edge (authcore.edge), so a handler stays parse, one call, respond."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "layers" / "common" / "authcore"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["accounts", "sessions", "tokens", "mfa"])
def test_the_core_never_imports_the_edge(package):
    files = sorted((CORE / package).glob("*.py"))
    assert files
    for path in files:
        edge = {name for name in imported(path) if name.startswith("authcore.edge")}
        assert edge == set(), f"{path.name} imports {edge}"
