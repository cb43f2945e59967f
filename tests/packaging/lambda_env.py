"""A virtual environment holding exactly what a deployed function imports: the layer's pinned
requirements (the AWS SDK among them, which shadows the runtime's), nothing that the development
environment brings along (moto drags in aws-xray-sdk, for one)."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from infra.toolchain import find_runtime_python

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-lambda"
REQUIREMENTS = (ROOT / "layers" / "common" / "requirements.txt",)


def _base_python() -> Path:
    # The runtime's version where the machine has it; otherwise the tests' own interpreter
    # (the pins are abi3 or pure wheels, so an import failure is a missing package either way).
    found = find_runtime_python()
    return found.path if found else Path(sys.executable)


def ensure() -> Path:
    """The environment's interpreter, (re)built when a requirements file changed."""
    base = _base_python()
    digest = hashlib.sha256(str(base).encode())
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    stamp = VENV / ".installed"
    python = VENV / "bin" / "python"
    # pytest-xdist workers share the folder: one builds, the others wait.
    with (ROOT / ".venv-lambda.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == digest.hexdigest():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([str(base), "-m", "venv", str(VENV)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for path in REQUIREMENTS:
            install += ["-r", str(path)]
        subprocess.run(install, check=True)
        stamp.write_text(digest.hexdigest())
    return python
