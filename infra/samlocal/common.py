"""What the sam local modules share: where they work, the SAM CLI, ports and processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".aws-sam" / "sam-local"
SAM = Path(os.environ.get("SAM_CLI") or ROOT / ".venv-sam" / "bin" / "sam")


class SamLocalError(Exception):
    """sam local failed; the message says why and where its logs are."""


class MachineCannot(SamLocalError):
    """This machine cannot run sam local at all (no Docker, no runtime Python, no root for
    debootstrap): reported as a skip with the reason, never as a pass."""


def log_tail(path: Path, lines: int = 40) -> str:
    """The end of a process's log, for an error message: CI keeps the output, not the files."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return f"last lines of {path}:\n" + "\n".join(text.splitlines()[-lines:])


def _listening_sockets(port: int) -> set[str]:
    """The sockets listening on ``port``, as /proc/PID/fd links name them."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # sl, local address (hex ip:port), remote, state, ..., inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                found.add(f"socket:[{fields[9]}]")
    return found


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on ``port`` (Linux's /proc); where there is no
    /proc, whether anything answers there."""
    descriptors = Path(f"/proc/{pid}/fd")
    if not descriptors.is_dir():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True
    listening = _listening_sockets(port)
    try:
        return any(os.readlink(link) in listening for link in descriptors.iterdir())
    except OSError:  # it exited, or closed a descriptor while we looked
        return False


def wait_for_port(
    port: int, process: subprocess.Popen[Any], what: str, log: Path, timeout: float
) -> None:
    """Until ``process`` itself listens on ``port``: another process answering there (one
    that took the port first, while the server meant for it was starting) is not it."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if _listens(process.pid, port):
            return
        if time.monotonic() > deadline:
            raise SamLocalError(f"{what} did not start in {timeout:.0f} s; {log_tail(log)}")
        time.sleep(0.5)
    raise SamLocalError(f"{what} exited with {process.returncode}; {log_tail(log)}")


def stop(process: subprocess.Popen[Any]) -> None:
    # SIGINT, as a person's Ctrl-C: the SAM CLI then removes the containers it started, which
    # SIGTERM leaves running (with the build folder mounted).
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
