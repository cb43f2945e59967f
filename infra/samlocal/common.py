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


def wait_for_port(
    port: int, process: subprocess.Popen[Any], what: str, log: Path, timeout: float
) -> None:
    """Until ``process`` listens on ``port``; it must still be running once it answers (a
    server that failed to bind exits, while something else may hold the port)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if process.poll() is None and time.monotonic() <= deadline:
                time.sleep(0.5)
                continue
        else:
            if process.poll() is None:
                return
        if process.poll() is not None:
            raise SamLocalError(f"{what} exited with {process.returncode}; {log_tail(log)}")
        raise SamLocalError(f"{what} did not start in {timeout:.0f} s; {log_tail(log)}")


def stop(process: subprocess.Popen[Any]) -> None:
    # SIGINT, as a person's Ctrl-C: the SAM CLI then removes the containers it started, which
    # SIGTERM leaves running (with the build folder mounted).
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
