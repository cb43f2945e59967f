"""With tracing off, a cold start loads none of what only tracing or the resource API needs
(issue #20): no X-Ray SDK, no s3transfer (boto3 imports it with its client factory), no
boto3.resources.

Each function of the template is started as Lambda starts it (``infra.devkit.cold_start``:
its folder and the layer on PYTHONPATH, POWERTOOLS_TRACE_DISABLED=true and no X-Ray
variable) and answers a first event that succeeds against the local stack's moto server
(a first event imports too: the AWS clients are built then); the modules it has loaded by
then are checked. Not timed: ``bench.coldstart`` measures what the loads cost.

The stateless authorizer and the login function are the issue's targets; every other
function is held to the same rule. boto3 itself is checked too: the functions build
no AWS SDK at all (``authcore.awsjson``), so nothing needs boto3's session layer.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra import template
from infra.devkit.cold_start import world

pytestmark = pytest.mark.packaging

FORBIDDEN = ("aws_xray_sdk", "s3transfer", "boto3")
TARGETS = ("AuthorizerFunction", "LoginFunction")
# No function makes a call through an AWS SDK: every AWS request is signed by hand
# (authcore.sigv4, authcore.awsjson), and botocore's client machinery (its import and
# first client, 150-300 ms of CPU) has no business in a cold start. Its bare package may
# be there where Powertools is (it imports it for a version string); the authorizers have
# no Powertools, so not even that.
NO_SDK = tuple(sorted(template.functions()))
NO_BOTOCORE_AT_ALL = ("AuthorizerFunction", "SessionAuthorizerFunction")


@pytest.fixture(scope="module")
def cold():
    with world() as started:
        yield started


_LOADED: dict[str, list[str]] = {}


def loaded(cold, logical_id: str) -> list[str]:
    """The modules of one cold start of ``logical_id`` (one process per function and run)."""
    if logical_id not in _LOADED:
        _LOADED[logical_id] = _cold_start_modules(cold, logical_id)
    return _LOADED[logical_id]


def _cold_start_modules(cold, logical_id: str) -> list[str]:
    start = cold.start(logical_id, sys.executable)
    env = {**start.env, "COLD_START_MODULES": "1"}
    done = subprocess.run(
        start.argv,
        cwd=start.cwd,
        env=env,
        input=start.stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    modules: list[str] = start.result(done.returncode, done.stdout, done.stderr)["modules"]
    return modules


@pytest.mark.parametrize("logical_id", sorted(template.functions()))
def test_no_tracing_or_resource_modules_when_tracing_is_off(cold, logical_id):
    modules = loaded(cold, logical_id)
    assert "app" in modules  # the handler module was imported, as Lambda imports it
    found = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not found, f"{logical_id} loaded {found}"


def test_the_targets_are_checked():
    """The issue names these two: they must stay among the functions checked."""
    assert set(TARGETS) <= set(template.functions())


@pytest.mark.parametrize("logical_id", NO_SDK)
def test_functions_without_aws_calls_load_no_botocore_machinery(cold, logical_id):
    modules = loaded(cold, logical_id)
    assert "app" in modules
    found = sorted(m for m in modules if m.startswith("botocore."))
    assert not found, f"{logical_id} loaded {found[:5]}"
    if logical_id in NO_BOTOCORE_AT_ALL:
        assert "botocore" not in modules


@pytest.mark.parametrize("logical_id", sorted(template.functions()))
def test_no_function_loads_powertools_resolvers(cold, logical_id):
    """Routing is authcore.edge.router's: Powertools' event handler package (every
    resolver it has, asyncio under them, ~60 ms) has no business in a cold start."""
    modules = loaded(cold, logical_id)
    assert "app" in modules
    found = sorted(
        m for m in modules if m.startswith(("aws_lambda_powertools.event_handler", "asyncio"))
    )
    assert not found, f"{logical_id} loaded {found[:5]}"


@pytest.mark.parametrize("logical_id", ["MeFunction", "ReportsFunction"])
def test_functions_without_aws_calls_load_no_aws_client(cold, logical_id):
    """They answer from the authorizer's context alone: not even the clients' transport
    (its sockets, TLS and URL parsing) belongs in their cold start."""
    modules = loaded(cold, logical_id)
    assert "app" in modules
    assert {"authcore.awsjson", "authcore.transport", "ssl"}.isdisjoint(modules)


@pytest.mark.parametrize("logical_id", NO_BOTOCORE_AT_ALL)
def test_the_authorizers_read_over_http_without_http_client(cold, logical_id):
    """Their reads go through ``authcore.transport``: ``http.client`` would bring the
    ``email`` package (~9 ms), and a host name given as text the IDNA codec (~1 ms). SigV4
    dates come from ``time``, retries' jitter imports ``random`` only when one is due:
    ``datetime`` and ``random`` are ~1.5 ms each. URLs are read by the transport's own
    pattern and paths encoded by SigV4's: ``urllib.parse`` is ~3 ms with ``ipaddress``."""
    modules = loaded(cold, logical_id)
    assert "authcore.transport" in modules
    assert {
        "http.client",
        "email.parser",
        "encodings.idna",
        "datetime",
        "random",
        "urllib.parse",
        "ipaddress",
    }.isdisjoint(modules)


@pytest.mark.parametrize("logical_id", NO_BOTOCORE_AT_ALL)
def test_the_authorizers_load_no_dataclasses(cold, logical_id):
    """Their records are authcore.records': dataclasses would bring inspect, ast, dis and
    tokenize (~8 ms) into the cold start every API request may wait on."""
    modules = loaded(cold, logical_id)
    assert "app" in modules
    assert {"dataclasses", "inspect"}.isdisjoint(modules)


@pytest.mark.parametrize("logical_id", NO_BOTOCORE_AT_ALL)
def test_the_authorizers_load_what_es256_verification_needs_only(cold, logical_id):
    """cryptography's OpenSSL backend (ECDSA's constructor imports it: ciphers, RSA,
    padding, ~5 ms), its RSA module (RS256 rings only) and ``hashlib`` (SigV4 digests come
    from cryptography) have no business in an ES256 authorizer's cold start."""
    modules = loaded(cold, logical_id)
    assert "app" in modules
    assert "cryptography.hazmat.primitives.asymmetric.ec" in modules
    assert {
        "cryptography.hazmat.backends.openssl.backend",
        "cryptography.hazmat.primitives.asymmetric.rsa",
        "cryptography.hazmat.primitives.asymmetric.padding",
        "hashlib",
    }.isdisjoint(modules)


@pytest.mark.parametrize("logical_id", NO_BOTOCORE_AT_ALL)
def test_the_authorizers_load_what_lambdas_runtime_has_loaded_before_them(cold, logical_id):
    """bench.coldstart reports the stateless authorizer over Lambda's runtime start (what
    awslambdaric's bootstrap imports before a handler), subtracting that start's cost: a
    fair reading only while the authorizers import each of those modules themselves."""
    from bench.coldstart import RUNTIME

    modules = loaded(cold, logical_id)
    assert "app" in modules
    runtime_modules = RUNTIME.removeprefix("import ").split(", ")
    assert set(runtime_modules) <= set(modules)
