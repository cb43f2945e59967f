"""Every price the capacity model uses, in one place: public list prices, on-demand, no
free tier, no savings plan, no enterprise discount.

Region: US East (N. Virginia), us-east-1. Looked up: 2026-11-28.

Each figure carries where it was confirmed. "AWS page" means the service's own pricing page
(or AWS's price list as quoted verbatim by a page that fetched it); "third-party copy" means a
page quoting the AWS figure, dated, that we could read but not the AWS page itself; "not
confirmed" means the figure is the long-standing list price as we know it, but no page read on
the lookup date showed it: check it before you quote it. Free tiers are left out on purpose
(this project's side is priced without them, so that the figures hold for an account that
already spends its free tier elsewhere); Cognito's own free MAU band is kept, since it is part
of the per-MAU schedule being compared.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "us-east-1"
LOOKED_UP = "2026-11-28"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


PRICES: dict[str, Price] = {
    # ---- Lambda (third-party copy of the AWS page, and the AWS page's formula)
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second", "third-party copy"),
    "lambda_gb_second_x86": Price(0.0000166667, "GB-second", "third-party copy"),
    "lambda_request": Price(0.20 / 1e6, "request", "third-party copy"),
    # SnapStart for Python (template parameter SnapStart, off by default; not in the model):
    # the snapshot cached per published version, and each restore (third-party copy,
    # awsnegotiations.com, of the AWS page; docs/deploy-and-operate.md, "SnapStart").
    "lambda_snapstart_cache_gb_second": Price(0.0000015046, "GB-second cached", "third-party copy"),
    "lambda_snapstart_restore_gb": Price(0.0001397998, "GB restored", "third-party copy"),
    # ---- API Gateway HTTP API: $1.00 per million for the first 300 million a month,
    # $0.90 after (third-party copies quoting the AWS page)
    "http_api_request_first_300m": Price(1.00 / 1e6, "request", "third-party copy"),
    "http_api_request_over_300m": Price(0.90 / 1e6, "request", "third-party copy"),
    # ---- DynamoDB on-demand (the November 2024 prices; third-party copy)
    "dynamodb_wru": Price(0.625 / 1e6, "write request unit", "third-party copy"),
    "dynamodb_rru": Price(0.125 / 1e6, "read request unit", "third-party copy"),
    "dynamodb_storage_gb_month": Price(0.25, "GB-month", "not confirmed"),
    # ---- KMS: an asymmetric key's Sign is an "asymmetric request except RSA 2048", $0.15
    # per 10,000, and is outside the free tier (AWS price list, quoted verbatim); RSA 2048
    # requests $0.03 per 10,000; a key $1 a month (AWS page).
    "kms_asymmetric_request": Price(0.15 / 1e4, "request (ECC, RSA other than 2048)", "AWS page"),
    "kms_rsa2048_request": Price(0.03 / 1e4, "request (RSA 2048)", "AWS page"),
    "kms_key_month": Price(1.00, "key-month", "AWS page"),
    # ---- Secrets Manager (third-party copy)
    "secret_month": Price(0.40, "secret-month", "third-party copy"),
    "secretsmanager_request": Price(0.05 / 1e4, "API call", "third-party copy"),
    # ---- SES outbound (third-party copy)
    "ses_email": Price(0.10 / 1e3, "email", "third-party copy"),
    # ---- CloudWatch Logs, standard class (third-party copies quoting the AWS page)
    "logs_ingested_gb": Price(0.50, "GB ingested", "third-party copy"),
    # ---- S3 Standard requests: the feed's polls and the publisher's writes
    "s3_get": Price(0.0004 / 1e3, "GET", "not confirmed"),
    "s3_put": Price(0.005 / 1e3, "PUT", "not confirmed"),
    # ---- X-Ray: $5.00 per million traces recorded (AWS page). Charged only when
    # template.yaml's Tracing parameter turns tracing on (its default, Disabled, records
    # none; the profile's --tracing): with Active the default sampling rule records 1
    # request a second per function plus 5 % of the rest.
    "xray_trace": Price(5.00 / 1e6, "trace recorded", "AWS page"),
}

HTTP_API_TIER_REQUESTS = 300e6

# ---- Amazon Cognito user pools (the comparison). Lite and Essentials are per MAU above a
# free band of 10,000 MAU a month. Essentials $0.015 flat (AWS page's worked example). Lite is
# graduated: $0.0055 (10,001-100,000) and $0.0046 (100,001-1,000,000) appear in the AWS page's
# worked example; the two upper bands ($0.00325 to 10 M, $0.0025 beyond) are not confirmed.
COGNITO_FREE_MAU = 10_000
COGNITO_ESSENTIALS_PER_MAU = 0.015
COGNITO_LITE_BANDS: tuple[tuple[float, float], ...] = (
    # (band's upper bound in MAU, price per MAU in the band)
    (10_000, 0.0),
    (100_000, 0.0055),
    (1_000_000, 0.0046),
    (10_000_000, 0.00325),
    (float("inf"), 0.0025),
)
COGNITO_LITE_CONFIRMED_UP_TO = 1_000_000
# Machine to machine (client credentials), since May 2024: $6 per app client a month and
# $2.25 per 1,000 token requests in the first band (AWS's billing-code page; this repo's
# docs/machine-clients.md). The lower bands for large volumes are not modelled.
COGNITO_M2M_CLIENT_MONTH = 6.00
COGNITO_M2M_TOKEN = 2.25 / 1e3

# ---- Auth0 (B2C), as published: Free up to 25,000 MAU; Essentials $35 a month and
# Professional $240 a month for 500 MAU (monthly billing). Above the slider, Enterprise:
# "contact sales", no public price.
AUTH0_FREE_MAU = 25_000
AUTH0_ESSENTIALS_500_MAU = 35.0
AUTH0_PROFESSIONAL_500_MAU = 240.0


def usd(name: str) -> float:
    return PRICES[name].usd


def cognito_lite(mau: float) -> float:
    """Cognito Lite's monthly price for ``mau`` monthly active users (graduated bands)."""
    total, lower = 0.0, 0.0
    for upper, price in COGNITO_LITE_BANDS:
        if mau <= lower:
            break
        total += (min(mau, upper) - lower) * price
        lower = upper
    return total


def cognito_essentials(mau: float) -> float:
    return max(0.0, mau - COGNITO_FREE_MAU) * COGNITO_ESSENTIALS_PER_MAU


def cognito_m2m(clients: int, tokens_per_month: float) -> float:
    return clients * COGNITO_M2M_CLIENT_MONTH + tokens_per_month * COGNITO_M2M_TOKEN


def auth0(mau: float) -> str:
    """What Auth0 publishes for this many MAU: a price, or that it publishes none."""
    if mau <= AUTH0_FREE_MAU:
        return "$0 (Free plan, up to 25,000 MAU; fewer features)"
    return "not published (Enterprise, contact sales)"


def http_api(requests: float) -> float:
    first = min(requests, HTTP_API_TIER_REQUESTS)
    rest = max(0.0, requests - HTTP_API_TIER_REQUESTS)
    return first * usd("http_api_request_first_300m") + rest * usd("http_api_request_over_300m")
