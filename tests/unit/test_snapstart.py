"""SnapStart's hooks (``authcore.runtime.snapstart``), with a stand-in for the runtime's
``snapshot_restore_py`` in ``sys.modules``: registered only under SnapStart, and what runs
after a restore makes the container its own (random state, clients, credentials, the
authorizer's runtime)."""

from __future__ import annotations

import importlib
import random
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from authcore import aws, sigv4
from authcore.runtime import snapstart

SNAPSTART_ENV = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}


def import_under_snapstart(monkeypatch: pytest.MonkeyPatch, name: str, **env: str) -> Any:
    """Module ``name`` imported anew, as a SnapStart container's init imports it (with
    ``env``). The module other tests hold goes back afterwards, both in ``sys.modules``
    and as its package's attribute (``from functions.x import app`` reads the latter)."""
    package_name, _, attribute = name.rpartition(".")
    importlib.import_module(name)  # the original, imported in the tests' own environment
    package = importlib.import_module(package_name)
    monkeypatch.setattr(package, attribute, getattr(package, attribute))
    monkeypatch.delitem(sys.modules, name)
    for variable, value in {**SNAPSTART_ENV, **env}.items():
        monkeypatch.setenv(variable, value)
    return importlib.import_module(name)


class FakeRuntime:
    """What snapshot_restore_py records; ``snapshot`` and ``restore`` play Lambda's part."""

    def __init__(self) -> None:
        self.before: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.after: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def module(self) -> types.ModuleType:
        module = types.ModuleType("snapshot_restore_py")
        module.register_before_snapshot = lambda f, *a: self.before.append((f, a))  # type: ignore[attr-defined]
        module.register_after_restore = lambda f, *a: self.after.append((f, a))  # type: ignore[attr-defined]
        return module

    def snapshot(self) -> None:
        for hook, args in reversed(self.before):
            hook(*args)

    def restore(self) -> None:
        for hook, args in self.after:
            hook(*args)


@pytest.fixture
def lambda_runtime(monkeypatch) -> FakeRuntime:
    fake = FakeRuntime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake.module())
    return fake


def test_nothing_is_registered_outside_snapstart(lambda_runtime):
    assert snapstart.install(env={}) is False
    assert snapstart.install(env={"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}) is False
    assert (lambda_runtime.before, lambda_runtime.after) == ([], [])


def test_without_the_runtime_module_install_is_a_no_op(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert snapstart.install(env=SNAPSTART_ENV) is False


def test_under_snapstart_both_hooks_are_registered(lambda_runtime):
    reset_calls: list[str] = []
    assert snapstart.install(lambda: reset_calls.append("reset"), env=SNAPSTART_ENV) is True
    assert len(lambda_runtime.before) == 1
    assert len(lambda_runtime.after) == 1
    lambda_runtime.restore()
    assert reset_calls == ["reset"]


def test_before_the_snapshot_only_the_named_modules_are_imported(lambda_runtime, monkeypatch):
    from authcore import transport

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    transport.forget_tls_context()
    snapstart.install(prime=("colorsys",), env=SNAPSTART_ENV)
    assert "colorsys" not in sys.modules
    lambda_runtime.snapshot()
    assert "colorsys" in sys.modules
    # Not the TLS context: it would put OpenSSL's seeded generator into the snapshot.
    assert transport._tls_context is None


def test_after_a_restore_tls_is_reseeded_and_its_context_made_anew(lambda_runtime, monkeypatch):
    import ssl

    from authcore import transport

    added = []
    monkeypatch.setattr(ssl, "RAND_add", lambda data, entropy: added.append((data, entropy)))
    snapstart.install(env=SNAPSTART_ENV)
    before = transport.tls_context()
    lambda_runtime.restore()
    ((data, entropy),) = added
    assert len(data) == 48
    assert entropy == 48.0
    assert transport.tls_context() is not before


def test_after_a_restore_random_differs_from_the_snapshots_copy(lambda_runtime):
    snapstart.install(env=SNAPSTART_ENV)
    random.seed(1234)  # what every container restored from one snapshot would share
    snapshot_state = random.getstate()
    lambda_runtime.restore()
    # Not cryptography: the state of `random` itself is what is tested.
    restored = [random.random() for _ in range(4)]  # noqa: S311
    copy = random.Random()  # noqa: S311
    copy.setstate(snapshot_state)
    assert restored != [copy.random() for _ in range(4)]


def test_after_a_restore_clients_and_credentials_are_rebuilt(lambda_runtime, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    snapstart.install(env=SNAPSTART_ENV)
    before = aws.dynamodb()
    sigv4._container_cache["http://127.0.0.1/c"] = (sigv4.Credentials("A", "S"), float("inf"))
    lambda_runtime.restore()
    assert aws.dynamodb() is not before
    assert sigv4._container_cache == {}


def test_the_authorizer_registers_its_runtime_reset(lambda_runtime, monkeypatch):
    app = import_under_snapstart(monkeypatch, "functions.authorizer.app", KEYS_TABLE="keys")
    settings = app.runtime.settings()
    assert app.runtime.settings() is settings  # cached per container
    lambda_runtime.restore()
    assert app.runtime.settings() is not settings


def test_an_http_function_registers_the_hooks_and_primes_nothing(lambda_runtime, monkeypatch):
    """Its imports are the snapshot; no AWS SDK to import ahead of the first request."""
    import_under_snapstart(monkeypatch, "functions.refresh.app")
    ((_, (primed,)),) = lambda_runtime.before
    assert tuple(primed) == ()
    assert len(lambda_runtime.after) == 1


@pytest.mark.parametrize(
    ("mode", "primed"),
    [
        (
            "stateless",
            ("authcore.keys.source", "authcore.revocation.feed", "authcore.revocation.source"),
        ),
        ("session", ("authcore.keys.source", "authcore.sessions.check")),
    ],
)
def test_the_authorizer_primes_what_its_mode_imports_first(
    lambda_runtime, monkeypatch, mode, primed
):
    import_under_snapstart(monkeypatch, "functions.authorizer.app", AUTHORIZER_MODE=mode)
    ((_, (names,)),) = lambda_runtime.before
    assert names == primed
    lambda_runtime.snapshot()
    assert all(name in sys.modules for name in primed)
