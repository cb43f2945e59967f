"""Builds the local stack from template.yaml: moto, tables, keys, function environments.

Everything comes from the template (table schemas, key spec, environment variables,
routes), so the local stack and a deployed one cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import template
from infra.devkit import streams
from infra.devkit.moto import MFA_KEY_ALIAS, MotoServer, create_mfa_key, create_tables
from infra.local import ACCOUNT_ID, FAKE_CREDENTIALS, PYTHONPATH, REGION, ROOT
from infra.local.gateway import Authorizer, Cors
from infra.local.invoke import AsyncConfig, LambdaApi, lambda_server
from infra.local.pool import FunctionPool, FunctionSpec, InvocationFailed

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from types_boto3_dynamodb import DynamoDBClient

DEFAULT_DEMO_PASSWORD = "correct-horse-battery-staple"
# Contract §6: the tokens' iss is the local stack's own origin, and the cookie
# flows accept that origin unless ALLOWED_ORIGINS says otherwise; the links in the
# account mails (contract §7) lead to the demo page on it unless APP_URL says otherwise.
FORCED_TO_ORIGIN = frozenset({"ISSUER"})
DEFAULTING_TO_ORIGIN = frozenset({"ALLOWED_ORIGINS", "APP_URL"})
# Secrets the deployed stack generates when left empty (template: DeviceCookieSecret): the
# local stack generates them too, once per start, so it protects as a deployment does.
GENERATED_WHEN_EMPTY = frozenset({"DEVICE_COOKIE_KEY", "CLIENT_SECRET_PEPPER"})
_NO_VALUE = object()
# Lambda polls a stream's shards about four times a second.
STREAM_POLL_SECONDS = 0.25
# Not template parameters: the key caches' lengths (docs/keys.md, "Revoked keys stop fast"),
# which the functions accept only shorter than their defaults. Passed through to every
# function when set, so bench.revocation can run in seconds instead of minutes.
KEY_CACHE_VARIABLES = ("SIGNER_CACHE_SECONDS", "JWKS_CACHE_SECONDS", "KEY_RING_MAX_AGE_SECONDS")
# Contract §6/§7: where the functions write the account mails instead of sending them
# through SES (authcore.accounts.mail.OutboxMailer), given to every function.
DEFAULT_OUTBOX_DIR = ROOT / ".local" / "outbox"
# The template's output naming the mail function, which the admin command line reads
# from a deployed stack (``invite``); locally it names the pool.
MAIL_FUNCTION_OUTPUT = "AccountMailFunctionName"
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
# Written to the admin environment file (which only its owner may read) but never
# printed in the startup text.
UNPRINTED_VARIABLES = frozenset({"CLIENT_SECRET_PEPPER"})
# Contract §9: the members of an entry of LOCAL_CLIENTS_FILE.
CLIENT_MEMBERS = frozenset({"client_id", "client_secret", "jwks", "scope"})

Log = Callable[[str], None]


class UnsupportedIntrinsic(ValueError):
    pass


class SetupError(Exception):
    """The stack cannot start; the message says why, without a traceback."""


class Resolver:
    """Just enough of CloudFormation's intrinsics for the template's environment
    variables and HttpApi properties: Ref, Fn::Sub, Fn::If and its conditions,
    Fn::Split, Fn::Join."""

    def __init__(self, document: Mapping[str, Any], refs: Mapping[str, str]) -> None:
        self._conditions: Mapping[str, Any] = document.get("Conditions") or {}
        self._refs = refs

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name not in self._refs:
            raise UnsupportedIntrinsic(f"cannot resolve Ref {name} locally")
        return self._refs[name]

    def condition(self, name: str) -> bool:
        return bool(self.value(self._conditions[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            resolved = {k: self.value(n) for k, n in node.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.value(when_true if self.condition(name) else when_false)
        if key == "Fn::Equals":
            left, right = (self.value(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        if key == "Fn::Or":
            return any(self.value(a) for a in arg)
        if key == "Fn::Split":
            separator, text = arg
            return str(self.value(text)).split(separator)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.value(items))
        if key == "Fn::Sub" and isinstance(arg, str):
            return _SUB.sub(lambda m: str(self.ref(m.group(1))), arg)
        if key.startswith("Fn::"):
            raise UnsupportedIntrinsic(f"{key} is not supported locally")
        return {key: self.value(arg)}

    def string(self, node: Any) -> str:
        value = self.value(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def _parameter_of(node: Any, parameters: Mapping[str, str]) -> str | None:
    """The parameter a variable takes its value from: a Ref, or a Ref in a branch of an
    Fn::If (a parameter with a generated fallback)."""
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("Ref"), str):
        return node["Ref"] if node["Ref"] in parameters else None
    for branch in node.get("Fn::If", [])[1:]:
        found = _parameter_of(branch, parameters)
        if found is not None:
            return found
    return None


def local_parameters(origin: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The template's parameters as the local stack sets them: the defaults, each
    overridden by the environment variable the functions receive it as (contract §5),
    the issuer forced to, and the allowed origins defaulting to, the local origin, and the
    secrets a deployment would generate generated."""
    values = template.parameter_defaults()
    for function in template.functions().values():
        for variable, node in function.environment.items():
            parameter = _parameter_of(node, values)
            if parameter is None:
                continue
            if variable in FORCED_TO_ORIGIN:
                values[parameter] = origin
            elif environ.get(variable, "").strip():
                values[parameter] = environ[variable].strip()
            elif variable in DEFAULTING_TO_ORIGIN and not values[parameter]:
                values[parameter] = origin
            elif variable in GENERATED_WHEN_EMPTY and not values[parameter]:
                values[parameter] = secrets.token_urlsafe(48)
    return values


def _function_property(logical_id: str, name: str, default: int) -> int:
    document = template.load()
    globals_ = document.get("Globals", {}).get("Function", {})
    props = template.resources("AWS::Serverless::Function")[logical_id]["Properties"]
    return int(props.get(name, globals_.get(name, default)))


def bucket_names() -> dict[str, str]:
    """The template's buckets, by logical id, as the local stack names them (lower case:
    S3's rule)."""
    return {
        logical_id: f"local-{logical_id.lower()}"
        for logical_id in template.resources("AWS::S3::Bucket")
    }


def outbox_directory(environ: Mapping[str, str]) -> Path:
    """LOCAL_OUTBOX_DIR, or .local/outbox/ under the repository, made absolute: the
    workers run in the repository, the person reading the mails maybe elsewhere."""
    value = environ.get("LOCAL_OUTBOX_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else DEFAULT_OUTBOX_DIR


def async_configs() -> dict[str, AsyncConfig]:
    """Each function's EventInvokeConfig (retries and maximum age of asynchronous
    invocations), for the local Lambda API; Lambda's defaults where none is set."""
    configs = {}
    for logical_id, resource in template.resources("AWS::Serverless::Function").items():
        config = resource["Properties"].get("EventInvokeConfig") or {}
        defaults = AsyncConfig()
        configs[logical_id] = AsyncConfig(
            max_retries=int(config.get("MaximumRetryAttempts", defaults.max_retries)),
            max_event_age_seconds=int(
                config.get("MaximumEventAgeInSeconds", defaults.max_event_age_seconds)
            ),
        )
    return configs


@dataclass
class SeedUser:
    username: str
    password: str
    scope: str
    # Contract §7: an address given by whoever runs the stack counts as verified.
    email: str = ""


def users_to_seed(environ: Mapping[str, str]) -> list[SeedUser]:
    password = environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    found = [SeedUser("sam", password, "profile")]
    path = environ.get("LOCAL_USERS_FILE")
    if path:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a JSON array of users")
        for entry in entries:
            if (
                not isinstance(entry, dict)
                or not all(isinstance(entry.get(k), str) for k in ("username", "password"))
                or not isinstance(entry.get("email", ""), str)
            ):
                raise ValueError(
                    f"{path}: each user needs a string username and password"
                    " (and a string email, if any)"
                )
            scope = str(entry.get("scope", ""))
            email = entry.get("email", "")
            found.append(SeedUser(entry["username"], entry["password"], scope, email))
    return found


class BadClientsFile(ValueError):
    """LOCAL_CLIENTS_FILE is not what contract §9 describes; the message says where."""


@dataclass
class SeedClient:
    """A machine client of LOCAL_CLIENTS_FILE: a secret in clear (the developer chose
    it; only its digest is stored) or the public keys of a private_key_jwt client."""

    client_id: str
    scope: str
    client_secret: str | None = field(default=None, repr=False)
    jwks: dict[str, Any] | None = None


def clients_to_seed(environ: Mapping[str, str]) -> list[SeedClient]:
    """Contract §9: LOCAL_CLIENTS_FILE, a JSON array of
    ``{"client_id", "client_secret" | "jwks", "scope"}``; ValueError says what is wrong."""
    from infra.admin_clients import BadKeySet, public_jwks

    path = environ.get("LOCAL_CLIENTS_FILE")
    if not path:
        return []
    text = Path(path).read_text(encoding="utf-8")
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise BadClientsFile(f"{path}: not JSON: {error}") from None
    if not isinstance(entries, list):
        raise BadClientsFile(f"{path}: expected a JSON array of clients")
    found = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("client_id"), str):
            raise BadClientsFile(f"{path}: client {index} needs a string client_id")
        name = f"{path}: client {entry['client_id']!r}"
        unknown = sorted(set(entry) - CLIENT_MEMBERS)
        if unknown:
            raise BadClientsFile(
                f"{name}: unknown member {', '.join(unknown)}"
                f" (a client has {', '.join(sorted(CLIENT_MEMBERS))})"
            )
        if ("client_secret" in entry) == ("jwks" in entry):
            raise BadClientsFile(f"{name}: give either client_secret or jwks")
        if not isinstance(entry.get("scope", ""), str):
            raise BadClientsFile(f"{name}: scope must be a string of space-separated scopes")
        secret = entry.get("client_secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise BadClientsFile(f"{name}: client_secret must be a non-empty string")
        jwks = None
        if "jwks" in entry:
            try:
                jwks = public_jwks(entry["jwks"])
            except BadKeySet as error:
                raise BadClientsFile(f"{name}: jwks: {error}") from None
        found.append(SeedClient(entry["client_id"], entry.get("scope", ""), secret, jwks))
    return found


class LocalStack:
    def __init__(self, port: int, log: Log, environ: Mapping[str, str] = os.environ) -> None:
        self.port = port
        self.origin = f"http://localhost:{port}"
        self._log = log
        self._environ = environ
        # The template's parameters, resolved once: the secrets generated when empty
        # (the client-secret pepper above all) must be the same for every function, the
        # seeding and the admin environment.
        self._parameters: dict[str, str] | None = None
        self._moto: MotoServer | None = None
        self.endpoint = ""
        self.tables: dict[str, str] = {}
        # Named from the template (no account-wide uniqueness to meet in moto).
        self.buckets = bucket_names()
        # The template's symmetric keys, by the alias create_resources gives them (a Ref
        # is a key id deployed; an alias names the key as well for Encrypt and Decrypt).
        self.kms_keys: dict[str, str] = {"MfaSecretsKey": MFA_KEY_ALIAS}
        self.pools: dict[str, FunctionPool] = {}
        self.cors: Cors | None = None
        self.outbox = outbox_directory(environ)
        # The local Lambda Invoke API (infra.local.invoke), once started.
        self.lambda_endpoint = ""
        self._lambda_api: LambdaApi | None = None
        self._lambda_server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------ AWS side
    def start_moto(self) -> None:
        self._moto = MotoServer().start()
        self.endpoint = self._moto.url

    def dynamodb(self) -> DynamoDBClient:
        assert self._moto is not None  # noqa: S101
        client: DynamoDBClient = self._moto.client("dynamodb")
        return client

    def create_resources(self) -> None:
        names = {
            logical_id: f"local-{logical_id}"
            for logical_id in template.resources("AWS::DynamoDB::Table")
        }
        self.tables = create_tables(self.dynamodb(), names)
        assert self._moto is not None  # noqa: S101
        create_mfa_key(self._moto.client("kms"))
        s3 = self._moto.client("s3")
        for bucket in self.buckets.values():
            s3.create_bucket(Bucket=bucket)

    def start_streams(self) -> None:
        """The template's stream mappings (the revocation feed's publisher): a thread
        each, polling the table's stream as Lambda does and invoking the function."""
        assert self._moto is not None  # noqa: S101
        for mapping in streams.mappings():
            pool = self.pools[mapping["function"]]
            pump = streams.StreamPump(
                self._moto.client("dynamodb"),
                self._moto.client("dynamodbstreams"),
                self.tables[mapping["table"]],
                pool.invoke,
                filters=mapping["filters"],
                batch_size=mapping["batch_size"],
            )
            threading.Thread(
                target=pump.run,
                args=(self._stopping, STREAM_POLL_SECONDS, self._log),
                name=f"stream-{mapping['function']}",
                daemon=True,
            ).start()

    def start_lambda_api(self) -> None:
        """The Invoke API the functions (and the admin command line) reach through
        AWS_ENDPOINT_URL_LAMBDA; it serves the pools as start_functions fills them in."""
        self._lambda_api = LambdaApi(self.pools, self._log, async_configs())
        server = lambda_server(self._lambda_api, self._log)
        self._lambda_server = server
        self.lambda_endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="lambda-api", daemon=True).start()

    # -------------------------------------------------------- functions
    def parameters(self) -> dict[str, str]:
        if self._parameters is None:
            self._parameters = local_parameters(self.origin, self._environ)
        return self._parameters

    def resolver(self) -> Resolver:
        refs: dict[str, str] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": "local",
            "AWS::URLSuffix": "amazonaws.com",
            **self.parameters(),
            **self.tables,
            **self.buckets,
            **self.kms_keys,
            # A function's Ref is its name; locally the name is the logical id.
            **{logical_id: logical_id for logical_id in template.functions()},
            # No versions locally: a function's alias `live` is the function itself.
            **{f"{logical_id}.Alias": logical_id for logical_id in template.functions()},
        }
        return Resolver(template.load(), refs)

    def function_specs(self) -> dict[str, FunctionSpec]:
        resolver = self.resolver()
        specs = {}
        for logical_id, function in template.functions().items():
            try:
                env = {name: resolver.string(node) for name, node in function.environment.items()}
            except UnsupportedIntrinsic as error:
                raise SetupError(f"{logical_id}'s environment: {error}") from None
            memory = _function_property(logical_id, "MemorySize", 128)
            timeout = _function_property(logical_id, "Timeout", 3)
            runtime = {
                **FAKE_CREDENTIALS,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint,
                **self._lambda_endpoint_variable(),
                "LOCAL_OUTBOX_DIR": str(self.outbox),
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical_id}",
                # No X-Ray daemon here: Powertools' tracer would only warn.
                "POWERTOOLS_TRACE_DISABLED": "true",
                "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
            inherited = {k: os.environ[k] for k in keep if k in os.environ}
            inherited.update(
                {k: self._environ[k] for k in KEY_CACHE_VARIABLES if self._environ.get(k)}
            )
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                module=function.module,
                attribute=function.attribute,
                environment={**inherited, **runtime, **env},
                memory_mb=memory,
                timeout_seconds=timeout,
            )
        return specs

    def _lambda_endpoint_variable(self) -> dict[str, str]:
        # Service-specific: only Lambda calls go there, everything else stays on moto.
        return {"AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint} if self.lambda_endpoint else {}

    def start_functions(self) -> None:
        for logical_id, spec in self.function_specs().items():
            self.pools[logical_id] = FunctionPool(spec, self._log)

        def warm(pool: FunctionPool) -> None:
            try:
                pool.warm()
            except InvocationFailed as failure:
                self._log(f"[stack] {pool.spec.logical_id} failed to start: {failure.reason}\n")

        threads = [threading.Thread(target=warm, args=(p,)) for p in self.pools.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def cors_configuration(self) -> Cors | None:
        resolver = self.resolver()
        for api in template.resources("AWS::Serverless::HttpApi").values():
            config = resolver.value(api["Properties"].get("CorsConfiguration"))
            if isinstance(config, dict):
                return Cors.from_config(config)
        return None

    def authorizer(self) -> Authorizer | None:
        name, function = template.default_authorizer()
        if name is None or function is None:
            return None
        for api in template.resources("AWS::Serverless::HttpApi").values():
            config = api["Properties"].get("Auth", {}).get("Authorizers", {}).get(name)
            if config is not None:
                return self._authorizer_from(config, function)
        return Authorizer(function)

    def _authorizer_from(self, config: Mapping[str, Any], function: str) -> Authorizer:
        identity = self.resolver().value(config.get("Identity") or {})
        return Authorizer(
            function,
            headers=tuple(identity.get("Headers") or ()),
            query_strings=tuple(identity.get("QueryStrings") or ()),
            ttl_seconds=int(identity.get("ReauthorizeEvery") or 0),
            context=tuple(identity.get("Context") or ()),
        )

    def route_authorizers(self) -> dict[tuple[str, str], Authorizer]:
        """(method, path) -> authorizer, for the routes that name one other than the
        default (``Auth: {Authorizer: SessionAuthorizer}``); NONE is not one."""
        default_name, _ = template.default_authorizer()
        configs: dict[str, Any] = {}
        for api in template.resources("AWS::Serverless::HttpApi").values():
            configs.update(api["Properties"].get("Auth", {}).get("Authorizers", {}))
        found: dict[tuple[str, str], Authorizer] = {}
        for resource in template.resources("AWS::Serverless::Function").values():
            for event in resource["Properties"].get("Events", {}).values():
                props = event.get("Properties", {})
                name = props.get("Auth", {}).get("Authorizer")
                if event.get("Type") != "HttpApi" or name in (None, "NONE", default_name):
                    continue
                function = template.authorizer_function(configs.get(name, {}).get("FunctionArn"))
                if function is None:
                    raise SetupError(f"route {props['Path']} names an unknown authorizer {name}")
                authorizer = self._authorizer_from(configs[name], function)
                found[(props["Method"].upper(), props["Path"])] = authorizer
        return found

    # ------------------------------------------------------------ users
    def seed_users(self) -> list[str]:
        # Imported here: authcore needs layers/common on sys.path (see __main__).
        from authcore.errors import AuthError, ConfigError, UserExists
        from infra.admin import Admin

        try:
            seeds = users_to_seed(self._environ)
            admin = Admin.connect(
                self.tables["UsersTable"], self.tables["SessionsTable"], self.dynamodb()
            )
        except (OSError, ValueError, ConfigError) as error:
            raise SetupError(str(error)) from None
        created = []
        for user in seeds:
            try:
                admin.create_user(user.username, user.password, user.scope, email=user.email)
            except AuthError as error:
                raise SetupError(
                    f"cannot create user {user.username!r}: {error.description}"
                ) from None
            except UserExists as exists:
                if "email" in exists.taken:
                    raise SetupError(
                        f"user {user.username!r}: the address {user.email!r} is listed twice"
                    ) from None
                raise SetupError(f"user {user.username!r} is listed twice") from None
            created.append(user.username)
        return created

    # ------------------------------------------------------------ machine clients
    def function_variable(self, name: str) -> str:
        """A variable as the template's functions receive it (the first that does)."""
        resolver = self.resolver()
        for function in template.functions().values():
            if name in function.environment:
                return resolver.string(function.environment[name])
        raise SetupError(f"no function of the template receives {name}")

    def seed_clients(self) -> list[str]:
        """LOCAL_CLIENTS_FILE's clients, their secrets digested with the pepper the
        OAuth function was given."""
        from authcore.clients.dynamo import ClientExists
        from authcore.errors import AuthError
        from infra.admin_clients import ClientAdmin

        try:
            seeds = clients_to_seed(self._environ)
        except (OSError, ValueError) as error:
            raise SetupError(str(error)) from None
        if not seeds:
            return []
        pepper = self.function_variable("CLIENT_SECRET_PEPPER").encode("utf-8")
        admin = ClientAdmin.connect(self.tables["ClientsTable"], lambda: pepper, self.dynamodb())
        created = []
        for seed in seeds:
            try:
                admin.create(seed.client_id, seed.scope, jwks=seed.jwks, secret=seed.client_secret)
            except ClientExists:
                raise SetupError(f"client {seed.client_id!r} is listed twice") from None
            except AuthError as error:
                raise SetupError(
                    f"cannot create client {seed.client_id!r}: {error.description}"
                ) from None
            created.append(seed.client_id)
        return created

    def mail_function(self) -> str:
        """The mail function's name, as the template's output gives it."""
        output = template.load().get("Outputs", {}).get(MAIL_FUNCTION_OUTPUT, {})
        return self.resolver().string(output.get("Value", ""))

    def admin_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            **self._lambda_endpoint_variable(),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **FAKE_CREDENTIALS,
            "USERS_TABLE": self.tables.get("UsersTable", ""),
            "SESSIONS_TABLE": self.tables.get("SessionsTable", ""),
            "KEYS_TABLE": self.tables.get("KeysTable", ""),
            # `python -m infra.admin create-client` and `rotate-secret` digest new secrets
            # with the pepper the OAuth function was given.
            "CLIENTS_TABLE": self.tables.get("ClientsTable", ""),
            "CLIENT_SECRET_PEPPER": self.function_variable("CLIENT_SECRET_PEPPER"),
            # `python -m infra.admin invite` hands the invitation to this function.
            "MAIL_FUNCTION": self.mail_function(),
            "LOCAL_OUTBOX_DIR": str(self.outbox),
            "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
            "LOCAL_API_URL": self.origin,
        }

    # --------------------------------------------------------- lifecycle
    def run_custom_resources(self) -> None:
        """What CloudFormation does at deploy time: invoke each custom resource's
        function with a Create request (here the signing-key bootstrap)."""
        for logical_id, resource in template.resources(
            "AWS::CloudFormation::CustomResource"
        ).items():
            token = resource["Properties"]["ServiceToken"]
            function = token["Fn::GetAtt"][0]
            answer = self.pools[function].invoke(
                {
                    "RequestType": "Create",
                    "LogicalResourceId": logical_id,
                    "ResourceType": resource["Type"],
                    "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/local/0",
                    "RequestId": logical_id,
                    "ResourceProperties": {},
                }
            )
            self._log(f"[stack] {logical_id}: {json.dumps(answer)[:200]}\n")

    def start(self) -> None:
        self.start_moto()
        self.create_resources()
        self.cors = self.cors_configuration()
        self.start_lambda_api()
        self.start_functions()
        self.run_custom_resources()
        self.start_streams()

    def stop(self) -> None:
        # No new invocations and no more retries, then the workers.
        self._stopping.set()
        if self._lambda_api is not None:
            self._lambda_api.close()
        if self._lambda_server is not None:
            self._lambda_server.shutdown()
            self._lambda_server.server_close()
            self._lambda_server = None
        # The pools side by side: one after another, a loaded machine takes longer to stop
        # some fifteen functions' workers than a caller's patience (SIGKILL) allows.
        closing = [threading.Thread(target=pool.close) for pool in self.pools.values()]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None


def write_env_file(path: Path, variables: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# The local stack's AWS environment: `. " + _display(path) + "`, then"]
    lines.append("# `python -m infra.admin create-user NAME --scope profile` (password on stdin).")
    # Nothing of a real account may win over the fake credentials.
    lines.append("unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN")
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    # It holds the client-secret pepper: its owner's alone.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)  # an existing file keeps its mode through os.open
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _other_origin_lines(origin: str, other_port: int | None) -> list[str]:
    if other_port is None:
        return []
    return [
        "A page of another origin that tries to use your cookies against the API",
        f"  (same site, another port):  http://localhost:{other_port}/?api={origin}",
        f"  (another site altogether):  http://127.0.0.1:{other_port}/?api={origin}",
    ]


def walkthrough(
    origin: str,
    demo_password_set: bool,
    admin_env: Mapping[str, str],
    env_file: Path,
    other_port: int | None = None,
    outbox: Path | None = None,
    clients: Sequence[str] = (),
) -> str:
    password = "<your DEMO_PASSWORD>" if demo_password_set else DEFAULT_DEMO_PASSWORD
    login = f'{{"username":"sam","password":"{password}"'
    json_type = "-H 'Content-Type: application/json'"
    jar = ".local/cookies"
    refresh_body = '"{\\"refresh_token\\":\\"$REFRESH\\"}"'

    def pick(name: str) -> str:
        code = f'import json,sys; print(json.load(sys.stdin)["{name}"])'
        return f"printf %s \"$TOKENS\" | python3 -c '{code}'"

    lines = [
        "",
        f"Local stack ready at {origin} (the tokens' iss; ready when",
        "/.well-known/openid-configuration answers 200).",
        "",
        f"Demo page (the browser flow of a single-page app): {origin}/",
        *_other_origin_lines(origin, other_port),
        "",
        "Cookie delivery (curl sends Secure cookies to localhost over plain http):",
        f"  curl -si -c {jar} {json_type} \\",
        f"       -d '{login}}}' {origin}/auth/login",
        f"  curl -s  -b {jar} {origin}/api/me",
        f"  curl -si -b {jar} -c {jar} -X POST {origin}/auth/refresh",
        f"  curl -si -b {jar} -c {jar} -X POST {origin}/auth/logout",
        "",
        "Body delivery, the access token as a Bearer header:",
        f"  TOKENS=$(curl -s {json_type} \\",
        f'       -d \'{login},"delivery":"body"}}\' {origin}/auth/login)',
        f"  ACCESS=$({pick('access_token')})",
        f"  REFRESH=$({pick('refresh_token')})",
        f'  curl -s -H "Authorization: Bearer $ACCESS" {origin}/api/me',
        f"  TOKENS=$(curl -s {json_type} -d {refresh_body} {origin}/auth/refresh)",
        f"  REFRESH=$({pick('refresh_token')})   # rotated: use the new one",
        f"  curl -si {json_type} -d {refresh_body} {origin}/auth/logout",
        "",
        f"Admin commands against this stack: `. {_display(env_file)}` sets",
        *(
            f"  export {name}={'<in the file>' if name in UNPRINTED_VARIABLES else value}"
            for name, value in admin_env.items()
        ),
        "then, e.g.:",
        "  printf '%s\\n' 'a-long-passphrase' \\",
        "    | .venv/bin/python -m infra.admin create-user alice --scope profile",
        "  .venv/bin/python -m infra.admin invite bob --email bob@example.com --scope profile",
        "",
        *_client_lines(origin, clients),
        *_outbox_lines(origin, outbox),
    ]
    return "\n".join(lines)


def _client_lines(origin: str, clients: Sequence[str]) -> list[str]:
    seeded = [f"  Created from LOCAL_CLIENTS_FILE: {', '.join(clients)}"] if clients else []
    return [
        "Machine clients (OAuth 2.0 client credentials, form-encoded): the token endpoint is",
        f"  {origin}/oauth2/token (discovery's token_endpoint).",
        *seeded,
        "  With the admin environment, a client and a token:",
        "  SECRET=$(.venv/bin/python -m infra.admin create-client reports-job \\",
        "      --scope reports:read | python3 -c 'import json,sys; print(json.load(sys.stdin)"
        '["client_secret"])\')',
        '  curl -s -u "reports-job:$SECRET" -d grant_type=client_credentials \\',
        f"       {origin}/oauth2/token",
        "",
    ]


def _outbox_lines(origin: str, outbox: Path | None) -> list[str]:
    if outbox is None:
        return []
    return [
        f"Account mails are files in {_display(outbox)}/ (nothing is sent); the newest, with",
        f"their links, at {origin}/_local/outbox (local only). Try a reset in the demo page:",
        f"  {origin}/forgot-password",
        "",
    ]
