"""Every function of template.yaml started cold, as Lambda starts it, and sent a first event
that succeeds: for ``bench.coldstart`` (what a cold start costs) and the import-graph tests
(what a cold start loads).

``ColdStartWorld`` starts the local stack (``python -m infra.local``: moto over HTTP with the
template's tables, the key ring, the demo user, the Lambda Invoke API) and derives each
function's environment from it exactly as the stack derives its own workers'
(``LocalStack.function_specs``), then changes what differs in Lambda: the function's folder
is the working directory and first on ``PYTHONPATH`` (the handler module is ``app``), the
layer next, and the variables Lambda itself sets. The AWS calls of a first event are real
HTTP requests to the stack's moto server.

Each function's first event is its sample event of events/, made real the way
``infra.samlocal.cases`` makes it for ``sam local invoke`` (tokens of a real login, a
registered machine client), with the answer that case expects. Where an event spends what
it uses (a refresh token rotates, a logout ends its session, a sign-up takes its username,
a revocation is published once) each process gets one of its own, made before it starts.

A child (``CHILD``) reads its event from stdin, then times the import of the handler module
and the first event, in wall and CPU time; refuses to report figures for an answer that is
a refusal (exit status 3, the answer on stderr); and prints one JSON line the moment the
answer is ready (its arrival ends the cold start, for a parent timing from outside).
Whatever the handler prints (Powertools' logs, EMF metrics) goes to stderr, as the local
stack's workers do, so it cannot corrupt that line.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import template
from infra.devkit.environment import ROOT
from infra.devkit.events import load_event

LAYER = ROOT / "layers" / "common"
# The OAuth case's client secret is digested under this pepper, by the stack and by the
# functions started here alike (each would otherwise generate a pepper of its own).
PINNED_PEPPER = "cold-start-client-secret-pepper-of-no-secrecy-at-all"
# The sessions list's user: the demo user's sessions pile up during a run (each Refresh and
# Logout process logs in anew), and its list would measure moto's Query over all of them.
LISTER = {"username": "cold-start-lister", "password": "cold-start-lister-passphrase"}
# Sign-up is closed by default (its answer then a 404): open, its first event measures the
# route as a deployment that offers it runs it (argon2id hash, conditional writes, mail job).
STACK_VARIABLES = {"CLIENT_SECRET_PEPPER": PINNED_PEPPER, "SIGNUP_ENABLED": "true"}
# What the local stack gives its workers that Lambda does not.
LOCAL_ONLY = ("PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
# Tracing off: Powertools' Tracer disabled, and nothing that would name an X-Ray daemon or
# a trace (which Lambda sets when tracing is active).
TRACING_VARIABLES = ("AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_CONTEXT_MISSING", "_X_AMZN_TRACE_ID")

CHILD = r"""
import json, os, sys, time
event = json.load(sys.stdin)
report = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "cold-start"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "cold-start"
    identity = client_context = None

    def get_remaining_time_in_millis(self):
        return 10_000


wall, cpu = time.perf_counter(), time.process_time()
import importlib
handler = getattr(importlib.import_module("app"), os.environ["_HANDLER"].rsplit(".", 1)[1])
imported_wall, imported_cpu = time.perf_counter(), time.process_time()
answer = handler(event, Context())
answered_wall, answered_cpu = time.perf_counter(), time.process_time()
refused = (
    not isinstance(answer, dict)
    or answer.get("statusCode", 200) >= 400
    or answer.get("isAuthorized") is False
    or "errorMessage" in answer
    or "Deny" in json.dumps(answer.get("policyDocument", ""))
)
if refused:
    sys.stderr.write("COLD START REFUSED: " + json.dumps(answer)[:2000] + "\n")
    raise SystemExit(3)
figures = {
    "import_ms": (imported_wall - wall) * 1000,
    "import_cpu_ms": (imported_cpu - cpu) * 1000,
    "first_event_ms": (answered_wall - imported_wall) * 1000,
    "first_event_cpu_ms": (answered_cpu - imported_cpu) * 1000,
    # The process's CPU time since it started (interpreter start included), at the answer.
    "answered_cpu_ms": answered_cpu * 1000,
    "answer": answer,
}
if os.environ.get("COLD_START_MODULES"):
    figures["modules"] = sorted(sys.modules)
report.write(json.dumps(figures) + "\n")
report.flush()
"""

Check = Callable[[Any], "str | None"]


class ColdStartFailed(RuntimeError):
    """A function's first event was refused, or its process failed: never a figure."""


@dataclass(frozen=True)
class Start:
    """One cold start to run: ``argv`` in ``cwd`` with ``env``, the event on stdin; and
    what its answer must be."""

    logical_id: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    stdin: str
    check: Check

    def result(self, returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
        """The child's figures (and answer), once its answer passed the case's check."""
        if returncode != 0:
            raise ColdStartFailed(f"{self.logical_id}: exit status {returncode}\n{stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        problem = self.check(figures["answer"])
        if problem is not None:
            raise ColdStartFailed(f"{self.logical_id}: {problem}")
        return figures


@dataclass
class Function:
    logical_id: str
    cwd: Path
    env: dict[str, str]
    # A new event for the next process, and the check of its answer (untimed).
    next_event: Callable[[], tuple[dict[str, Any], Check]]


def lambda_environment(spec_env: dict[str, str], logical_id: str) -> tuple[Path, dict[str, str]]:
    """(working directory, environment) of a function as Lambda starts it, tracing off,
    from the environment the local stack gives its worker."""
    function = template.functions()[logical_id]
    task_root = ROOT / function.code_uri
    env = {
        name: value
        for name, value in spec_env.items()
        if name not in LOCAL_ONLY and name not in TRACING_VARIABLES
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(task_root), str(LAYER)]),
        LAMBDA_TASK_ROOT=str(task_root),
        AWS_EXECUTION_ENV="AWS_Lambda_python3.12",
        _HANDLER=function.handler,
        POWERTOOLS_TRACE_DISABLED="true",
    )
    return task_root, env


class ColdStartWorld:
    """The local stack, up; every function's environment and first events."""

    def __init__(self, work: Path) -> None:
        from infra.devkit.local_stack import LocalStackProcess, read_env_file

        self.outbox = work / "outbox"
        users = work / "users.json"
        users.write_text(json.dumps([{**LISTER, "scope": "profile"}]))
        variables = {
            **STACK_VARIABLES,
            "LOCAL_OUTBOX_DIR": str(self.outbox),
            "LOCAL_USERS_FILE": str(users),
        }
        self.stack = LocalStackProcess.start(work, variables, timeout=120)
        try:
            self.admin_env = read_env_file(self.stack.env_file)
            self.functions = self._functions(variables)
        except BaseException:
            self.stack.stop()
            raise

    # ------------------------------------------------------------ the stack's side
    def _functions(self, variables: dict[str, str]) -> dict[str, Function]:
        from infra.devkit.local_stack import SHELL_PREFIXES
        from infra.local.stack import LocalStack
        from infra.samlocal.cases import cases

        origin = self.stack.base_url
        port = int(origin.rsplit(":", 1)[1])
        # The environment the stack itself was started with: the functions here must be
        # configured as its own workers are (the shell's settings are not the template's).
        environ = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_PREFIXES)}
        resolver = LocalStack(port, lambda _line: None, {**environ, **variables})
        resolver.tables = {
            logical_id: f"local-{logical_id}"
            for logical_id in template.resources("AWS::DynamoDB::Table")
        }
        resolver.endpoint = self.admin_env["AWS_ENDPOINT_URL"]
        resolver.lambda_endpoint = self.admin_env.get("AWS_ENDPOINT_URL_LAMBDA", "")
        specs = resolver.function_specs()

        main, other, leaving = self.log_in(), self.log_in(), self.log_in()
        lister = self.log_in(LISTER["username"], LISTER["password"])
        machine = self._register_client()

        def sample(logical_id: str, event_file: str, **sessions: Any) -> Callable[[], Any]:
            """The samlocal case of this function and event, with these sessions."""

            def make() -> tuple[dict[str, Any], Check]:
                given = {"main": main, "other": other, "leaving": leaving, **sessions}
                fresh = {
                    name: value() if callable(value) else value for name, value in given.items()
                }
                (case,) = [
                    c
                    for c in cases(fresh["main"], fresh["other"], fresh["leaving"], None, machine)
                    if c.function == logical_id and c.event_file == event_file and not c.label
                ]
                event = load_event(event_file)
                case.edit(event)
                return event, case.check

            return make

        events: dict[str, Callable[[], tuple[dict[str, Any], Check]]] = {
            "WellKnownFunction": sample("WellKnownFunction", "wellknown_jwks.json"),
            "LoginFunction": sample("LoginFunction", "login.json"),
            "AuthorizerFunction": sample("AuthorizerFunction", "authorizer.json"),
            "SessionAuthorizerFunction": sample("SessionAuthorizerFunction", "authorizer.json"),
            "MeFunction": sample("MeFunction", "me.json"),
            "ReportsFunction": sample("ReportsFunction", "reports.json"),
            "SessionsFunction": sample("SessionsFunction", "sessions_list.json", main=lister),
            # A refresh token rotates once, a logout ends its session: one login each.
            "RefreshFunction": sample("RefreshFunction", "refresh.json", main=self.log_in),
            "LogoutFunction": sample("LogoutFunction", "logout.json", leaving=self.log_in),
            "PasswordFunction": sample("PasswordFunction", "password_forgot.json"),
            "MfaFunction": sample("MfaFunction", "mfa_totp_start.json"),
            "AccountMailFunction": sample("AccountMailFunction", "mail_job.json"),
            "PasskeyFunction": sample("PasskeyFunction", "webauthn_register_options.json"),
            "OAuthFunction": sample("OAuthFunction", "oauth_token.json"),
            "KeyRotationFunction": sample("KeyRotationFunction", "rotation_scheduled.json"),
            "SignupFunction": self._signup,
            "RevocationFeedFunction": self._revocation,
        }
        missing = set(specs) - set(events)
        if missing:
            raise ColdStartFailed(f"no first event for {', '.join(sorted(missing))}")
        found = {}
        for logical_id, spec in specs.items():
            cwd, env = lambda_environment(spec.environment, logical_id)
            found[logical_id] = Function(logical_id, cwd, env, events[logical_id])
        return found

    def log_in(self, username: str = "sam", password: str | None = None) -> Any:
        """A new session of the demo user, or of another (a real login over HTTP)."""
        from infra.samlocal.run import log_in

        return log_in(self.stack.base_url, username, password)

    def _client(self, service: str) -> Any:
        """A client of the stack's moto server (``MotoServer.client``, not started here)."""
        from infra.devkit.moto import MotoServer

        port = int(self.admin_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        return MotoServer(port).client(service)

    def _register_client(self) -> Any:
        from infra.devkit.environment import use_layer
        from infra.samlocal.cases import Machine
        from infra.samlocal.run import SAMPLE_CLIENT_ID, SAMPLE_CLIENT_SCOPE

        use_layer()
        from authcore.clients.dynamo import DynamoClientStore
        from authcore.clients.model import Client

        client = Client(SAMPLE_CLIENT_ID, frozenset(SAMPLE_CLIENT_SCOPE.split()))
        client, secret = client.with_new_secret(PINNED_PEPPER.encode(), time.time())
        DynamoClientStore(self._client("dynamodb"), self.admin_env["CLIENTS_TABLE"]).create(client)
        return Machine(SAMPLE_CLIENT_ID, secret, SAMPLE_CLIENT_SCOPE)

    def _signup(self) -> tuple[dict[str, Any], Check]:
        name = f"cold-{uuid.uuid4().hex[:12]}"
        body = {"username": name, "email": f"{name}@example.com", "password": uuid.uuid4().hex}
        event = load_event("signup.json", body=json.dumps(body))

        def check(answer: Any) -> str | None:
            status = answer.get("statusCode") if isinstance(answer, dict) else None
            return None if status in (200, 201, 202) else f"sign-up answered {str(answer)[:300]}"

        return event, check

    def _revocation(self) -> tuple[dict[str, Any], Check]:
        """A real stream batch: a session revoked (a logout over HTTP), read from the
        sessions table's stream through the template's filter, as Lambda delivers it."""
        from infra.devkit import streams

        (mapping,) = [m for m in streams.mappings() if m["function"] == "RevocationFeedFunction"]
        batches: list[dict[str, Any]] = []
        pump = streams.StreamPump(
            self._client("dynamodb"),
            self._client("dynamodbstreams"),
            self.admin_env["SESSIONS_TABLE"],
            batches.append,
            filters=mapping["filters"],
            batch_size=mapping["batch_size"],
        )
        session = self.log_in()
        _post(f"{self.stack.base_url}/auth/logout", {"refresh_token": session.refresh})
        deadline = time.monotonic() + 10
        while not batches and time.monotonic() < deadline:
            pump.pump()
            time.sleep(0.05)
        if not batches:
            raise ColdStartFailed("RevocationFeedFunction: no revocation on the stream in 10 s")

        def check(answer: Any) -> str | None:
            if isinstance(answer, dict) and answer.get("records", 0) >= 1:
                return None
            return f"expected a published batch, got {str(answer)[:300]}"

        return batches[0], check

    # ------------------------------------------------------------ the processes
    def start(self, logical_id: str, python: str, *options: str) -> Start:
        """The next cold start of a function (its event made now, untimed)."""
        function = self.functions[logical_id]
        event, check = function.next_event()
        return Start(
            logical_id,
            [python, *options, "-c", CHILD],
            function.cwd,
            dict(function.env),
            json.dumps(event),
            check,
        )

    def close(self) -> None:
        self.stack.stop(timeout=30)


def _post(url: str, body: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the local stack on localhost
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        answer.read()


@contextmanager
def world() -> Iterator[ColdStartWorld]:
    """A ``ColdStartWorld`` in a temporary directory, stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
        started = ColdStartWorld(Path(work))
        try:
            yield started
        finally:
            started.close()
