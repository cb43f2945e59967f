"""`sam build`, then `sam local invoke` of every function with every sample event, then
`sam local start-api` for a protected route, each answer checked against the local stack.

The sample events in events/ hold placeholder tokens. Here the local stack (moto, the key
ring, the demo user) is started first and logged in to over HTTP, and the real access and
refresh tokens, ``sub`` and ``sid`` go into the events, so each function answers its success
case: a login that issues tokens, a refresh that rotates, an authorizer that allows.

Containers reach the host through the docker bridge: a forwarder listening on the bridge's
address only (never on the machine's other interfaces) relays to the local stack's moto server,
which stays on 127.0.0.1, and another to its Lambda API where it has one
(``AWS_ENDPOINT_URL_LAMBDA``): the forgot and password routes hand their mail jobs to
``AccountMailFunction`` there, as they would to Lambda.

A machine client is registered in the stack's clients table for the OAuth cases, under a
pepper (``CLIENT_SECRET_PEPPER``) pinned for the run: the stack and the containers must
digest secrets alike, and each would otherwise generate a pepper of its own.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from infra import template
from infra.devkit.environment import FAKE_CREDENTIALS, REGION, use_layer
from infra.devkit.local_stack import free_port
from infra.local.stack import DEFAULT_DEMO_PASSWORD, LocalStack, bucket_names
from infra.samlocal import image, sam, variant
from infra.samlocal.cases import CHANGER, Case, FeedReader, Machine, Session, cases
from infra.samlocal.common import ROOT, SAM, WORK, MachineCannot, SamLocalError
from infra.samlocal.forward import Forwarder

EVENTS = ROOT / "events"
PYTHON = Path(sys.executable)
# The OAuth cases' client, and the pepper its secret is digested under (stack and containers).
SAMPLE_CLIENT_ID = "sam-local-client"
SAMPLE_CLIENT_SCOPE = "reports:read"
PINNED = {"CLIENT_SECRET_PEPPER": "sam-local-client-secret-pepper-of-no-secrecy-at-all"}


# ---------------------------------------------------------------- the machine
def docker_ready() -> str | None:
    """None when a docker daemon answers; otherwise why not."""
    if shutil.which("docker") is None:
        return "docker is not installed (Debian: apt-get install docker.io)"
    probe = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if probe.returncode != 0:
        return "the docker daemon is not running (start it: dockerd, or systemctl start docker)"
    return None


def _remove_containers() -> None:
    found = subprocess.run(  # noqa: S603
        ["docker", "ps", "-aq", "--filter", f"label={image.CONTAINER_LABEL}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    containers = found.stdout.split()
    if containers:
        subprocess.run(  # noqa: S603
            ["docker", "rm", "-f", *containers],  # noqa: S607
            capture_output=True,
            check=False,
            timeout=120,
        )


def bridge_address() -> str:
    """The host's address on the default docker bridge, which containers reach it by."""
    probe = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    try:
        config = json.loads(probe.stdout)[0]
    except (json.JSONDecodeError, IndexError, TypeError):
        raise SamLocalError(f"cannot read the docker bridge: {probe.stderr.strip()}") from None
    if config.get("Gateway"):
        return str(config["Gateway"])
    # Older daemons leave Gateway out: the bridge then holds the subnet's first address.
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


# ---------------------------------------------------------------- the local stack
@dataclass
class Stack:
    origin: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[str]


@contextmanager
def local_stack() -> Iterator[Stack]:
    port = free_port()
    env_file = Path(tempfile.mkdtemp(dir=WORK)) / "env"
    # The template's defaults, whatever the calling process has set (a test that shortened
    # SESSION_TTL_SECONDS for itself would otherwise expire these sessions mid-run).
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DEMO_PASSWORD")
    environ = {name: os.environ[name] for name in keep if name in os.environ}
    environ.update(PORT=str(port), OTHER_ORIGIN_PORT="0", LOCAL_ENV_FILE=str(env_file))
    # The password-change case's own user, and the run's mail kept out of .local/outbox/.
    users_file = env_file.parent / "users.json"
    users_file.write_text(json.dumps([{**CHANGER, "scope": "profile"}]))
    environ.update(LOCAL_USERS_FILE=str(users_file), LOCAL_OUTBOX_DIR=str(WORK / "outbox"))
    environ.update(PINNED)
    log = (WORK / "local-stack.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [str(PYTHON), "-m", "infra.local"],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    origin = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SamLocalError(f"the local stack exited; see {WORK / 'local-stack.log'}")
            try:
                with urllib.request.urlopen(f"{origin}/.well-known/openid-configuration") as answer:  # noqa: S310
                    if answer.status == 200 and env_file.is_file():
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise SamLocalError("the local stack did not become ready in 120 s")
            time.sleep(0.3)
        env = {}
        for line in env_file.read_text().splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                env[name] = value.strip("'")
        yield Stack(origin, port, env, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        result: dict[str, Any] = json.loads(answer.read())
        return result


def log_in(origin: str, username: str = "sam", password: str | None = None) -> Session:
    password = password or os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    tokens = _post(
        f"{origin}/auth/login", {"username": username, "password": password, "delivery": "body"}
    )
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return Session(tokens["access_token"], tokens["refresh_token"], claims)


def register_client(stack: Stack) -> Machine:
    """The OAuth cases' client, written to the stack's clients table with a new secret."""
    use_layer()
    from authcore.clients.dynamo import DynamoClientStore
    from authcore.clients.model import Client

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.env["AWS_ENDPOINT_URL"],
        region_name=stack.env.get("AWS_REGION", REGION),
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    # The stack names each table local-<logical id>, as environment_file does.
    table = stack.env.get("CLIENTS_TABLE") or "local-ClientsTable"
    client = Client(SAMPLE_CLIENT_ID, frozenset(SAMPLE_CLIENT_SCOPE.split()))
    client, secret = client.with_new_secret(PINNED["CLIENT_SECRET_PEPPER"].encode(), time.time())
    DynamoClientStore(dynamodb, table).create(client)
    return Machine(SAMPLE_CLIENT_ID, secret, SAMPLE_CLIENT_SCOPE)


def feed_reader(stack: Stack) -> FeedReader:
    """Reads the revocation feed's bucket in the stack's moto, where the publisher's
    container writes it (through the bridge) and so does the stack's own stream mapping."""
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.env["AWS_ENDPOINT_URL"],
        region_name=stack.env.get("AWS_REGION", REGION),
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    bucket = bucket_names()["RevocationFeedBucket"]

    def read(key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body

    return read


# The template's MailSender is empty by default (a deployment names one): without a From
# address the mail function cannot build its SES adapter at all. Nothing is sent here.
SAMPLE_MAIL_FROM = "no-reply@example.com"


def environment_file(stack: Stack, moto: Forwarder, lambda_api: Forwarder | None = None) -> Path:
    """Each function's variables as the local stack gives them to its own workers, with the
    AWS endpoints reached through the bridge."""
    resolver_stack = LocalStack(stack.port, lambda _line: None, {**os.environ, **PINNED})
    resolver_stack.tables = {
        logical_id: f"local-{logical_id}"
        for logical_id in template.resources("AWS::DynamoDB::Table")
    }
    # The authorizers' key source speaks plain http to localhost only (anything else must be
    # https): inside a container, localhost also names the bridge (--add-host), where the
    # forwarder listens. 127.0.0.1 is tried first and refused at once.
    resolver_stack.endpoint = f"http://localhost:{moto.port}"
    overrides: dict[str, dict[str, str]] = {}
    for logical_id, spec in resolver_stack.function_specs().items():
        declared = set(template.functions()[logical_id].environment) | set(variant.EXTRA_VARIABLES)
        overrides[logical_id] = {k: v for k, v in spec.environment.items() if k in declared}
        # Empty: Lambda calls go to AWS_ENDPOINT_URL (moto) like every other service.
        overrides[logical_id]["AWS_ENDPOINT_URL_LAMBDA"] = (
            f"http://localhost:{lambda_api.port}" if lambda_api else ""
        )
        if "MAIL_FROM" in declared and not overrides[logical_id].get("MAIL_FROM"):
            overrides[logical_id]["MAIL_FROM"] = SAMPLE_MAIL_FROM
    path = WORK / "env.json"
    path.write_text(json.dumps(overrides, indent=1))
    return path


def run(log: Callable[[str], None] = print, *, warm: bool = True) -> list[Case]:
    """Every case, checked; raises SamLocalError when sam local cannot run here at all."""
    reason = docker_ready()
    if reason is not None:
        raise MachineCannot(reason)
    if not SAM.exists():
        raise MachineCannot(f"SAM CLI not found at {SAM}: run `make sam-cli`")
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        tag, seconds = image.build(log=log)
    except image.Unsupported as error:
        raise MachineCannot(str(error)) from None
    except image.ImageError as error:
        raise SamLocalError(str(error)) from None
    log(f"[sam-local] image {tag}: " + (f"built in {seconds:.0f} s" if seconds else "current"))
    built, _ = sam.build(log)
    bridge = bridge_address()
    with local_stack() as stack:
        moto_port = int(stack.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        moto = Forwarder(bridge, moto_port)
        lambda_port = urllib.parse.urlsplit(stack.env.get("AWS_ENDPOINT_URL_LAMBDA", "")).port
        lambda_api = Forwarder(bridge, lambda_port) if lambda_port else None
        invoker: sam.ColdInvoker | sam.WarmInvoker | None = None
        try:
            env_vars = environment_file(stack, moto, lambda_api)
            options = sam.common_options(built, env_vars, bridge)
            main, other, leaving = (log_in(stack.origin) for _ in range(3))
            changer = log_in(stack.origin, CHANGER["username"], CHANGER["password"])
            checked = cases(
                main, other, leaving, changer, register_client(stack), feed_reader(stack)
            )
            started = time.monotonic()
            invoker = sam.WarmInvoker(options) if warm else sam.ColdInvoker(options)
            log(f"[sam-local] {invoker.name} ready in {time.monotonic() - started:.1f} s")
            for case in checked:
                event = json.loads((EVENTS / case.event_file).read_text())
                case.edit(event)
                started = time.monotonic()
                case.problem = case.check(invoker(case, event))
                case.seconds = time.monotonic() - started
                verdict = "ok" if case.problem is None else f"FAILED: {case.problem}"
                log(f"[sam-local] {case.name}: {case.seconds * 1000:.0f} ms {verdict}")
            invoker.close()
            invoker = None
            problems = sam.start_api_check(options, log_in(stack.origin), log)
            checked.append(
                Case(
                    "start-api", "GET /api/me", lambda _a: None, problem="; ".join(problems) or None
                )
            )
        finally:
            if invoker is not None:
                invoker.close()
            moto.close()
            if lambda_api is not None:
                lambda_api.close()
            _remove_containers()
    return checked


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        checked = run(warm="--warm" in args)
    except SamLocalError as error:
        print(f"[sam-local] cannot run: {error}", file=sys.stderr)
        return 2
    failed = [case for case in checked if case.problem is not None]
    print(f"sam-local: {len(checked) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
