"""Configuration parsed once, from the environment, into a frozen object.

Every function reads the same variable names (contract §5); a bad value fails
the cold start with a message naming every offending variable, instead of
surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TypeVar, get_args, overload

from authcore.errors import ConfigError, StrictJSONError
from authcore.records import field, record

# RFC 9068 §2.2 allows verifiers some skew; the contract caps it at 60 s.
MAX_LEEWAY_SECONDS = 60
# The authorizer's two modes (docs/revocation.md): signature and
# claims only, or additionally a live session in the sessions table.
AuthorizerMode = Literal["stateless", "session"]
AUTHORIZER_MODES: tuple[AuthorizerMode, ...] = get_args(AuthorizerMode)
SigningBackend = Literal["kms", "secretsmanager"]
SIGNING_BACKENDS: tuple[SigningBackend, ...] = get_args(SigningBackend)
SigningAlg = Literal["ES256", "RS256"]
SIGNING_ALGS: tuple[SigningAlg, ...] = get_args(SigningAlg)
_Choice = TypeVar("_Choice", bound=str)
ROUTE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Checked as a set, not a
# regular expression: the authorizer parses this at its cold start.
_SCOPE_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}
# A route path is matched as IAM matches a Deny's resource (REST), where these are
# wildcards: one in a route key would deny more than the route.
_NOT_IN_ROUTE_PATH = frozenset("*?#") | frozenset(" \t\r\n")


class _Required:
    """A setting that is optional until a function needs it, read as ``str``: unset,
    it raises ``ConfigError`` naming its variable."""

    def __init__(self, field: str) -> None:
        self._field = field

    @overload
    def __get__(self, settings: None, owner: type[Settings]) -> _Required: ...
    @overload
    def __get__(self, settings: Settings, owner: type[Settings] | None = None) -> str: ...
    def __get__(self, settings: Settings | None, owner: object = None) -> str | _Required:
        if settings is None:
            return self
        value: str | None = getattr(settings, self._field)
        if not value:
            raise ConfigError(f"{self._field.upper()} is not set")
        return value


class RouteScopes(dict[str, frozenset[str]]):
    """ROUTE_SCOPES, parsed: HTTP API route key ("GET /api/reports") -> the scopes a
    token needs there. Never changed once parsed, and hashed by content (computed once),
    so that the authorizer can memoize what it derives from it (REST policies)."""

    __slots__ = ("_hash",)

    def __init__(self, items: Mapping[str, frozenset[str]] | None = None) -> None:
        super().__init__(items or {})
        self._hash = hash(frozenset(self.items()))

    def __hash__(self) -> int:  # type: ignore[override]
        return self._hash


@record
class Settings:
    issuer: str | None = None
    audience: str = "api"
    client_id: str = "web"
    access_ttl: int = 900
    session_ttl: int = 2_592_000
    session_idle_ttl: int = 604_800
    reuse_grace: int = 10
    leeway: int = MAX_LEEWAY_SECONDS
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    users_table: str | None = None
    sessions_table: str | None = None
    keys_table: str | None = None
    signing_backend: SigningBackend = "kms"
    signing_alg: SigningAlg = "ES256"
    signing_keys_secret: str | None = None
    # The value of the tag that scopes the functions' KMS permissions to this stack's keys.
    stack_name: str = "local"
    key_rotation_interval_days: int = 30
    jwks_url: str | None = None
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456
    argon2_parallelism: int = 1
    # Keys the digests that count failed logins for unknown usernames (authcore.accounts.lockout).
    lockout_key: str | None = field(default=None, repr=False)
    # Signs device cookies (authcore.accounts.devices); without it none are issued or honoured.
    device_cookie_key: str | None = field(default=None, repr=False)
    # Set when login sits behind the opt-in edge WAF: the header value CloudFront adds,
    # without which a request went around the WAF.
    edge_origin_secret: str | None = field(default=None, repr=False)
    authorizer_mode: AuthorizerMode = "stateless"
    # How long a session-checked authorizer may trust a "session live" answer.
    revocation_max_lag: int = 5
    # Contract §10: how often the stateless authorizer polls the revocation feed (0: it
    # does not), and where the feed is: the bucket the publisher writes, or a base URL.
    revocation_poll_seconds: int = 10
    revocation_feed_bucket: str | None = None
    revocation_feed_url: str | None = None
    # The key caches (docs/keys.md, "Revoked keys stop fast"). Only ever shortened (the
    # maxima are the defaults, which meet the revocation targets): bench.revocation
    # runs with short ones.
    signer_cache_seconds: int = 10
    jwks_cache_seconds: int = 5
    key_ring_max_age: int = 30
    # Accounts (contract §7): links in mails start with app_url, never with a request's
    # Host; mail leaves through SES from mail_from, or locally into outbox_dir.
    app_url: str | None = None
    mail_from: str | None = None
    outbox_dir: str | None = None
    # The function the mail jobs are handed to (asynchronously): forgot and sign-up
    # answer before any mail is looked up or sent, the same for every account.
    mail_function: str | None = None
    signup_enabled: bool = False
    signup_require_verified_email: bool = True
    # Machine clients (contract §9): their table, the pepper keying their secrets'
    # digests, and the tokens a client may obtain per hour unless its own quota says.
    clients_table: str | None = None
    client_secret_pepper: str | None = field(default=None, repr=False)
    client_token_quota_per_hour: int = 1000
    # The second factor (contract §8): the KMS key that seals TOTP secrets (an id, ARN
    # or alias; the local stacks and tests make this alias), and how recent a login must
    # be for enrolment and a second factor for turning it off (RFC 9470's max_age).
    mfa_key_id: str = "alias/authcore-mfa-secrets"
    step_up_max_age: int = 300
    # The name authenticator apps show beside the account (the otpauth URI's issuer).
    totp_issuer_name: str = "authcore"
    # Read by the authorizers (docs/protecting-routes.md, "Scopes"): route key -> the
    # scopes a token must hold, all of them. Not hashed: a dict.
    route_scopes: RouteScopes = field(default_factory=RouteScopes, hash=False)
    # Passkeys (contract §8, WebAuthn L3 §5.4.2 and §7): the relying party's id (the
    # registrable domain a passkey is scoped to: it can never be used on another site),
    # its name shown by the authenticator, and the exact origins a ceremony may come from
    # (clientDataJSON.origin; empty: the allowed origins).
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "authcore"
    webauthn_origins: frozenset[str] = field(default_factory=frozenset)

    # The names a function needs only when it uses them: ConfigError names the variable.
    users_table_name = _Required("users_table")
    sessions_table_name = _Required("sessions_table")
    keys_table_name = _Required("keys_table")
    signing_keys_secret_name = _Required("signing_keys_secret")
    app_url_value = _Required("app_url")
    mail_from_address = _Required("mail_from")
    mail_function_name = _Required("mail_function")
    clients_table_name = _Required("clients_table")
    client_secret_pepper_value = _Required("client_secret_pepper")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        errors: list[str] = []

        def integer(var: str, default: int, low: int, high: int) -> int:
            raw = env.get(var, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{var} must be an integer, got {raw!r}")
                return default
            if not low <= value <= high:
                errors.append(f"{var} must be between {low} and {high}, got {value}")
            return value

        def optional(var: str) -> str | None:
            return env.get(var, "").strip() or None

        invalid: dict[str, str] = {}

        def flag(var: str, default: bool) -> bool:
            raw = env.get(var, "").strip().lower()
            if not raw:
                return default
            if raw not in ("true", "false"):
                errors.append(f"{var} must be true or false, got {raw!r}")
                return default
            return raw == "true"

        def choice(var: str, options: tuple[_Choice, ...]) -> _Choice:
            raw = env.get(var, "").strip() or options[0]
            for option in options:
                if raw == option:
                    return option
            invalid[var] = raw  # reported below, in the order of the checks
            return options[0]

        issuer = optional("ISSUER")
        if issuer is not None:
            issuer = issuer.rstrip("/")
            if not issuer.startswith(("https://", "http://localhost", "http://127.0.0.1")):
                errors.append(f"ISSUER must be an https origin, got {issuer!r}")
        origins = frozenset(
            o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip()
        )
        session_ttl = integer("SESSION_TTL_SECONDS", 2_592_000, 300, 31_536_000)
        app_url = optional("APP_URL")
        if app_url is not None:
            app_url = app_url.rstrip("/")
            if not app_url.startswith(("https://", "http://localhost", "http://127.0.0.1")):
                errors.append(f"APP_URL must be an https URL, got {app_url!r}")
        settings = cls(
            issuer=issuer,
            audience=env.get("AUDIENCE", "").strip() or "api",
            client_id=env.get("CLIENT_ID", "").strip() or "web",
            access_ttl=integer("ACCESS_TOKEN_TTL_SECONDS", 900, 30, 86_400),
            session_ttl=session_ttl,
            session_idle_ttl=integer("SESSION_IDLE_TTL_SECONDS", 604_800, 60, 31_536_000),
            reuse_grace=integer("REFRESH_REUSE_GRACE_SECONDS", 10, 0, 300),
            leeway=integer("CLOCK_LEEWAY_SECONDS", MAX_LEEWAY_SECONDS, 0, MAX_LEEWAY_SECONDS),
            allowed_origins=origins,
            users_table=optional("USERS_TABLE"),
            sessions_table=optional("SESSIONS_TABLE"),
            keys_table=optional("KEYS_TABLE"),
            signing_backend=choice("SIGNING_BACKEND", SIGNING_BACKENDS),
            signing_alg=choice("SIGNING_ALG", SIGNING_ALGS),
            signing_keys_secret=optional("SIGNING_KEYS_SECRET"),
            stack_name=env.get("STACK_NAME", "").strip() or "local",
            key_rotation_interval_days=integer("KEY_ROTATION_INTERVAL_DAYS", 30, 1, 365),
            jwks_url=optional("JWKS_URL"),
            # OWASP's floor for argon2id is m=19 MiB, t=2, p=1: never below it.
            argon2_time_cost=integer("ARGON2_TIME_COST", 2, 2, 20),
            argon2_memory_kib=integer("ARGON2_MEMORY_KIB", 19_456, 19_456, 1_048_576),
            argon2_parallelism=integer("ARGON2_PARALLELISM", 1, 1, 16),
            lockout_key=optional("LOCKOUT_KEY"),
            device_cookie_key=optional("DEVICE_COOKIE_KEY"),
            edge_origin_secret=optional("EDGE_ORIGIN_SECRET"),
            authorizer_mode=choice("AUTHORIZER_MODE", AUTHORIZER_MODES),
            revocation_max_lag=integer("REVOCATION_MAX_LAG_SECONDS", 5, 0, 3600),
            revocation_poll_seconds=integer("REVOCATION_POLL_SECONDS", 10, 0, 300),
            revocation_feed_bucket=optional("REVOCATION_FEED_BUCKET"),
            revocation_feed_url=optional("REVOCATION_FEED_URL"),
            signer_cache_seconds=integer("SIGNER_CACHE_SECONDS", 10, 0, 10),
            jwks_cache_seconds=integer("JWKS_CACHE_SECONDS", 5, 0, 5),
            key_ring_max_age=integer("KEY_RING_MAX_AGE_SECONDS", 30, 1, 30),
            app_url=app_url,
            mail_from=optional("MAIL_FROM"),
            outbox_dir=optional("LOCAL_OUTBOX_DIR"),
            mail_function=optional("MAIL_FUNCTION"),
            signup_enabled=flag("SIGNUP_ENABLED", False),
            clients_table=optional("CLIENTS_TABLE"),
            client_secret_pepper=optional("CLIENT_SECRET_PEPPER"),
            client_token_quota_per_hour=integer("CLIENT_TOKEN_QUOTA_PER_HOUR", 1000, 1, 10_000_000),
            mfa_key_id=optional("MFA_KEY_ID") or "alias/authcore-mfa-secrets",
            step_up_max_age=integer("STEP_UP_MAX_AGE_SECONDS", 300, 30, 3600),
            totp_issuer_name=optional("TOTP_ISSUER_NAME") or "authcore",
            # On by default (contract §7 asks it whenever sign-up is on), and kept on when
            # sign-up is turned off: accounts it created stay unverified until confirmed.
            signup_require_verified_email=flag("SIGNUP_REQUIRE_VERIFIED_EMAIL", True),
            route_scopes=_route_scopes(env.get("ROUTE_SCOPES", ""), errors),
            webauthn_rp_id=_rp_id(env.get("WEBAUTHN_RP_ID", ""), errors),
            webauthn_rp_name=env.get("WEBAUTHN_RP_NAME", "").strip() or "authcore",
            webauthn_origins=_webauthn_origins(env.get("WEBAUTHN_ORIGINS", ""), origins, errors),
        )
        if "AUTHORIZER_MODE" in invalid:
            errors.append(
                f"AUTHORIZER_MODE must be one of {', '.join(AUTHORIZER_MODES)}, "
                f"got {invalid['AUTHORIZER_MODE']!r}"
            )
        elif settings.authorizer_mode == "session" and not settings.sessions_table:
            errors.append("AUTHORIZER_MODE=session needs SESSIONS_TABLE")
        if "SIGNING_BACKEND" in invalid:
            errors.append(
                f"SIGNING_BACKEND must be kms or secretsmanager, got {invalid['SIGNING_BACKEND']!r}"
            )
        elif settings.signing_backend == "secretsmanager" and not settings.signing_keys_secret:
            errors.append("SIGNING_BACKEND=secretsmanager needs SIGNING_KEYS_SECRET")
        if "SIGNING_ALG" in invalid:
            errors.append(f"SIGNING_ALG must be ES256 or RS256, got {invalid['SIGNING_ALG']!r}")
        if settings.lockout_key is not None and len(settings.lockout_key) < 16:
            errors.append("LOCKOUT_KEY must have at least 16 characters")
        if settings.device_cookie_key is not None and len(settings.device_cookie_key) < 32:
            # It signs cookies that change which failure counter applies: a guessable
            # key would let an attacker mint "trusted devices" and escape the lockout.
            errors.append("DEVICE_COOKIE_KEY must have at least 32 characters")
        if settings.client_secret_pepper is not None and len(settings.client_secret_pepper) < 32:
            errors.append("CLIENT_SECRET_PEPPER must have at least 32 characters")
        if settings.edge_origin_secret is not None and len(settings.edge_origin_secret) < 32:
            errors.append("EDGE_ORIGIN_SECRET must have at least 32 characters")
        if errors:
            raise ConfigError("invalid configuration: " + "; ".join(errors))
        return settings

    @property
    def passkey_origins(self) -> list[str]:
        """The origins a WebAuthn ceremony may have run on, sorted (py_webauthn takes a list)."""
        return sorted(self.webauthn_origins or self.allowed_origins)

    def issuer_for(self, domain_name: str | None) -> str:
        """The configured issuer, else the https origin API Gateway reports.

        The template cannot hand the API's own URL to its functions (the API
        depends on them: a CloudFormation cycle), so by default the issuer is the
        domain of the request, which API Gateway sets from the API's own hostnames.
        """
        if self.issuer:
            return self.issuer
        if not domain_name:
            raise ConfigError("ISSUER is not set and the request has no domain name")
        return f"https://{domain_name}"


def _rp_id(raw: str, errors: list[str]) -> str:
    """WEBAUTHN_RP_ID: a bare host name (WebAuthn L3 §5.1.4: a valid domain string, no
    scheme, port or path), compared by the authenticator through its SHA-256 hash."""
    rp_id = raw.strip().lower() or "localhost"
    labels = rp_id.split(".")
    if len(rp_id) > 253 or not all(
        label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    ):
        errors.append(f"WEBAUTHN_RP_ID must be a host name like example.com, got {raw!r}")
    return rp_id


def _webauthn_origins(raw: str, allowed: frozenset[str], errors: list[str]) -> frozenset[str]:
    """WEBAUTHN_ORIGINS: exact origins, https (or http on localhost, where browsers treat
    the page as a secure context); unset, the cookie flows' ALLOWED_ORIGINS."""
    origins = frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in sorted(origins):
        if not origin.startswith(("https://", "http://localhost", "http://127.0.0.1")):
            errors.append(f"WEBAUTHN_ORIGINS must hold https origins, got {origin!r}")
    return origins or allowed


def _route_scopes(raw: str, errors: list[str]) -> RouteScopes:
    """ROUTE_SCOPES, a JSON object ``{"GET /api/reports": "reports:read"}``: for each
    HTTP API route key, the space-separated scopes a token needs, all of them. Parsed
    once, into frozensets, so the authorizer's check is a dict lookup and a subset test."""
    if not raw.strip():
        return RouteScopes()
    from authcore.strictjson import loads_object  # only where ROUTE_SCOPES is set

    try:
        # Strict: of two entries for one route, which would count is anyone's guess.
        value = loads_object(raw)
    except StrictJSONError as exc:
        errors.append(f'ROUTE_SCOPES must be a JSON object {{"GET /path": "scope ..."}}: {exc}')
        return RouteScopes()
    parsed: dict[str, frozenset[str]] = {}
    for route, scopes in value.items():
        method, _, path = route.partition(" ")
        if (
            method not in ROUTE_METHODS
            or not path.startswith("/")
            or not _NOT_IN_ROUTE_PATH.isdisjoint(path)
        ):
            errors.append(f'ROUTE_SCOPES: {route!r} is not a route key like "GET /api/reports"')
            continue
        names = scopes.split(" ") if isinstance(scopes, str) else [""]
        if not all(name and _SCOPE_CHARACTERS.issuperset(name) for name in names):
            errors.append(
                f"ROUTE_SCOPES: the scopes of {route!r} must be a string of scope names "
                "separated by single spaces"
            )
            continue
        parsed[route] = frozenset(names)
    return RouteScopes(parsed)
