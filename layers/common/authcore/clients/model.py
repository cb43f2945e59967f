"""Machine clients (contract §9): who they are, what they may ask for, how their
secrets are kept.

A client secret is 256 random bits, not something a person chose, so nothing can
be guessed from a fast hash of it: it is stored as HMAC-SHA-256 under a pepper from
the configuration (``CLIENT_SECRET_PEPPER``), never with a password hash. argon2
here would make every token request cost what a login costs, and the token
endpoint CPU-bound (Ory Hydra's bcrypt-hashed secrets did exactly that), for no
gain: a 256-bit secret has no dictionary. The pepper makes a copy of the table
useless without the function's configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from authcore.errors import InvalidRequest
from authcore.records import record, replace

# At most two secrets live at once: the current one and the one it replaces, so a
# secret can be rotated without downtime (deploy the new, then revoke the old).
MAX_ACTIVE_SECRETS = 2
SECRET_BYTES = 32
DEFAULT_SECRET_LIFETIME_SECONDS = 365 * 86_400
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
Status = Literal["active", "disabled"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
# What discovery advertises (RFC 8414 token_endpoint_auth_methods_supported).
AUTH_METHODS: tuple[AuthMethod, ...] = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
)


def check_client_id(client_id: str) -> str:
    """A client id: 3-64 characters of ``[A-Za-z0-9._-]``, never shaped like a UUID.

    A client's tokens carry ``sub`` = its id (RFC 9068 §2.2 for client
    credentials); users' ``sub`` are UUIDs. Refusing UUID-shaped ids keeps the two
    namespaces apart for good, so no route can take a client for a user."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise InvalidRequest("client_id must have 3 to 64 characters of A-Z a-z 0-9 . _ -")
    # Here, not at module level: uuid imports platform (~3 ms of every cold start that
    # reads a request), and only registering a client checks this.
    import uuid

    try:
        uuid.UUID(client_id)
    except ValueError:
        return client_id
    raise InvalidRequest("client_id must not be a UUID (users' ids are)")


def is_client_id(value: str) -> bool:
    """The shape check alone (no UUID test): whether ``value`` can name a client."""
    return _CLIENT_ID.fullmatch(value) is not None


def parse_scope(scope: str) -> frozenset[str]:
    """RFC 6749 §3.3: space-delimited scope tokens."""
    tokens = scope.split(" ") if scope else []
    if any(not _SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidRequest("scope must be space-separated scope tokens")
    return frozenset(tokens)


def secret_digest(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode("utf-8"), hashlib.sha256).hexdigest()


@record
class ClientSecret:
    secret_id: str
    digest: str
    expires_at: float


@record
class Client:
    client_id: str
    scope: frozenset[str]
    status: Status = "active"
    secrets: tuple[ClientSecret, ...] = ()
    # A private_key_jwt client's public keys (RFC 7517 JWK set) instead of secrets.
    jwks: Mapping[str, Any] | None = None
    # Tokens per hour; 0: the configured default.
    quota_per_hour: int = 0
    # Bumped by every change, so an administrator's two concurrent edits cannot lose one.
    version: int = 0

    def active_secrets(self, now: float) -> tuple[ClientSecret, ...]:
        return tuple(s for s in self.secrets if s.expires_at > now)

    def secret_matches(self, pepper: bytes, presented: str, now: float) -> bool:
        """Constant time, and the same work for every secret slot: which of the
        two secrets matched (or how many there are) shows in no timing."""
        digest = secret_digest(pepper, presented)
        matched = False
        for candidate in self.secrets:
            equal = hmac.compare_digest(candidate.digest, digest)
            matched |= equal and candidate.expires_at > now
        return matched

    def with_new_secret(
        self, pepper: bytes, now: float, lifetime: int = DEFAULT_SECRET_LIFETIME_SECONDS
    ) -> tuple[Client, str]:
        """The client with one more secret (the plain secret is returned once, never
        stored). The oldest active secret is dropped when two already live."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        kept = sorted(self.active_secrets(now), key=lambda s: s.expires_at)
        kept = kept[-(MAX_ACTIVE_SECRETS - 1) :] if MAX_ACTIVE_SECRETS > 1 else []
        new = ClientSecret(secrets.token_hex(4), secret_digest(pepper, secret), now + lifetime)
        return replace(self, secrets=(*kept, new)), secret


@record(repr=False)
class ClientAuthentication:
    """How a request authenticates its client (the edge parses it; repr-free: it
    holds a secret or an assertion)."""

    method: AuthMethod
    client_id: str
    secret: str = ""
    assertion: str = ""
