"""The closed-form model: a usage profile and the measured cost of each operation give the
month's requests, their price, and each quota's peak load.

Nothing here measures or reads the clock: the measured figures come in as ``Operation``s
(``bench.cost`` builds them from the existing benchmarks, run in the same process tree),
so that the arithmetic can be checked on hand-made cases (tests/unit/test_capacity_model.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from capacity import prices
from infra import template

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30

# Lambda gives a function one full vCPU at 1,769 MB and a proportional share below:
# a CPU-bound millisecond measured on one core here takes 1769/memory ms there.
FULL_VCPU_MB = 1769
# Assumed, not measured (moto answers in-process): in-Region round trips a handler waits
# on, billed as duration. p50-ish figures; a region under load may be slower.
LATENCY_MS = {"dynamodb": 5.0, "kms": 15.0, "s3": 20.0, "secretsmanager": 10.0, "ses": 30.0}
# START, END and REPORT lines that Lambda writes to the function's log group for every
# invocation, in bytes (an estimate from their format). It counts the REPORT line's X-Ray
# trace and segment ids, which Lambda writes only with tracing on: with Tracing=Disabled it
# is an upper bound.
PLATFORM_LOG_BYTES = 330
# template.yaml's Tracing parameter, the profile's default read from the template: Disabled
# records no trace (X-Ray costs nothing), Active samples every function's invocations.
# PassThrough is not priced: it traces only requests whose caller sent a sampled trace
# header, so what it records depends on the callers.
TRACING_MODES = ("Disabled", "Active")
TEMPLATE_TRACING = template.parameter_defaults()["Tracing"]
# X-Ray's default sampling rule: the first request each second, then 5 % of the rest.
XRAY_RESERVOIR_PER_S = 1.0
XRAY_RATE = 0.05


@dataclass(frozen=True)
class Operation:
    """What one invocation of a handler costs, as measured (``bench.cost``)."""

    name: str
    function: str  # logical id in template.yaml
    memory_mb: int
    cpu_ms: float  # measured handler time on one core of this machine
    calls: dict[str, float] = field(default_factory=dict)  # "dynamodb.GetItem": n per call
    rru: float = 0.0  # DynamoDB read request units per call
    wru: float = 0.0  # DynamoDB write request units per call
    log_bytes: float = 0.0  # what the handler itself writes to its log, per call
    api_request: bool = True  # an API Gateway request of its own (the authorizer's are not)

    @property
    def kms_signs(self) -> float:
        return self.calls.get("kms.Sign", 0.0)

    def wait_ms(self) -> float:
        return sum(
            count * LATENCY_MS.get(call.split(".")[0], 0.0) for call, count in self.calls.items()
        )

    def billed_ms(self, arm64_speed: float = 1.0) -> int:
        """Lambda's billed duration: CPU at the function's share of a vCPU, plus the AWS
        round trips, rounded up to the millisecond. ``arm64_speed``: how much slower a
        Graviton core is than this machine's (1.0 unless measured)."""
        cpu = self.cpu_ms * arm64_speed * max(1.0, FULL_VCPU_MB / self.memory_mb)
        return max(1, math.ceil(cpu + self.wait_ms()))


@dataclass(frozen=True)
class Profile:
    """Who uses the service, and how, and the deployment's parameters that change the bill
    (``python -m bench.cost --help`` lists the flags)."""

    mau: float = 1_000_000
    logins_per_user_month: float = 4.0
    hours_active_per_day: float = 0.5  # per MAU, averaged over every day of the month
    session_minutes: float = 30.0  # one stretch of activity (tokens refresh within it)
    api_requests_per_active_hour: float = 60.0
    browser_share: float = 0.8  # of user requests: cookie-borne, TokenAuthorizer (no cache)
    session_checked_share: float = 0.1  # of user requests: routes on SessionAuthorizer
    logouts_per_login: float = 0.25
    mails_per_user_month: float = 0.1  # sign-up verification, resets, notices
    machine_clients: int = 10
    machine_tokens_per_client_hour: float = 4.0  # a caching client, 15-minute tokens
    jwks_fetchers: int = 10  # other services verifying our tokens with the JWKS
    jwks_fetch_seconds: float = 300.0
    access_ttl_s: float = 900.0  # ACCESS_TOKEN_TTL_SECONDS (template default)
    authorizer_cache_ttl_s: float = 0.0  # AuthorizerCacheTtlSeconds, API clients only
    revocation_max_lag_s: float = 5.0  # REVOCATION_MAX_LAG_SECONDS
    revocation_poll_s: float = 10.0  # REVOCATION_POLL_SECONDS
    diurnal_amplitude: float = 0.6  # activity = mean * (1 + a cos(...)): peak/mean = 1 + a
    attack_attempts_per_s: float = 200.0  # credential stuffing on one account
    attack_minutes: float = 10.0
    tracing: str = TEMPLATE_TRACING  # Tracing (template.yaml): X-Ray billed only when Active

    def with_mau(self, mau: float) -> Profile:
        return replace(self, mau=mau)

    @property
    def peak_to_mean(self) -> float:
        return 1.0 + self.diurnal_amplitude


def cached_share(rate_per_s: float, ttl_s: float) -> float:
    """Share of requests that reach a cache's backend: a cache entry lives ``ttl_s`` from
    the request that filled it, so one request in every (1/rate + ttl) seconds misses
    (renewal argument, Poisson arrivals). 1 without a cache."""
    if ttl_s <= 0:
        return 1.0
    return 1.0 / (1.0 + rate_per_s * ttl_s)


def first_use_share(uses: float, containers: float) -> float:
    """Share of a token's ``uses`` that are its first in the container they land on, with
    uses spread evenly over ``containers``: expected distinct containers / uses."""
    if uses <= 0:
        return 1.0
    c = max(1.0, containers)
    distinct = c * (1.0 - (1.0 - 1.0 / c) ** uses)
    return min(1.0, float(distinct) / uses)


@dataclass(frozen=True)
class Daily:
    """Mean counts per day (the simulation checks these)."""

    windows: float
    logins: float
    refreshes: float
    api_requests: float
    browser_requests: float
    bearer_requests: float
    session_checked: float
    logouts: float
    mails: float
    machine_tokens: float
    jwks_fetches: float


def daily(p: Profile) -> Daily:
    windows = p.mau * p.hours_active_per_day * 60.0 / p.session_minutes
    logins = p.mau * p.logins_per_user_month / DAYS_PER_MONTH
    if logins > windows:
        raise ValueError("more logins than stretches of activity: raise hours_active_per_day")
    # Every stretch of activity starts with a token (a login, or a refresh of the token that
    # expired meanwhile) and refreshes each time it expires while the stretch goes on.
    tokens_per_window = math.ceil(p.session_minutes * 60.0 / p.access_ttl_s)
    api = p.mau * p.hours_active_per_day * p.api_requests_per_active_hour
    return Daily(
        windows=windows,
        logins=logins,
        refreshes=windows * tokens_per_window - logins,
        api_requests=api,
        browser_requests=api * p.browser_share * (1 - p.session_checked_share),
        bearer_requests=api * (1 - p.browser_share) * (1 - p.session_checked_share),
        session_checked=api * p.session_checked_share,
        logouts=logins * p.logouts_per_login,
        mails=p.mau * p.mails_per_user_month / DAYS_PER_MONTH,
        machine_tokens=p.machine_clients * p.machine_tokens_per_client_hour * 24,
        jwks_fetches=p.jwks_fetchers * SECONDS_PER_DAY / p.jwks_fetch_seconds,
    )


@dataclass(frozen=True)
class Invocations:
    """Per day, per operation: how many times it runs (mean)."""

    counts: dict[str, float]
    containers: dict[str, float]


def per_user_rate(p: Profile) -> float:
    """A user's requests per second while active."""
    return p.api_requests_per_active_hour / 3600.0


def invocations(p: Profile, ops: dict[str, Operation]) -> Invocations:
    d = daily(p)
    rate = per_user_rate(p)
    bearer_invoked = d.bearer_requests * cached_share(rate, p.authorizer_cache_ttl_s)
    stateless = d.browser_requests + bearer_invoked
    # Session mode: "live" is kept REVOCATION_MAX_LAG_SECONDS per container; a user's
    # next request rarely comes that soon (optimistic: as if it always met the same one).
    session_reads = d.session_checked * cached_share(rate, p.revocation_max_lag_s)
    base = {
        "login": d.logins,
        "refresh": d.refreshes,
        "logout": d.logouts,
        "mail": d.mails,
        "token": d.machine_tokens,
        "jwks": d.jwks_fetches,
        "publish": d.logouts,  # one stream batch per revocation at low rates (an upper bound)
    }
    containers = _containers(p, ops, {**base, "authorizer_new": stateless})
    uses = p.api_requests_per_active_hour * p.access_ttl_s / 3600.0
    new = first_use_share(uses, containers.get("AuthorizerFunction", 1.0))
    counts = {
        **base,
        "authorizer_new": stateless * new,
        "authorizer_repeated": stateless * (1 - new),
        "session_check_read": session_reads,
        "session_check_cached": d.session_checked - session_reads,
    }
    return Invocations(counts, containers)


def _containers(
    p: Profile, ops: dict[str, Operation], per_day: dict[str, float]
) -> dict[str, float]:
    """Warm containers per function at the day's peak: its peak concurrency, at least one
    (Lambda keeps a used container for minutes, so any steady traffic holds one)."""
    concurrency: dict[str, float] = {}
    for name, count in per_day.items():
        op = ops.get(name)
        if op is None or count <= 0:
            continue
        peak_rate = count / SECONDS_PER_DAY * p.peak_to_mean
        concurrency[op.function] = concurrency.get(op.function, 0.0) + peak_rate * (
            op.billed_ms() / 1000
        )
    return {function: max(1.0, math.ceil(c)) for function, c in concurrency.items()}


# Background reads each warm container makes, whatever the traffic: (function, service
# call, seconds between two). From authcore.config: SIGNER_CACHE_SECONDS 10 (signing
# functions re-read the key table), KEY_RING_MAX_AGE_SECONDS 30 (authorizers),
# JWKS_CACHE_SECONDS 5 (the JWKS route); the feed poll: REVOCATION_POLL_SECONDS.
BACKGROUND = (
    ("LoginFunction", "dynamodb.Query", 10.0),
    ("RefreshFunction", "dynamodb.Query", 10.0),
    ("OAuthFunction", "dynamodb.Query", 10.0),
    ("AuthorizerFunction", "dynamodb.Query", 30.0),
    ("SessionAuthorizerFunction", "dynamodb.Query", 30.0),
    ("WellKnownFunction", "dynamodb.Query", 5.0),
    ("AuthorizerFunction", "s3.GetObject", None),  # every REVOCATION_POLL_SECONDS
)


@dataclass(frozen=True)
class Month:
    invocations: dict[str, float]
    lambda_requests: float
    gb_seconds_arm64: float
    api_requests: float  # API Gateway requests this service answers or authorizes
    protected_requests: float  # of which: the user's own API routes (paid with any IdP)
    rru: float
    wru: float
    kms_signs: float
    s3_gets: float
    s3_puts: float
    emails: float
    log_gb: float
    xray_traces: float
    storage_gb: float


# A session item and a user item, with their index entries, as measured on moto (rounded
# up); a session lives SESSION_TTL_SECONDS at most (30 days), so about a month's logins.
SESSION_ITEM_BYTES = 600
USER_ITEM_BYTES = 500
# One line of the HTTP API's access log (template.yaml's AccessLogSettings format, filled
# with typical values); bench.cost prints the measured length.
ACCESS_LOG_BYTES = 330


def month(
    p: Profile, ops: dict[str, Operation], access_log_bytes: float = ACCESS_LOG_BYTES
) -> Month:
    inv = invocations(p, ops)
    per_month = {name: n * DAYS_PER_MONTH for name, n in inv.counts.items()}
    lambda_requests = gb_s = rru = wru = signs = log_bytes = 0.0
    s3_gets = s3_puts = 0.0
    own_api = 0.0
    functions: dict[str, float] = {}
    for name, n in per_month.items():
        op = ops[name]
        lambda_requests += n
        gb_s += n * op.billed_ms() / 1000 * op.memory_mb / 1024
        rru += n * op.rru
        wru += n * op.wru
        signs += n * op.kms_signs
        s3_gets += n * op.calls.get("s3.GetObject", 0.0)
        s3_puts += n * op.calls.get("s3.PutObject", 0.0)
        log_bytes += n * (op.log_bytes + PLATFORM_LOG_BYTES)
        if op.api_request:
            own_api += n
            log_bytes += n * access_log_bytes
        functions[op.function] = functions.get(op.function, 0.0) + n
    # The user's own requests behind the authorizers: one access log line each.
    d = daily(p)
    protected = d.api_requests * DAYS_PER_MONTH
    log_bytes += protected * access_log_bytes
    seconds = DAYS_PER_MONTH * SECONDS_PER_DAY
    for function, containers in inv.containers.items():
        for background_function, call, every in BACKGROUND:
            if background_function != function:
                continue
            interval = p.revocation_poll_s if every is None else every
            if interval <= 0:
                continue
            n = containers * seconds / interval
            if call == "s3.GetObject":
                s3_gets += n
            else:
                rru += n * 1.0  # a consistent Query of the small keys table: one RRU
    traces = sum(xray_traces(n, seconds) for n in functions.values()) if _traced(p) else 0.0
    storage = (p.mau * USER_ITEM_BYTES + d.logins * DAYS_PER_MONTH * SESSION_ITEM_BYTES) / 1e9
    return Month(
        invocations=per_month,
        lambda_requests=lambda_requests,
        gb_seconds_arm64=gb_s,
        api_requests=own_api + protected,
        protected_requests=protected,
        rru=rru,
        wru=wru,
        kms_signs=signs,
        s3_gets=s3_gets,
        s3_puts=s3_puts,
        emails=d.mails * DAYS_PER_MONTH,
        log_gb=log_bytes / 1e9,
        xray_traces=traces,
        storage_gb=storage,
    )


def _traced(p: Profile) -> bool:
    if p.tracing not in TRACING_MODES:
        raise ValueError(f"tracing {p.tracing!r} is not priced: one of {TRACING_MODES}")
    return p.tracing == "Active"


def xray_traces(invocations: float, seconds: float) -> float:
    """Traces X-Ray records of one function's ``invocations`` over ``seconds`` under the
    default sampling rule, arrivals taken at their mean rate: all of them up to one a second,
    5 % of the rest."""
    reservoir = XRAY_RESERVOIR_PER_S * seconds
    return min(invocations, reservoir) + XRAY_RATE * max(0.0, invocations - reservoir)


def cost(m: Month, *, signing: str = "kms", arch: str = "arm64") -> dict[str, float]:
    """Monthly USD by line. ``signing``: kms or secretsmanager (SigningBackend)."""
    u = prices.usd
    per_gb_s = u("lambda_gb_second_arm64" if arch == "arm64" else "lambda_gb_second_x86")
    lines = {
        "Lambda compute": m.gb_seconds_arm64 * per_gb_s,
        "Lambda requests": m.lambda_requests * u("lambda_request"),
        "API Gateway (auth routes)": prices.http_api(m.api_requests)
        - prices.http_api(m.protected_requests),
        "DynamoDB reads": m.rru * u("dynamodb_rru"),
        "DynamoDB writes": m.wru * u("dynamodb_wru"),
        "DynamoDB storage": m.storage_gb * u("dynamodb_storage_gb_month"),
        "S3 (revocation feed)": m.s3_gets * u("s3_get") + m.s3_puts * u("s3_put"),
        "SES": m.emails * u("ses_email"),
        "CloudWatch Logs ingestion": m.log_gb * u("logs_ingested_gb"),
        "X-Ray traces": m.xray_traces * u("xray_trace"),
    }
    if signing == "kms":
        # Two keys live at once (current and pending; docs/keys.md) plus the MFA key.
        lines["KMS"] = m.kms_signs * u("kms_asymmetric_request") + 3 * u("kms_key_month")
    else:
        # One GetSecretValue per signing container every 5 minutes: negligible; the secret.
        lines["KMS"] = 1 * u("kms_key_month")
        lines["Secrets Manager"] = 2 * u("secret_month") + 3 * 8640 * u("secretsmanager_request")
    lines["API Gateway (protected routes)"] = prices.http_api(m.protected_requests)
    return lines


def auth_total(lines: dict[str, float]) -> float:
    """What replaces Cognito: everything but the protected routes' own API Gateway
    requests, which any identity provider's users pay the same."""
    return sum(v for k, v in lines.items() if k != "API Gateway (protected routes)")
