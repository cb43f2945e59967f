"""The capacity side: each quota's load at the day's peak, the headroom left, and what to do
when it runs out.

Loads are the closed form's mean rates at the peak of the diurnal curve (the simulation,
``capacity.simulate``, counts the same per second and reports the noisier maxima). Every
load but the attack's grows in proportion to MAU, so a quota with headroom h is met at
h times the MAU it was computed for.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.model import (
    SECONDS_PER_DAY,
    Operation,
    Profile,
    daily,
    invocations,
)


@dataclass(frozen=True)
class Quota:
    name: str
    limit: float
    unit: str
    kind: str  # "AWS quota" or "configured" (a parameter of template.yaml)
    remedy: str
    scales_with_mau: bool = True


# template.yaml's LoginThrottlingBurstLimit default: the most a second can let through.
LOGIN_BURST = 20.0

# Planning values: the account's Service Quotas may say otherwise (KMS's published table
# lists 1,000/s for ECC in some Regions; the brief plans on 300/s until the account shows
# more). The configured limits are template.yaml's parameter defaults.
QUOTAS = {
    "kms": Quota(
        "KMS Sign, ECC (ES256), account-wide",
        300,
        "requests/s",
        "AWS quota",
        "ask Service Quotas for more (Cryptographic operations (ECC) request rate), or "
        "deploy SigningBackend=secretsmanager (no per-signature quota)",
    ),
    "apigw": Quota(
        "API Gateway, account-wide",
        10_000,
        "requests/s",
        "AWS quota",
        "quota increase; AuthorizerCacheTtlSeconds for Bearer clients does not lower it "
        "(every request is still one); split APIs across Regions",
    ),
    "stage": Quota(
        "HTTP API stage throttle (ThrottlingRateLimit)",
        100,
        "requests/s",
        "configured",
        "raise ThrottlingRateLimit/ThrottlingBurstLimit to the expected peak with margin",
    ),
    "login_route": Quota(
        "/auth/login route throttle (LoginThrottlingRateLimit)",
        10,
        "requests/s",
        "configured",
        "raise LoginThrottlingRateLimit with the login peak; keep it low enough to cap "
        "credential stuffing's argon2id bill",
    ),
    "concurrency": Quota(
        "Lambda concurrency, account-wide",
        1_000,
        "concurrent executions",
        "AWS quota",
        "quota increase; the authorizer cache (AuthorizerCacheTtlSeconds) for Bearer "
        "routes; smaller argon2id cost only with a security review",
    ),
    "hot_item": Quota(
        "DynamoDB partition writes, one account's failure counter under attack",
        1_000,
        "WCU/s",
        "AWS quota",
        "none needed while the login route's throttle caps attempts; past it, shard the "
        "counter (n items, summed on read) or rate-limit per IP at the edge (LoginRateLimitPerIp)",
        scales_with_mau=False,
    ),
    "feed_prefix": Quota(
        "S3 GETs on the revocation feed's prefix",
        5_500,
        "GET/s",
        "AWS quota",
        "a longer REVOCATION_POLL_SECONDS, or a CloudFront distribution in front of the feed",
    ),
    "keys_partition": Quota(
        "DynamoDB partition reads, the keys table",
        3_000,
        "RCU/s",
        "AWS quota",
        "longer key caches (SIGNER_CACHE_SECONDS, KEY_RING_MAX_AGE_SECONDS); a DAX or "
        "read replica is not needed before that",
    ),
}


@dataclass(frozen=True)
class Load:
    quota: Quota
    peak: float

    @property
    def headroom(self) -> float:
        return self.quota.limit / self.peak if self.peak > 0 else float("inf")


def loads(p: Profile, ops: dict[str, Operation]) -> dict[str, Load]:
    d = daily(p)
    inv = invocations(p, ops)
    peak = p.peak_to_mean / SECONDS_PER_DAY  # a daily count -> requests/s at the peak
    n = inv.counts
    signs = sum(n[k] * ops[k].kms_signs for k in n) * peak
    own_api = sum(n[k] for k in n if ops[k].api_request) * peak
    api = own_api + d.api_requests * peak
    concurrency = sum(n[k] * peak * ops[k].billed_ms() / 1000 for k in n)
    # Under attack: every attempt the login route lets through writes the account's counter
    # (it is counted before the password is checked), capped by the route's token bucket:
    # its burst in the first second, its rate after.
    attempts = min(p.attack_attempts_per_s, max(LOGIN_BURST, QUOTAS["login_route"].limit))
    authorizers = inv.containers.get("AuthorizerFunction", 1.0)
    key_readers = sum(
        inv.containers.get(f, 0.0) / every
        for f, every in (
            ("LoginFunction", 10),
            ("RefreshFunction", 10),
            ("OAuthFunction", 10),
            ("AuthorizerFunction", 30),
            ("SessionAuthorizerFunction", 30),
            ("WellKnownFunction", 5),
        )
    )
    values = {
        "kms": signs,
        "apigw": api,
        "stage": api,
        "login_route": n["login"] * peak,
        "concurrency": concurrency,
        "hot_item": attempts,
        "feed_prefix": authorizers / p.revocation_poll_s if p.revocation_poll_s else 0.0,
        "keys_partition": key_readers,
    }
    return {key: Load(QUOTAS[key], value) for key, value in values.items()}


def first_limit(found: dict[str, Load], kind: str | None = None) -> Load:
    """The quota with the least headroom (of one kind, if given)."""
    candidates = [load for load in found.values() if kind is None or load.quota.kind == kind]
    return min(candidates, key=lambda load: load.headroom)
