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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if process.poll() is not None:
                raise SamLocalError(f"{what} exited; see its log under {WORK}") from None
            if time.monotonic() > deadline:
                raise SamLocalError(f"{what} did not start in {timeout:.0f} s") from None
            time.sleep(0.5)
        else:
            return


def stop(process: subprocess.Popen[Any]) -> None:
    # SIGINT, as a person's Ctrl-C: the SAM CLI then removes the containers it started, which
    # SIGTERM leaves running (with the build folder mounted).
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
