"""A Lambda-like python3.12 base image, built offline.

The SAM CLI runs each function in ``public.ecr.aws/lambda/python:3.12-<arch>`` plus its own
Runtime Interface Emulator and the layers. No registry is reachable here, so the base is made
locally: a Debian 12 root file system (debootstrap from Debian's packages), the runtime's
Python under /var/lang as in Lambda, ``awslambdaric`` (the runtime interface client Lambda's
own images run) and the runtime's boto3 in /var/runtime, and a /var/runtime/bootstrap that the
emulator starts. SAM is pointed at it with ``--invoke-image`` and ``--skip-pull-image``.

What it proves: the built artefacts (layer from ``sam build``, handlers, template environment)
start and answer through the same emulator, invoke path and event shapes as Lambda. What it
does not: Amazon Linux's exact libraries, or arm64 (the image follows the machine).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from infra.samlocal.common import ROOT
from infra.toolchain import MISSING, RUNTIME, Interpreter, find_runtime_python

CACHE = ROOT / ".cache" / "sam-local"
SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What CPython's extension modules link against, beyond the minimal base.
PACKAGES = (
    "ca-certificates,libssl3,libffi8,libbz2-1.0,liblzma5,libsqlite3-0,libuuid1,"
    "libreadline8,libncursesw6,libgdbm6,zlib1g,libexpat1,tzdata"
)
RUNTIME_CLIENT = "awslambdaric==4.2.2"
RUNTIME_SDK = ROOT / "requirements" / "lambda-runtime.txt"
ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
IMAGE = f"serverless-auth/lambda-python:3.12-{ARCH}"
# Inherited by SAM's per-invoke images and so by every container of a run: what the run removes
# when it ends (the SAM CLI leaves some of its warm containers running when stopped).
CONTAINER_LABEL = "serverless-auth.sam-local"
# Not in the image: the test suite, GUI toolkits, headers and whatever the developer installed.
EXCLUDED = ("test", "idlelib", "tkinter", "turtledemo", "site-packages", "include", "share")

BOOTSTRAP = """#!/bin/sh
# Started by the Runtime Interface Emulator; SAM names the handler in the environment.
export PYTHONPATH="/var/task:/opt/python/lib/python3.12/site-packages:/opt/python:/var/runtime"
exec /var/lang/bin/python3.12 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
"""

# The variables Lambda's own python images set.
ENVIRONMENT = {
    "LANG": "en_US.UTF-8",
    "TZ": ":/etc/localtime",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
    "/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}


class ImageError(Exception):
    """The image build failed; the message says why."""


class Unsupported(ImageError):
    """This machine cannot build the image (no root, no debootstrap, no docker, no 3.12): a
    limit of the machine, which the test tier reports as a skip with this reason."""


def _run(command: list[str], **kwargs: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]  # noqa: S603
    if result.returncode != 0:
        raise ImageError(
            f"{' '.join(command[:3])} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


def _fingerprint(python: Interpreter) -> str:
    digest = hashlib.sha256()
    for part in (SUITE, PACKAGES, RUNTIME_CLIENT, BOOTSTRAP, str(python.path), ARCH):
        digest.update(part.encode())
    digest.update(RUNTIME_SDK.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _existing_fingerprint() -> str | None:
    label = '{{ index .Config.Labels "fingerprint" }}'
    command = ["docker", "image", "inspect", "--format", label, IMAGE]
    probe = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return probe.stdout.strip() if probe.returncode == 0 else None


def _base_root_filesystem() -> Path:
    """Debian's minimal base, debootstrapped once and kept under .cache/."""
    base = CACHE / f"rootfs-{SUITE}-{ARCH}"
    done = base / ".complete"
    if done.is_file() and done.read_text() == PACKAGES:
        return base
    if os.geteuid() != 0:
        raise Unsupported("debootstrap needs root: run `sudo make sam-local` once")
    if shutil.which("debootstrap") is None:
        raise Unsupported("debootstrap is missing: apt-get install debootstrap")
    shutil.rmtree(base, ignore_errors=True)
    base.parent.mkdir(parents=True, exist_ok=True)
    command = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(base)]
    command.append(MIRROR)
    # A mirror caught between updating its Release and its Packages files fails a download
    # now and then; a later try gets a consistent pair.
    for attempt in range(3):
        try:
            _run(command)
            break
        except ImageError:
            if attempt == 2:
                raise
            shutil.rmtree(base, ignore_errors=True)
            time.sleep(10 * (attempt + 1))
    done.write_text(PACKAGES)
    return base


def _install_python(python: Interpreter, root: Path) -> None:
    prefix = python.prefix
    lang = root / "var" / "lang"
    for part in ("bin", "lib"):
        shutil.copytree(
            prefix / part,
            lang / part,
            symlinks=True,
            ignore=lambda _dir, names: [n for n in names if n in EXCLUDED or n.endswith(".a")],
        )
    (lang / "lib" / RUNTIME / "site-packages").mkdir(exist_ok=True)


def _install_runtime(python: Interpreter, root: Path) -> None:
    runtime = root / "var" / "runtime"
    _run(
        [
            str(python.path), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(runtime), RUNTIME_CLIENT, "-r", str(RUNTIME_SDK),
        ]
    )  # fmt: skip
    bootstrap = runtime / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)
    for folder in ("var/task", "opt"):
        (root / folder).mkdir(parents=True, exist_ok=True)


def build(force: bool = False, log: Callable[[str], None] = print) -> tuple[str, float]:
    """The image's tag and the seconds its build took (0 when it was already current)."""
    if shutil.which("docker") is None:
        raise Unsupported("docker is missing: apt-get install docker.io")
    python = find_runtime_python()
    if python is None:
        raise Unsupported(MISSING)
    fingerprint = _fingerprint(python)
    if not force and _existing_fingerprint() == fingerprint:
        return IMAGE, 0.0
    started = time.monotonic()
    log(f"[sam-local] building {IMAGE} from Debian {SUITE} and {python.path} ({python.source})")
    base = _base_root_filesystem()
    with tempfile.TemporaryDirectory(dir=CACHE) as staging:
        root = Path(staging) / "root"
        _run(["cp", "-a", str(base), str(root)])
        shutil.rmtree(root / "var" / "cache" / "apt", ignore_errors=True)
        _install_python(python, root)
        _install_runtime(python, root)
        changes = [f"ENV {name}={value}" for name, value in ENVIRONMENT.items()]
        changes += [
            "WORKDIR /var/task",
            'ENTRYPOINT ["/var/runtime/bootstrap"]',
            f"LABEL fingerprint={fingerprint} {CONTAINER_LABEL}=1",
        ]
        tar = subprocess.Popen(  # noqa: S603
            ["tar", "-C", str(root), "-c", "."],  # noqa: S607
            stdout=subprocess.PIPE,
        )
        command = ["docker", "import"]
        for change in changes:
            command += ["--change", change]
        result = subprocess.run(  # noqa: S603
            [*command, "-", IMAGE], stdin=tar.stdout, capture_output=True, text=True, check=False
        )
        tar.wait()
        if result.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"docker import failed: {result.stderr[-2000:]}")
    return IMAGE, time.monotonic() - started


def main() -> int:
    try:
        image, seconds = build(force="--force" in sys.argv)
    except ImageError as error:
        print(f"[sam-local] {error}", file=sys.stderr)
        return 1
    print(f"{image} ({f'built in {seconds:.0f} s' if seconds else 'already current'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
