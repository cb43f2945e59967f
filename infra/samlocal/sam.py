"""The SAM CLI's commands as this project runs them: `sam build` of the variant template, and
three ways of invoking, each pointed at the locally built image with no registry pull."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.devkit.local_stack import free_port
from infra.local import FAKE_CREDENTIALS, REGION
from infra.samlocal import image, variant
from infra.samlocal.cases import Case, Session
from infra.samlocal.common import (
    SAM,
    WORK,
    MachineCannot,
    SamLocalError,
    log_tail,
    stop,
    wait_for_port,
)
from infra.toolchain import MISSING, find_runtime_python


def sam_environment() -> dict[str, str]:
    python = find_runtime_python()
    if python is None:
        raise MachineCannot(MISSING)
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "DOCKER_HOST")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(FAKE_CREDENTIALS)
    env.update(
        # sam build resolves the runtime's python3.12 on PATH: name the one found, first.
        PATH=os.pathsep.join([str(python.path.parent), os.environ.get("PATH", "")]),
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        SAM_CLI_TELEMETRY="0",
        # The layer's Makefile builds for this architecture (SAM does not tell make).
        LAMBDA_ARCHITECTURE=image.ARCH,
        SAM_CLI_CONTAINER_CONNECTION_TIMEOUT="60",
    )
    return env


def _sam(*arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [str(SAM), *arguments],
        cwd=WORK,
        env=sam_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def build(log: Callable[[str], None]) -> tuple[Path, float]:
    """The built variant template, and the seconds `sam build` took."""
    started = time.monotonic()
    source = variant.write(WORK / "template.json")
    build = WORK / "build"
    result = _sam("build", "--template", str(source), "--build-dir", str(build), timeout=900)
    if result.returncode != 0:
        raise SamLocalError(f"sam build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    seconds = time.monotonic() - started
    log(f"[sam-local] sam build: {seconds:.0f} s")
    return build / "template.yaml", seconds


def common_options(built: Path, env_vars: Path, bridge: str) -> list[str]:
    return [
        "--template", str(built), "--env-vars", str(env_vars),
        "--invoke-image", image.IMAGE, "--skip-pull-image", "--region", REGION,
        "--add-host", f"localhost:{bridge}",
    ]  # fmt: skip


def _parse_answer(text: str) -> Any:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {"errorMessage": "no answer"}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"errorMessage": f"not JSON: {lines[-1][:300]}"}


class ColdInvoker:
    """`sam local invoke FUNCTION --event FILE`: a new container per call, as a user types it."""

    name = "sam local invoke"

    def __init__(self, options: list[str]) -> None:
        self._options = options

    def __call__(self, case: Case, event: dict[str, Any]) -> Any:
        event_path = WORK / "events" / f"{case.function}-{case.event_file}"
        event_path.parent.mkdir(parents=True, exist_ok=True)
        event_path.write_text(json.dumps(event))
        command = ("local", "invoke", case.function, "--event", str(event_path), *self._options)
        result = _sam(*command, timeout=300)
        (WORK / "logs").mkdir(exist_ok=True)
        (WORK / "logs" / f"{case.function}-{case.event_file}.log").write_text(result.stderr)
        if result.returncode != 0:
            return {"errorMessage": f"sam local invoke failed: {result.stderr[-2000:]}"}
        return _parse_answer(result.stdout)

    def close(self) -> None:
        pass


class WarmInvoker:
    """`sam local start-lambda --warm-containers EAGER`, called through the Lambda API: one
    container per function, started once, reused by every call (what the test suite uses)."""

    name = "sam local start-lambda (warm)"

    def __init__(self, options: list[str]) -> None:
        import boto3
        from botocore.config import Config

        port = free_port()
        self._log_path = WORK / "start-lambda.log"
        self._log = self._log_path.open("w")
        self._process = subprocess.Popen(  # noqa: S603
            [
                str(SAM), "local", "start-lambda", "--port", str(port),
                "--warm-containers", "EAGER", *options,
            ],
            cwd=WORK,
            env=sam_environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(port, self._process, "sam local start-lambda", self._log_path, 300)
        except SamLocalError:
            self.close()
            raise
        self._client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(read_timeout=300, retries={"max_attempts": 0}),
        )

    def __call__(self, case: Case, event: dict[str, Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.invoke(FunctionName=case.function, Payload=json.dumps(event))
        except ClientError as error:
            # The emulator answered, with an error of this case's (its container failed):
            # the case's problem, as a cold invoke's failure is; the others still run.
            return {"errorMessage": f"sam local start-lambda answered: {error}"}
        except BotoCoreError as error:
            # No answer at all (it exited, or stopped listening): every later case would
            # fail alike, so the run stops here, with the emulator's own account.
            state = "running" if self._process.poll() is None else "exited"
            raise SamLocalError(
                f"{case.name}: {error} (sam local start-lambda {state}); {log_tail(self._log_path)}"
            ) from None
        return _parse_answer(answer["Payload"].read().decode())

    def close(self) -> None:
        stop(self._process)
        self._log.close()


def start_api_check(options: list[str], session: Session, log: Callable[[str], None]) -> list[str]:
    """One protected route through `sam local start-api` and the template's authorizer:
    allowed with the token, refused without."""
    port = free_port()
    command = [
        str(SAM), "local", "start-api", "--port", str(port), "--warm-containers", "LAZY", *options,
    ]  # fmt: skip
    api_log_path = WORK / "start-api.log"
    api_log = api_log_path.open("w")
    process = subprocess.Popen(  # noqa: S603
        command, cwd=WORK, env=sam_environment(), stdout=api_log, stderr=subprocess.STDOUT
    )
    problems: list[str] = []
    url = f"http://127.0.0.1:{port}/api/me"
    try:
        wait_for_port(port, process, "sam local start-api", api_log_path, timeout=120)
        timings = []
        for attempt in range(3):
            started = time.monotonic()
            request = urllib.request.Request(
                url, headers={"Authorization": f"Bearer {session.access}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
                    body = json.loads(answer.read())
                    if body.get("sub") != session.claims["sub"]:
                        problems.append(f"GET /api/me answered {body}")
            except urllib.error.HTTPError as error:
                problems.append(f"GET /api/me with a token: {error.code} {error.read()[:200]!r}")
            timings.append(time.monotonic() - started)
            if attempt == 0:
                log(f"[sam-local] start-api GET /api/me, first call: {timings[0]:.1f} s")
        log(f"[sam-local] start-api GET /api/me, warm: {min(timings[1:]) * 1000:.0f} ms")
        try:
            with urllib.request.urlopen(url, timeout=120) as answer:
                problems.append(f"GET /api/me without a token answered {answer.status}")
        except urllib.error.HTTPError as error:
            if error.code not in (401, 403):
                problems.append(f"GET /api/me without a token: {error.code}, expected 401/403")
    finally:
        stop(process)
        api_log.close()
    return problems
