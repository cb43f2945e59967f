"""Where the Lambda runtime's Python comes from on a development machine.

`sam build` and the Lambda-like image need python3.12 (the template's Runtime). Debian 12
ships 3.11, so this never trusts a bare ``python3``: it takes, in order, ``$PYTHON312``, a
``python3.12`` on PATH that really is 3.12 (a pyenv shim may exist without the version), or a
pyenv install, and says which one it took. ``python -m infra.toolchain`` prints the path, or
explains on stderr and exits 1.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUNTIME_VERSION = (3, 12)
RUNTIME = f"python{RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]}"


@dataclass(frozen=True)
class Interpreter:
    path: Path
    source: str

    @property
    def prefix(self) -> Path:
        """The installation prefix (the folder holding bin/ and lib/)."""
        return Path(_ask(self.path, "import sys; print(sys.base_prefix)") or "/")


def _ask(python: Path, code: str) -> str | None:
    try:
        # Only interpreters the developer named or installed are run.
        probe = subprocess.run(  # noqa: S603
            [str(python), "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def _is_runtime(python: Path) -> bool:
    wanted = f"{RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]}"
    return _ask(python, "import sys; print('%d.%d' % sys.version_info[:2])") == wanted


def _candidates() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if os.environ.get("PYTHON312"):
        found.append((os.environ["PYTHON312"], "$PYTHON312"))
    on_path = shutil.which(RUNTIME)
    if on_path:
        found.append((on_path, "PATH"))
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for version in sorted(glob.glob(f"{pyenv_root}/versions/3.12.*"), reverse=True):
        found.append((f"{version}/bin/{RUNTIME}", f"pyenv {Path(version).name}"))
    return found


def find_runtime_python() -> Interpreter | None:
    for candidate, source in _candidates():
        path = Path(candidate)
        if _is_runtime(path):
            # A pyenv shim resolves to the real interpreter; the image copies its prefix.
            real = _ask(path, "import sys; print(sys.executable)") or candidate
            return Interpreter(Path(real), source)
    return None


MISSING = (
    f"no {RUNTIME} found (the Lambda runtime's version; Debian 12 ships 3.11). "
    f"Install one (pyenv install 3.12, or your platform's package) and set PYTHON312 to it."
)


def main() -> int:
    interpreter = find_runtime_python()
    if interpreter is None:
        print(MISSING, file=sys.stderr)
        return 1
    print(interpreter.path)
    print(f"{RUNTIME}: {interpreter.path} (from {interpreter.source})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
