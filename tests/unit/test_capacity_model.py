"""The capacity model's arithmetic on small cases worked by hand, and the simulated day
against the closed form (docs/capacity.md). No measurement here: the operations are made up,
so that every expected figure can be checked with a pencil."""

from dataclasses import replace

import pytest

from capacity import prices
from capacity.model import (
    DAYS_PER_MONTH,
    SECONDS_PER_DAY,
    Operation,
    Profile,
    cached_share,
    cost,
    daily,
    first_use_share,
    invocations,
    month,
)
from capacity.quotas import LOGIN_BURST, first_limit, loads
from capacity.simulate import simulate
from infra import template

# 1,000 users, each active 1 hour a day in two 30-minute stretches, 3 logins a month,
# 60 requests an active hour; 15-minute tokens.
SMALL = Profile(
    mau=1_000,
    logins_per_user_month=3.0,
    hours_active_per_day=1.0,
    session_minutes=30.0,
    api_requests_per_active_hour=60.0,
    browser_share=0.5,
    session_checked_share=0.2,
    logouts_per_login=0.5,
    mails_per_user_month=0.3,
    machine_clients=2,
    machine_tokens_per_client_hour=4.0,
    jwks_fetchers=1,
    jwks_fetch_seconds=86_400,
)


def op(name: str, function: str, **kw: object) -> Operation:
    return Operation(name, function, kw.pop("memory_mb", 256), kw.pop("cpu_ms", 1.0), **kw)


OPS = {
    "login": op(
        "login",
        "LoginFunction",
        memory_mb=1024,
        cpu_ms=100.0,
        calls={"kms.Sign": 1.0, "dynamodb.UpdateItem": 1.0},
        rru=4.0,
        wru=6.0,
    ),
    "refresh": op(
        "refresh", "RefreshFunction", calls={"kms.Sign": 1.0, "dynamodb.UpdateItem": 1.0}, wru=1.0
    ),
    "logout": op("logout", "LogoutFunction", calls={"dynamodb.UpdateItem": 1.0}, wru=1.0),
    "token": op("token", "OAuthFunction", calls={"kms.Sign": 1.0}, rru=1.0, wru=0.1),
    "jwks": op("jwks", "WellKnownFunction"),
    "mail": op("mail", "AccountMailFunction", calls={"ses.SendEmail": 1.0}),
    "publish": op("publish", "RevocationFeedFunction", api_request=False),
    "authorizer_new": op("new", "AuthorizerFunction", api_request=False),
    "authorizer_repeated": op("hit", "AuthorizerFunction", cpu_ms=0.01, api_request=False),
    "session_check_read": op("read", "SessionAuthorizerFunction", rru=1.0, api_request=False),
    "session_check_cached": op("cached", "SessionAuthorizerFunction", api_request=False),
}


def test_daily_counts_by_hand():
    d = daily(SMALL)
    assert d.windows == 2_000  # 1,000 users x 1 h / 30 min
    assert d.logins == 100  # 1,000 x 3 / 30 days
    # Two 15-minute tokens per 30-minute stretch; the first of a login stretch is the login's.
    assert d.refreshes == 2_000 * 2 - 100
    assert d.api_requests == 60_000
    assert d.browser_requests == 24_000  # half of the 80 % not session-checked
    assert d.bearer_requests == 24_000
    assert d.session_checked == 12_000
    assert d.logouts == 50
    assert d.mails == pytest.approx(10)
    assert d.machine_tokens == 192  # 2 clients x 4 an hour x 24
    assert d.jwks_fetches == 1


def test_billed_duration_scales_cpu_by_the_memory_share_and_adds_round_trips():
    # 100 ms on a full core at 1,024 MB: 100 x 1769/1024 = 172.75, + KMS 15 + DynamoDB 5.
    assert OPS["login"].billed_ms() == 193
    # 1 ms at 256 MB: 6.91, + 20 -> 27 (rounded up to the millisecond).
    assert OPS["refresh"].billed_ms() == 27
    # Never below Lambda's 1 ms.
    assert op("x", "F", memory_mb=10_240, cpu_ms=0.001).billed_ms() == 1


def test_cache_shares():
    assert cached_share(1 / 60, 0) == 1.0
    # One request a minute, a 60-second cache: every other request misses.
    assert cached_share(1 / 60, 60) == pytest.approx(0.5)
    assert first_use_share(1, 5) == pytest.approx(1.0)
    assert first_use_share(2, 1) == pytest.approx(0.5)  # one container: the second is cached
    assert first_use_share(2, 2) == pytest.approx(0.75)  # 1.5 distinct containers of 2 uses


def test_cognito_and_auth0_prices_by_hand():
    assert prices.cognito_lite(10_000) == 0
    assert prices.cognito_lite(100_000) == pytest.approx(90_000 * 0.0055)
    assert prices.cognito_lite(1_000_000) == pytest.approx(495 + 900_000 * 0.0046)
    assert prices.cognito_essentials(1_000_000) == pytest.approx(990_000 * 0.015)
    assert prices.cognito_m2m(10, 28_800) == pytest.approx(60 + 64.8)
    assert prices.http_api(400e6) == pytest.approx(300 + 90)
    assert prices.auth0(20_000).startswith("$0")
    assert "not published" in prices.auth0(100_000)


def test_kms_line_is_signs_times_the_asymmetric_price_plus_three_keys():
    m = month(SMALL, OPS)
    signs = DAYS_PER_MONTH * (100 + 3_900 + 192)  # logins, refreshes, machine tokens
    assert m.kms_signs == pytest.approx(signs)
    assert cost(m)["KMS"] == pytest.approx(signs * 0.15 / 10_000 + 3 * 1.0)
    # Signing in the function: no per-signature charge left.
    assert cost(m, signing="secretsmanager")["KMS"] == pytest.approx(1.0)


def test_tracing_defaults_to_the_templates_parameter():
    assert Profile().tracing == template.parameter_defaults()["Tracing"]


def test_xray_line_is_zero_disabled_and_the_sampling_rule_active():
    # 10,000 users: the authorizers pass one request a second, the other functions do not.
    p = Profile(**{**SMALL.__dict__, "mau": 10_000})
    assert cost(month(replace(p, tracing="Disabled"), OPS))["X-Ray traces"] == 0
    seconds_per_month = DAYS_PER_MONTH * SECONDS_PER_DAY  # 2,592,000: one trace each
    # Stateless authorizer: 480,000 a day (5.6/s). Session authorizer: 120,000 (1.4/s).
    authorizer = seconds_per_month + 0.05 * (480_000 * 30 - seconds_per_month)  # 3,182,400
    session = seconds_per_month + 0.05 * (120_000 * 30 - seconds_per_month)  # 2,642,400
    # Under one a second, every invocation is traced: logins 1,000 a day, refreshes 39,000,
    # logouts 500, mails 100, machine tokens 192, JWKS 1, feed publications 500.
    others = (1_000 + 39_000 + 500 + 100 + 192 + 1 + 500) * 30  # 1,238,790
    m = month(replace(p, tracing="Active"), OPS)
    assert m.xray_traces == pytest.approx(authorizer + session + others)  # 7,063,590
    assert cost(m)["X-Ray traces"] == pytest.approx(7_063_590 * 5.00 / 1e6)  # $35.32
    # PassThrough traces what the callers sampled: not priced.
    with pytest.raises(ValueError, match="PassThrough"):
        month(replace(p, tracing="PassThrough"), OPS)


def test_authorizer_invocations_split_new_and_repeated_and_session_reads():
    inv = invocations(SMALL, OPS)
    stateless = inv.counts["authorizer_new"] + inv.counts["authorizer_repeated"]
    assert stateless == pytest.approx(24_000 + 24_000)  # no API Gateway cache by default
    session = inv.counts["session_check_read"] + inv.counts["session_check_cached"]
    assert session == pytest.approx(12_000)
    # One request a minute against a 5-second "live" cache: 1/(1 + 5/60) of them read.
    assert inv.counts["session_check_read"] == pytest.approx(12_000 / (1 + 5 / 60))
    cached = invocations(Profile(**{**SMALL.__dict__, "authorizer_cache_ttl_s": 60.0}), OPS)
    bearer = cached.counts["authorizer_new"] + cached.counts["authorizer_repeated"]
    assert bearer == pytest.approx(24_000 + 24_000 * 0.5)


def test_quota_loads_and_the_first_limit():
    found = loads(SMALL, OPS)
    assert found["kms"].peak == pytest.approx((100 + 3_900 + 192) / 86_400 * 1.6)
    # The attacked account's counter: one write per attempt the route's bucket lets through.
    assert found["hot_item"].peak == LOGIN_BURST
    big = loads(Profile(mau=10_000_000), OPS)
    first = first_limit(big, "AWS quota")
    assert first.quota.name.startswith("KMS Sign")
    assert first.headroom < 1
    assert first_limit(big, "configured").quota.name.startswith("HTTP API stage throttle")


def test_the_simulated_day_agrees_with_the_closed_form():
    p = Profile(**{**SMALL.__dict__, "mau": 20_000})
    d = daily(p)
    day = simulate(p, seed=1)
    assert day.total("logins") == pytest.approx(d.logins, rel=0.06)
    assert day.total("refreshes") == pytest.approx(d.refreshes, rel=0.03)
    assert day.total("api_requests") == pytest.approx(d.api_requests, rel=0.03)
    assert day.total("machine_tokens") == pytest.approx(d.machine_tokens, rel=0.25)
    # The busiest 15 minutes' mean rate of signatures against the closed form's peak.
    assert day.peak(day.signs(), 900) == pytest.approx(loads(p, OPS)["kms"].peak, rel=0.1)


def test_the_attack_is_throttled_by_the_login_routes_token_bucket():
    day = simulate(SMALL)
    assert day.peak(day.attack_accepted) == LOGIN_BURST  # the first second: the burst
    # Then the rate, 10 a second, for the rest of the 10 minutes.
    assert day.total("attack_accepted") == 20 + 599 * 10
