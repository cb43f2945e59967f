"""Memory: each function's peak resident memory next to the MemorySize the template gives it.

Starts the local stack (``python -m infra.local``: one worker process per function, which
imports its handler once and serves invocations like a Lambda execution environment, with
moto in a process of its own), drives every route through it over HTTP, then reads each
worker's peak resident set (``VmHWM``, what Lambda reports as "Max Memory Used") from /proc.
The baseline, measured in the same run, is a bare interpreter.

MemorySize buys CPU as well as memory (a full vCPU at 1769 MB): login's 1024 MB is for
argon2id's CPU, not for its memory; the rest need far less than their 256 MB, which is kept
for the ~2x CPU share over 128 MB on the calls' signing and parsing.

    .venv/bin/python -m bench.memory [--rounds N]   (Linux: it reads /proc)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import requests

from infra.devkit.local_stack import LocalStackProcess, StackFailed

PASSWORD = "bench-memory-passphrase"
READY_TIMEOUT_SECONDS = 60


def _status_kib(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(p) for p in task.read_text().split()]
        except FileNotFoundError:  # the thread ended while we looked
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def bare_interpreter_kib() -> int:
    probe = "print(open('/proc/self/status').read())"
    status = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1])


def workload(base: str, rounds: int) -> None:
    """Every route, as clients use them: login (both deliveries, a failure), refresh,
    the protected routes, session revocation, logout, the well-known documents."""
    http = requests.Session()

    def ok(response: requests.Response, *statuses: int) -> Any:
        assert response.status_code in statuses, (response.status_code, response.text)
        return response.json() if response.content else None

    for _ in range(rounds):
        login = {"username": "sam", "password": PASSWORD, "delivery": "body"}
        tokens = ok(http.post(f"{base}/auth/login", json=login), 200)
        other = ok(http.post(f"{base}/auth/login", json=login), 200)
        cookies = requests.Session()
        ok(cookies.post(f"{base}/auth/login", json={**login, "delivery": "cookie"}), 200)
        stranger = {"username": f"nobody-{uuid.uuid4().hex}", "password": "wrong-password"}
        ok(http.post(f"{base}/auth/login", json=stranger), 401)
        tokens = ok(
            http.post(f"{base}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 200
        )
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        ok(http.get(f"{base}/api/me", headers=bearer), 200)
        ok(http.get(f"{base}/auth/sessions", headers=bearer), 200)
        sid = other["refresh_token"].split(".")[0]
        ok(http.delete(f"{base}/auth/sessions/{sid}", headers=bearer), 204)
        ok(http.post(f"{base}/auth/logout", json={"refresh_token": tokens["refresh_token"]}), 204)
        ok(http.get(f"{base}/.well-known/jwks.json"), 200)
        ok(http.get(f"{base}/.well-known/openid-configuration"), 200)


def run(rounds: int) -> dict[str, tuple[int, int]]:
    """Function -> (peak RSS KiB, MemorySize MB), the peak over its workers."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            stack = LocalStackProcess.start(
                Path(tmp), {"DEMO_PASSWORD": PASSWORD}, timeout=READY_TIMEOUT_SECONDS
            )
        except StackFailed as failure:
            raise SystemExit(str(failure)) from None
        try:
            workload(stack.base_url, rounds)
            peaks: dict[str, tuple[int, int]] = {}
            for pid in _descendants(stack.process.pid):
                try:
                    worker_env = _environ(pid)
                    name = worker_env.get("AWS_LAMBDA_FUNCTION_NAME")
                    if name is None:
                        continue  # moto, not a function
                    memory = int(worker_env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
                    peak = _status_kib(pid, "VmHWM")
                except FileNotFoundError:  # a worker the pool retired meanwhile
                    continue
                peaks[name] = (max(peak, peaks.get(name, (0, 0))[0]), memory)
            return peaks
        finally:
            stack.stop(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    baseline = bare_interpreter_kib()
    peaks = run(args.rounds)
    print(
        f"peak resident memory per function after {args.rounds} rounds of every route on the "
        "local stack; MB"
    )
    print(f"{'':<28}{'peak':>8}{'over bare python':>18}{'MemorySize':>12}{'headroom':>10}")
    print(f"{'bare python (baseline)':<28}{baseline / 1024:>8.1f}")
    for name, (peak, memory) in sorted(peaks.items()):
        print(
            f"{name:<28}{peak / 1024:>8.1f}{(peak - baseline) / 1024:>+18.1f}"
            f"{memory:>12}{memory * 1024 / peak:>9.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
