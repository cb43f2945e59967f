"""The test tree's own layout: pytest imports test modules by basename (rootdir-relative,
no packages), so two tiers holding a test_x.py each is a collection error that only shows
when both are collected together, as `make test` does."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.template

TESTS = Path(__file__).resolve().parents[1]


def test_test_modules_have_unique_basenames():
    names = [path.name for path in TESTS.rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
