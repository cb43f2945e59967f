"""The admin command line's machine clients (contract §9): create, list, rotate and revoke
secrets, disable and enable, set scopes and quotas.

A client secret is printed once, by the command that made it (``create-client``,
``rotate-secret``), and stored only as its HMAC-SHA-256 digest under the pepper
(``CLIENT_SECRET_PEPPER``, or with ``--stack`` the secret the stack generated: its output
``ClientSecretPepperSecretArn``). Nothing else ever prints a secret or a digest. Only the
two commands that make a secret need the pepper; the others touch the clients table alone.

A ``private_key_jwt`` client (``create-client --jwks FILE``) has public keys and no secret;
a key set holding any private member is refused, so a leaked private key is noticed here
rather than stored.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3
import jwt

from authcore.clients.dynamo import DynamoClientStore, UnknownClient
from authcore.clients.model import (
    DEFAULT_SECRET_LIFETIME_SECONDS,
    Client,
    ClientSecret,
    Status,
    check_client_id,
    parse_scope,
    secret_digest,
)
from authcore.errors import ConfigError, InvalidRequest, WriteConflict
from authcore.records import replace

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

# The template's outputs the client commands read from a deployed stack.
CLIENTS_TABLE_OUTPUT = "ClientsTableName"
PEPPER_SECRET_OUTPUT = "ClientSecretPepperSecretArn"
MIN_PEPPER_LENGTH = 32
# The most tokens per hour a client's own quota may allow (CLIENT_TOKEN_QUOTA_PER_HOUR's bound).
MAX_QUOTA_PER_HOUR = 10_000_000
# A concurrent edit of the same client (its version moved on): read again and redo.
EDIT_ATTEMPTS = 3
# Members of a JWK that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
KEY_TYPES = frozenset({"EC", "RSA"})

# The commands of this module, and the two that print a new secret (and need the pepper).
COMMANDS = (
    "create-client",
    "list-clients",
    "rotate-secret",
    "revoke-secret",
    "disable-client",
    "enable-client",
    "set-scopes",
    "set-quota",
)


class PepperUnavailable(ConfigError):
    """No pepper to digest a new secret with: nothing was written."""


class BadKeySet(ValueError):
    """A ``--jwks`` file that is not a set of public signing keys."""


# ------------------------------------------------------------------ key sets
def public_jwks(document: object) -> dict[str, Any]:
    """A JWK set of public EC or RSA keys, checked: every key loads, no private member,
    no kid twice, and a kid on every key when there are several (the assertion's kid is
    how the token endpoint picks one). ``BadKeySet`` says what is wrong."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise BadKeySet('expected a JWK set: {"keys": [...]}')
    keys = document["keys"]
    if not keys:
        raise BadKeySet("the key set has no keys")
    kids: list[str] = []
    for index, key in enumerate(keys):
        where = f"key {index}"
        if not isinstance(key, Mapping):
            raise BadKeySet(f"{where} is not a JSON object")
        private = [member for member in PRIVATE_MEMBERS if member in key]
        if private:
            raise BadKeySet(
                f"{where} holds private members ({', '.join(private)}): register the public"
                " key only, and treat this private key as leaked"
            )
        if key.get("kty") not in KEY_TYPES:
            raise BadKeySet(f"{where}: kty must be EC or RSA")
        if key.get("use", "sig") != "sig":
            raise BadKeySet(f"{where}: use must be sig")
        kid = key.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or not kid:
                raise BadKeySet(f"{where}: kid must be a non-empty string")
            if kid in kids:
                raise BadKeySet(f"kid {kid!r} is given twice")
            kids.append(kid)
        try:
            jwt.PyJWK(dict(key))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise BadKeySet(f"{where} is not a usable key: {error}") from None
    if len(keys) > 1 and len(kids) != len(keys):
        raise BadKeySet("with several keys, each needs a kid")
    return {"keys": [dict(key) for key in keys]}


def read_jwks(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadKeySet(f"{path}: {error}") from None
    try:
        return public_jwks(document)
    except BadKeySet as error:
        raise BadKeySet(f"{path}: {error}") from None


# ------------------------------------------------------------------ what is shown
def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(client: Client, now: float) -> dict[str, Any]:
    """A client as the administrator sees it: never a secret or a digest."""
    return {
        "client_id": client.client_id,
        "scope": " ".join(sorted(client.scope)),
        "status": client.status,
        "auth": "private_key_jwt" if client.jwks is not None else "client_secret",
        # null: the stack's CLIENT_TOKEN_QUOTA_PER_HOUR.
        "quota_per_hour": client.quota_per_hour or None,
        "secrets": [
            {
                "secret_id": s.secret_id,
                "expires_at": _iso(s.expires_at),
                "live": s.expires_at > now,
            }
            for s in sorted(client.secrets, key=lambda s: s.expires_at)
        ],
        "jwks_kids": [str(key.get("kid", "")) for key in (client.jwks or {}).get("keys", [])],
    }


# ------------------------------------------------------------------ the operations
@dataclass
class ClientAdmin:
    store: DynamoClientStore
    # The pepper, asked for only by what makes a secret (it may be a Secrets Manager call).
    pepper: Callable[[], bytes]
    clock: Callable[[], float] = time.time
    secret_lifetime: int = DEFAULT_SECRET_LIFETIME_SECONDS

    @classmethod
    def connect(
        cls, table: str, pepper: Callable[[], bytes], client: DynamoDBClient | None = None
    ) -> ClientAdmin:
        return cls(DynamoClientStore(client or boto3.client("dynamodb"), table), pepper)

    def _existing(self, client_id: str) -> Client:
        client = self.store.get(client_id)
        if client is None:
            raise UnknownClient(f"no such client: {client_id}")
        return client

    def _edit(self, client_id: str, change: Callable[[Client], Client]) -> Client:
        """``change`` applied to the stored client, written only if nobody else wrote it
        in between; on a concurrent edit, read again and apply again."""
        for attempt in range(EDIT_ATTEMPTS):
            before = self._existing(client_id)
            try:
                return self.store.replace(before, change(before))
            except WriteConflict:
                if attempt == EDIT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def create(
        self,
        client_id: str,
        scope: str,
        *,
        quota_per_hour: int = 0,
        jwks: Mapping[str, Any] | None = None,
        secret: str | None = None,
    ) -> tuple[Client, str | None]:
        """A new client and its secret (None for a ``private_key_jwt`` client).
        ``secret``: one chosen by the caller (the local stack's LOCAL_CLIENTS_FILE),
        otherwise 256 random bits. ``ClientExists`` if the id is taken."""
        check_client_id(client_id)
        check_quota(quota_per_hour)
        client = Client(client_id, parse_scope(scope), quota_per_hour=quota_per_hour)
        if jwks is not None:
            if secret is not None:
                raise InvalidRequest("a client has keys or a secret, not both")
            client = replace(client, jwks=public_jwks(jwks))
            self.store.create(client)
            return client, None
        pepper = self.pepper()
        if secret is None:
            client, secret = client.with_new_secret(pepper, self.clock(), self.secret_lifetime)
        else:
            if not secret:
                raise InvalidRequest("a client secret may not be empty")
            chosen = ClientSecret(
                secrets.token_hex(4),
                secret_digest(pepper, secret),
                self.clock() + self.secret_lifetime,
            )
            client = replace(client, secrets=(chosen,))
        self.store.create(client)
        return client, secret

    def list(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [describe(client, now) for client in self.store.list()]

    def rotate_secret(self, client_id: str) -> tuple[Client, str]:
        """A new secret; the newest of the live ones stays live beside it (the overlap
        in which the client's deployments switch), any older one goes."""
        pepper = self.pepper()  # before anything is read: a missing pepper writes nothing
        issued: list[str] = []

        def rotate(client: Client) -> Client:
            if client.jwks is not None:
                raise InvalidRequest(
                    f"client {client_id} authenticates with private_key_jwt: it has no secret"
                )
            rotated, secret = client.with_new_secret(pepper, self.clock(), self.secret_lifetime)
            issued[:] = [secret]
            return rotated

        client = self._edit(client_id, rotate)
        return client, issued[0]

    def revoke_secret(self, client_id: str, secret_id: str) -> Client:
        def revoke(client: Client) -> Client:
            kept = tuple(s for s in client.secrets if s.secret_id != secret_id)
            if len(kept) == len(client.secrets):
                raise UnknownClient(f"client {client_id} has no secret {secret_id}")
            return replace(client, secrets=kept)

        return self._edit(client_id, revoke)

    def set_status(self, client_id: str, disabled: bool) -> Client:
        status: Status = "disabled" if disabled else "active"
        return self._edit(client_id, lambda client: replace(client, status=status))

    def set_scopes(self, client_id: str, scope: str) -> Client:
        scopes = parse_scope(scope)
        return self._edit(client_id, lambda client: replace(client, scope=scopes))

    def set_quota(self, client_id: str, quota_per_hour: int) -> Client:
        check_quota(quota_per_hour)
        return self._edit(client_id, lambda client: replace(client, quota_per_hour=quota_per_hour))


def check_quota(quota_per_hour: int) -> int:
    if not 0 <= quota_per_hour <= MAX_QUOTA_PER_HOUR:
        raise InvalidRequest(
            f"the quota must be 0 (the stack's default) to {MAX_QUOTA_PER_HOUR} tokens per hour"
        )
    return quota_per_hour


# ------------------------------------------------------------------ the pepper
def checked_pepper(value: str, source: str) -> bytes:
    if len(value) < MIN_PEPPER_LENGTH:
        raise PepperUnavailable(f"{source} must have at least {MIN_PEPPER_LENGTH} characters")
    return value.encode("utf-8")


def stack_pepper(
    stack: str,
    outputs: Mapping[str, str],
    environ: Mapping[str, str],
    read_secret: Callable[[str], str],
) -> bytes:
    """The pepper of a deployed stack: the secret it generated (its output
    ``ClientSecretPepperSecretArn``), or, when it was deployed with a ClientSecretPepper
    of its own, CLIENT_SECRET_PEPPER. A CLIENT_SECRET_PEPPER that differs from the
    generated one is refused: a secret digested under it would never work."""
    given = environ.get("CLIENT_SECRET_PEPPER", "").strip()
    arn = outputs.get(PEPPER_SECRET_OUTPUT)
    if arn is None:
        if not given:
            raise PepperUnavailable(
                f"stack {stack} was deployed with its own ClientSecretPepper (it has no output"
                f" {PEPPER_SECRET_OUTPUT}): give that value in CLIENT_SECRET_PEPPER"
            )
        return checked_pepper(given, "CLIENT_SECRET_PEPPER")
    generated = read_secret(arn)
    if given and given != generated:
        raise PepperUnavailable(
            f"CLIENT_SECRET_PEPPER differs from the pepper stack {stack} generated"
            f" ({PEPPER_SECRET_OUTPUT}): unset it"
        )
    return checked_pepper(generated, f"the secret {PEPPER_SECRET_OUTPUT} names")


def environment_pepper(environ: Mapping[str, str]) -> bytes:
    given = environ.get("CLIENT_SECRET_PEPPER", "").strip()
    if not given:
        raise PepperUnavailable("CLIENT_SECRET_PEPPER is not set (or give --stack)")
    return checked_pepper(given, "CLIENT_SECRET_PEPPER")


def secrets_manager_value(arn: str) -> str:
    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return str(value)


# ------------------------------------------------------------------ the command line
def add_commands(commands: Any) -> None:
    """The client commands, on the admin command line's subparsers."""
    create = commands.add_parser(
        "create-client",
        help="create a machine client; prints its secret once (none with --jwks)",
    )
    create.add_argument("client_id")
    create.add_argument("--scope", default="", help='the scopes it may ask for: "a b"')
    create.add_argument(
        "--quota", type=int, default=0, help="tokens per hour (default: the stack's)"
    )
    create.add_argument(
        "--jwks",
        metavar="FILE",
        help="a JWK set of the client's PUBLIC keys: a private_key_jwt client, with no secret",
    )
    commands.add_parser("list-clients", help="list the clients (never a secret or a digest)")
    commands.add_parser(
        "rotate-secret",
        help="a new secret, printed once; the newest live one stays live beside it",
    ).add_argument("client_id")
    revoke = commands.add_parser("revoke-secret", help="remove one of a client's secrets")
    revoke.add_argument("client_id")
    revoke.add_argument("secret_id", help="as list-clients shows it")
    for name, text in (
        ("disable-client", "refuse the client's authentication (issued tokens run out)"),
        ("enable-client", "enable a disabled client"),
    ):
        commands.add_parser(name, help=text).add_argument("client_id")
    scopes = commands.add_parser("set-scopes", help="replace the scopes a client may ask for")
    scopes.add_argument("client_id")
    scopes.add_argument("--scope", required=True, help='"a b"; "" for none')
    quota = commands.add_parser(
        "set-quota", help="tokens per hour for this client (0: the stack's default)"
    )
    quota.add_argument("client_id")
    quota.add_argument("quota", type=int)


def run(admin: ClientAdmin, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """One client command; its JSON on ``stdout``. Errors are the caller's to print."""
    now = admin.clock()
    result: Any
    if args.command == "create-client":
        jwks = read_jwks(args.jwks) if args.jwks else None
        client, secret = admin.create(
            args.client_id, args.scope, quota_per_hour=args.quota, jwks=jwks
        )
        result = {"created": client.client_id, **describe(client, now)}
        if secret is not None:
            result["client_secret"] = secret
    elif args.command == "list-clients":
        result = admin.list()
    elif args.command == "rotate-secret":
        client, secret = admin.rotate_secret(args.client_id)
        result = {**describe(client, now), "client_secret": secret}
    elif args.command == "revoke-secret":
        result = describe(admin.revoke_secret(args.client_id, args.secret_id), now)
    elif args.command in ("disable-client", "enable-client"):
        disabled = args.command == "disable-client"
        result = describe(admin.set_status(args.client_id, disabled), now)
    elif args.command == "set-scopes":
        result = describe(admin.set_scopes(args.client_id, args.scope), now)
    else:
        result = describe(admin.set_quota(args.client_id, args.quota), now)
    print(json.dumps(result), file=stdout)
    if isinstance(result, dict) and "client_secret" in result:
        print(
            "The client_secret above is shown this once and stored only as a digest: keep it"
            " now (a lost secret is replaced with rotate-secret).",
            file=stderr,
        )
    return 0


def needs_pepper(args: argparse.Namespace) -> bool:
    return args.command == "rotate-secret" or (args.command == "create-client" and not args.jwks)
