"""``python -m infra.local`` as a child process, exactly as ``make run`` starts it, on a free
port: for the end-to-end tests and the benchmarks that measure the stack over HTTP."""

from __future__ import annotations

import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.devkit.environment import ROOT

# Nothing of the developer's shell that would change the stack's behaviour.
SHELL_PREFIXES = (
    "AWS_",
    "ACCESS_TOKEN_",
    "SESSION_",
    "REFRESH_",
    "REVOCATION_",
    "ALLOWED_ORIGINS",
    "LOCAL_",
    "OTHER_ORIGIN_",
    "APP_URL",
    "SIGNUP_",
    "CLIENT_",
    "WEBAUTHN_",
)
READY_PATH = "/.well-known/openid-configuration"


class StackFailed(RuntimeError):
    """The stack exited, or was not ready in time; the message ends with its log."""


# Ports no bind(0) nor outgoing connection is handed: below the ephemeral range (32768 and
# up by default), from 10000, clear of SAM's containers, which name theirs in 5000-9000; or,
# where the range starts lower, above it.
_NAMED_PORTS = range(10000, 32768)


def ephemeral_ports() -> range:
    """The kernel's ephemeral range (Linux's ip_local_port_range; its default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port(host: str = "127.0.0.1") -> int:
    """A free port that no other process is handed before the server meant for it binds.

    A port from bind(("", 0)) comes from the kernel's ephemeral range, which the kernel hands
    to every other bind(0) and every outgoing connection too: once the probe releases it, a
    server of another test worker could take it in the seconds a server takes to start (SAM
    start-lambda takes a minute), and a readiness probe then meets the wrong listener. So the
    port is drawn outside that range, where nothing is handed out."""
    ephemeral = ephemeral_ports()
    candidates = range(_NAMED_PORTS.start, min(ephemeral.start, _NAMED_PORTS.stop))
    if not candidates:
        candidates = range(max(ephemeral.stop, _NAMED_PORTS.start), 65536)
    for _ in range(200):
        with socket.socket() as probe:
            try:
                probe.bind((host, random.choice(candidates)))  # noqa: S311 - spreads, not secret
            except (OSError, IndexError):  # taken; or no port outside the range at all
                continue
            return int(probe.getsockname()[1])
    raise OSError(f"no free port on {host} outside the ephemeral range {ephemeral}")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of the admin environment the stack writes (``export NAME=value``)."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - http://localhost
            return int(answer.status) == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class LocalStackProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    env_file: Path  # the sourceable admin environment (read_env_file reads it)
    log_path: Path

    @classmethod
    def start(
        cls, work: Path, variables: Mapping[str, str], timeout: float = 60
    ) -> LocalStackProcess:
        """Started in ``work`` (its log and env file go there) with ``variables`` over
        the shell's environment (less ``SHELL_PREFIXES``; no other origin unless
        OTHER_ORIGIN_PORT is given), once its discovery document answers 200."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_PREFIXES)}
        env.update(
            OTHER_ORIGIN_PORT="0",
            LOCAL_ENV_FILE=str(work / "env"),
            PYTHONUNBUFFERED="1",
        )
        env.update(variables, PORT=str(port))
        log_path = work / "stack.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        stack = cls(process, f"http://localhost:{port}", work / "env", log_path)
        deadline = time.monotonic() + timeout
        while not _ready(stack.base_url + READY_PATH):
            if process.poll() is not None:
                reason = f"the local stack exited with {process.returncode} before it was ready"
            elif time.monotonic() > deadline:
                reason = f"the local stack was not ready within {timeout:.0f} s"
            else:
                time.sleep(0.2)
                continue
            stack.stop()
            raise StackFailed(f"{reason}:\n{stack.log()}")
        return stack

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15) -> bool:
        """SIGTERM, as Ctrl-C would; True if it exited within ``timeout`` (else killed)."""
        if self.process.poll() is not None:
            return True
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return False
        return True
