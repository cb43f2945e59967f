"""The local stack as a fixture: ``python -m infra.local`` on a free port, used over real HTTP.

The stack runs as a subprocess exactly as ``make run`` starts it; the tests see only its
HTTP surface and the admin environment it writes (AWS_ENDPOINT_URL, table names, ...), and
the page of another origin it serves on a second free port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra.devkit.local_stack import LocalStackProcess, StackFailed, free_port, read_env_file
from tests.e2e.machine_clients import MACHINE_CLIENTS

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
DEMO_PASSWORD = "correct-horse-battery-staple"
EXTRA_USERS = [
    {"username": "alice", "password": "alice-has-a-long-passphrase", "scope": "profile admin"},
    # Users of their own for tests that end every session of a user or lock an account,
    # so that they never disturb the demo user's sessions in other tests.
    {"username": "fuzzer", "password": "the-fuzzer-has-a-passphrase", "scope": "profile"},
    {"username": "browser", "password": "the-browser-has-a-passphrase", "scope": "profile"},
    {"username": "lockout-probe", "password": "locked-out-soon-enough", "scope": "profile"},
    # Registers a passkey on the demo page and signs in with it (test_passkey_browser.py).
    {"username": "passkey-holder", "password": "the-passkey-holder-has-one", "scope": "profile"},
    # Their sessions are logged out by test_revocation_modes.py, many at once, or all at
    # once (logout everywhere).
    {"username": "logout-lag", "password": "logout-lag-has-a-passphrase", "scope": "profile"},
    {"username": "everywhere", "password": "everywhere-has-a-passphrase", "scope": "profile"},
    # Holds the scope of the example scoped route, GET /api/reports (ROUTE_SCOPES).
    {"username": "reporter", "password": "the-reporter-has-a-passphrase", "scope": "reports:read"},
    # Users with an address (contract §7), one per test that mails them, so that no test
    # reads another's mail or spends another's hourly allowance of reset mails.
    {
        "username": "forgetful",
        "password": "forgetful-has-a-passphrase",
        "scope": "profile",
        "email": "forgetful@e2e.example",
    },
    {
        "username": "hosted",
        "password": "hosted-has-a-passphrase",
        "scope": "profile",
        "email": "Hosted@E2E.example",  # stored and compared case-folded
    },
    {
        "username": "reader",
        "password": "the-reader-has-a-passphrase",
        "scope": "profile",
        "email": "reader@e2e.example",
    },
]
USERS = {user["username"]: user for user in EXTRA_USERS}
# Contract §5 variables, set to non-defaults so the tests also prove they reach the
# functions. No grace window: an old refresh token is refused straight away. Short
# revocation lags (test_revocation_modes.py), so that the tier waits seconds, not tens:
# the session-checked routes' cache, and the default authorizer's revocation feed poll
# (contract §10; the template's default is 10).
STACK_SETTINGS = {
    "ACCESS_TOKEN_TTL_SECONDS": "600",
    "REFRESH_REUSE_GRACE_SECONDS": "0",
    "REVOCATION_MAX_LAG_SECONDS": "2",
    "REVOCATION_POLL_SECONDS": "2",
}
# Contract §7: sign-up open (it is closed by default), so that test_account_flows.py can walk it.
ACCOUNT_SETTINGS = {"SIGNUP_ENABLED": "true"}
# Contract §9: a pepper the tests know (the stack generates one when it is empty), so they
# can register machine clients straight into the stack's clients table.
CLIENT_SECRET_PEPPER = "e2e-client-secret-pepper-of-at-least-32-characters"
CLIENT_SETTINGS = {"CLIENT_SECRET_PEPPER": CLIENT_SECRET_PEPPER}


@dataclass
class LocalStack:
    base_url: str
    env: dict[str, str]
    served: LocalStackProcess = field(repr=False)
    other_origin_port: int = 0
    # LOCAL_OUTBOX_DIR: the account mails, one JSON file each (never the repository's).
    outbox: Path = field(default=Path("/nonexistent"))

    def log(self) -> str:
        return self.served.log()


def _children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc); empty where /proc is unavailable."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(p) for p in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone, just not reaped


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("local-stack")
    other_origin_port = free_port()
    users_file = tmp / "users.json"
    users_file.write_text(json.dumps(EXTRA_USERS), encoding="utf-8")
    clients_file = tmp / "clients.json"
    clients_file.write_text(json.dumps(MACHINE_CLIENTS), encoding="utf-8")
    outbox = tmp / "outbox"
    variables = {
        **STACK_SETTINGS,
        **ACCOUNT_SETTINGS,
        **CLIENT_SETTINGS,
        "OTHER_ORIGIN_PORT": str(other_origin_port),
        "DEMO_PASSWORD": DEMO_PASSWORD,
        "LOCAL_USERS_FILE": str(users_file),
        "LOCAL_CLIENTS_FILE": str(clients_file),
        "LOCAL_OUTBOX_DIR": str(outbox),
    }
    try:
        served = LocalStackProcess.start(tmp, variables, timeout=READY_TIMEOUT_SECONDS)
    except StackFailed as failure:
        pytest.fail(str(failure))
    stack = LocalStack(
        served.base_url, read_env_file(served.env_file), served, other_origin_port, outbox
    )
    yield stack
    process = served.process
    workers = _children(process.pid)
    clean = served.stop(STOP_TIMEOUT_SECONDS)
    orphans = [pid for pid in workers if _alive(pid)]
    if not clean or orphans or process.returncode != 0:
        pytest.fail(
            f"the local stack did not shut down cleanly (exit {process.returncode}, "
            f"orphans {orphans}):\n{stack.log()[-5000:]}"
        )
