"""The SAM CLI's own local path, offline: `sam build` of the template, every function invoked
with every sample event through `sam local start-lambda` (warm containers, the emulator SAM
ships, a Lambda-like python3.12 image built on this machine), each answer checked for its
success case against the local stack, and a protected route through `sam local start-api`.

`make sam-local` runs the same cases with a cold `sam local invoke` per event.
"""

from __future__ import annotations

import fcntl
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from infra.devkit.local_stack import ephemeral_ports, free_port
from infra.samlocal import run as samlocal
from infra.samlocal import sam
from infra.samlocal.common import WORK, MachineCannot, SamLocalError, wait_for_port

pytestmark = pytest.mark.packaging

_NOBODY = samlocal.Session("a.e30.s", "r", {"sub": "s", "sid": "i"})
CASES = [case.name for case in samlocal.cases(_NOBODY, _NOBODY, _NOBODY)]


def _run_once(results_file) -> dict[str, object]:
    """One run per test session, whichever pytest-xdist worker asks first: the others wait
    on the lock and read its outcome (one image, one build, one set of containers)."""
    WORK.mkdir(parents=True, exist_ok=True)
    with (WORK / "run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if results_file.is_file():
            recorded: dict[str, object] = json.loads(results_file.read_text())
            return recorded
        try:
            checked = samlocal.run(log=print, warm=True)
            outcome: dict[str, object] = {"cases": {c.name: c.problem for c in checked}}
        except MachineCannot as reason:
            outcome = {"cannot": str(reason)}
        except SamLocalError as error:
            outcome = {"error": str(error)}
        except Exception as error:
            # Recorded like any failure, so the other worker reads it instead of running the
            # whole tier again.
            outcome = {"error": f"{type(error).__name__}: {error}"}
        results_file.write_text(json.dumps(outcome))
        return outcome


@pytest.fixture(scope="module")
def outcomes(testrun_uid) -> dict[str, str | None]:
    outcome = _run_once(WORK / f"outcome-{testrun_uid}.json")
    if "cannot" in outcome:
        # `make test` installs and starts Docker and debootstrap where it can (root on
        # Debian); elsewhere this tier cannot run, and says so in the summary rather than
        # passing silently. Any other failure of the run is an error, not a skip.
        pytest.skip(f"sam local cannot run on this machine: {outcome['cannot']}")
    if "error" in outcome:
        pytest.fail(f"sam local failed: {outcome['error']}")
    cases: dict[str, str | None] = outcome["cases"]  # type: ignore[assignment]
    return cases


@pytest.mark.parametrize("name", CASES)
def test_function_answers_its_sample_event(outcomes, name):
    assert name in outcomes
    assert outcomes[name] is None, outcomes[name]


def test_protected_route_through_start_api(outcomes):
    assert "start-api GET /api/me" in outcomes
    assert outcomes["start-api GET /api/me"] is None


def test_a_machine_without_docker_is_told_so_not_passed(monkeypatch):
    """The skip above is reserved for what the machine lacks; the run says which."""
    monkeypatch.setattr(samlocal, "docker_ready", lambda: "the docker daemon is not running")
    with pytest.raises(MachineCannot, match="docker daemon is not running"):
        samlocal.run(log=print)


# ---------------------------------------------------------------- the harness's own guards
def test_a_free_port_is_never_one_the_kernel_hands_out():
    """The emulator's port is probed, released, then bound by SAM a minute later: drawn from
    the ephemeral range, another worker's bind(0) or an outgoing connection could take it
    in between (the likeliest reading of a CI run whose first invocation was refused right
    after the port had answered)."""
    ephemeral = ephemeral_ports()
    ports = {free_port() for _ in range(50)}
    assert all(port >= 10000 and port not in ephemeral for port in ports), sorted(ports)
    assert len(ports) > 1  # drawn, not a fixed port two workers would both pick


def _python(code: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=out)


@pytest.mark.parametrize(
    ("server_code", "refusal"),
    [
        # Still starting (SAM starts its containers before it listens): not yet the server.
        ("print('starting containers'); import time; time.sleep(30)", "did not start in 2 s"),
        # It could not bind, the port being taken, and exited.
        ("print('Address already in use'); raise SystemExit(3)", "exited with 3"),
    ],
)
def test_a_listener_that_is_not_the_process_is_not_taken_for_it(tmp_path, server_code, refusal):
    """Something else answers on the port: the wait says the server is not there, with the
    server's own log, instead of returning."""
    log = tmp_path / "server.log"
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        server = _python(server_code, log)
        try:
            with pytest.raises(SamLocalError, match=refusal) as raised:
                wait_for_port(port, server, "the server", log, timeout=2)
        finally:
            server.kill()
            server.wait()
    assert str(raised.value).splitlines()[-1] in ("starting containers", "Address already in use")


def test_a_server_that_listens_is_waited_for(tmp_path):
    log = tmp_path / "server.log"
    port = free_port()
    server = _python(
        f"import socket, time; time.sleep(1); s = socket.create_server(('127.0.0.1', {port}));"
        " time.sleep(30)",
        log,
    )
    try:
        wait_for_port(port, server, "the server", log, timeout=30)
        assert server.poll() is None
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        server.kill()
        server.wait()


def _invoker(endpoint: str, emulator: subprocess.Popen[bytes], log: Path) -> sam.WarmInvoker:
    invoker = object.__new__(sam.WarmInvoker)
    invoker._process = emulator
    invoker._log_path = log
    invoker._client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 0}, connect_timeout=5),
    )
    return invoker


def test_an_emulator_that_stops_answering_fails_the_run_with_its_log(tmp_path):
    """The invocation's transport error becomes the run's error, carrying the emulator's log
    (CI keeps the output, not the files under .aws-sam/)."""
    log = tmp_path / "start-lambda.log"
    emulator = _python("print('Traceback: the emulator fell over')", log)
    emulator.wait(timeout=30)
    invoker = _invoker(f"http://127.0.0.1:{free_port()}", emulator, log)  # nothing listens
    case = samlocal.cases(_NOBODY, _NOBODY, _NOBODY)[0]
    with pytest.raises(SamLocalError, match="start-lambda exited") as raised:
        invoker(case, {})
    assert case.name in str(raised.value)
    assert "the emulator fell over" in str(raised.value)


class _FunctionNotFound(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = b'{"Type": "User", "Message": "Function not found"}'
        self.send_response(404)
        self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_emulator_that_answers_an_error_fails_only_that_case(tmp_path):
    """An error answered for one case (its container failed) is that case's problem, as a cold
    invoke's failure is; the run goes on with the others."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FunctionNotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emulator = _python("import time; time.sleep(30)", tmp_path / "start-lambda.log")
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        case = samlocal.cases(_NOBODY, _NOBODY, _NOBODY)[0]
        answer = _invoker(endpoint, emulator, tmp_path / "start-lambda.log")(case, {})
        assert "ResourceNotFoundException" in answer["errorMessage"]
        assert case.check(answer) is not None
    finally:
        emulator.kill()
        emulator.wait()
        server.shutdown()
        server.server_close()
