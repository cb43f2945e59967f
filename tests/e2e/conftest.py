"""The local stack as a fixture: ``python -m infra.local`` on a free port, used over real HTTP.

The stack runs as a subprocess exactly as ``make run`` starts it; the tests see only its
HTTP surface and the admin environment it writes (AWS_ENDPOINT_URL, table names, ...), and
the page of another origin it serves on a second free port.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

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
]
USERS = {user["username"]: user for user in EXTRA_USERS}
# Contract §5 variables, set to non-defaults so the tests also prove they reach the
# functions. No grace window: an old refresh token is refused straight away. A short
# revocation lag for the session-checked routes (test_revocation_modes.py).
STACK_SETTINGS = {
    "ACCESS_TOKEN_TTL_SECONDS": "600",
    "REFRESH_REUSE_GRACE_SECONDS": "0",
    "REVOCATION_MAX_LAG_SECONDS": "2",
}


@dataclass
class LocalStack:
    base_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    other_origin_port: int = 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


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


def _stop(process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp = tmp_path_factory.mktemp("local-stack")
    port = _free_port()
    other_origin_port = _free_port()
    while other_origin_port == port:
        other_origin_port = _free_port()
    users_file = tmp / "users.json"
    users_file.write_text(json.dumps(EXTRA_USERS), encoding="utf-8")
    # Nothing of the developer's shell that would change the stack's behaviour.
    inherited = (
        "AWS_",
        "ACCESS_TOKEN_",
        "SESSION_",
        "REFRESH_",
        "REVOCATION_",
        "ALLOWED_ORIGINS",
        "LOCAL_",
        "OTHER_ORIGIN_",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(
        STACK_SETTINGS,
        PORT=str(port),
        OTHER_ORIGIN_PORT=str(other_origin_port),
        DEMO_PASSWORD=DEMO_PASSWORD,
        LOCAL_USERS_FILE=str(users_file),
        LOCAL_ENV_FILE=str(tmp / "env"),
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    base_url = f"http://localhost:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the local stack exited with {process.returncode} before it was ready:\n"
                    + log_path.read_text(errors="replace")
                )
            try:
                ready = requests.get(f"{base_url}/.well-known/openid-configuration", timeout=2)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the local stack was not ready within {READY_TIMEOUT_SECONDS} s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.2)
        stack = LocalStack(
            base_url, _read_env_file(tmp / "env"), log_path, process, other_origin_port
        )
    except BaseException:
        _stop(process)
        raise
    yield stack
    workers = _children(process.pid)
    clean = _stop(process)
    orphans = [pid for pid in workers if _alive(pid)]
    if not clean or orphans or process.returncode != 0:
        pytest.fail(
            f"the local stack did not shut down cleanly (exit {process.returncode}, "
            f"orphans {orphans}):\n{stack.log()[-5000:]}"
        )
