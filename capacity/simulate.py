"""A day of traffic, second by second, to check the closed form's arithmetic.

Independent of ``capacity.model``'s formulas where they matter: stretches of activity are
drawn one by one (start times from the diurnal curve), each starts with a login or a
refresh and refreshes whenever its access token expires while it lasts; requests are drawn
per second from the number of users active in it; a credential-stuffing burst hits one
account, throttled by the login route's token bucket. Each quota's load is counted per
second and its maximum reported. The caches (authorizer, session check) are applied as
the model's shares: they change costs, not the counts checked here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from capacity.model import DAYS_PER_MONTH, SECONDS_PER_DAY, Profile
from capacity.quotas import LOGIN_BURST, QUOTAS

PEAK_HOUR = 20  # local evening


def diurnal(p: Profile) -> np.ndarray:
    """Relative activity per second of the day, mean 1."""
    t = np.arange(SECONDS_PER_DAY)
    phase = 2 * math.pi * (t - PEAK_HOUR * 3600) / SECONDS_PER_DAY
    curve: np.ndarray = np.asarray(1.0 + p.diurnal_amplitude * np.cos(phase), dtype=float)
    return curve


@dataclass(frozen=True)
class Day:
    logins: np.ndarray  # per second
    refreshes: np.ndarray
    api_requests: np.ndarray
    attack_accepted: np.ndarray  # attempts on the attacked account the route let through
    machine_tokens: np.ndarray

    def total(self, name: str) -> float:
        return float(getattr(self, name).sum())

    def signs(self) -> np.ndarray:
        # KMS signs a token for each login, refresh and machine token; failed attempts
        # (the attack's) sign nothing.
        signs: np.ndarray = self.logins + self.refreshes + self.machine_tokens
        return signs

    def peak(self, series: np.ndarray, window_s: int = 1) -> float:
        """The largest mean over ``window_s`` consecutive seconds."""
        if window_s <= 1:
            return float(series.max())
        kernel = np.ones(window_s) / window_s
        return float(np.convolve(series, kernel, mode="valid").max())


def simulate(p: Profile, seed: int = 0, attack_at_hour: float = 3.0) -> Day:
    rng = np.random.default_rng(seed)
    curve = diurnal(p)
    density = curve / curve.sum()
    windows_per_day = p.mau * p.hours_active_per_day * 60.0 / p.session_minutes
    logins_per_day = p.mau * p.logins_per_user_month / DAYS_PER_MONTH
    windows = rng.poisson(windows_per_day)
    starts = rng.choice(SECONDS_PER_DAY, size=windows, p=density)
    length = int(p.session_minutes * 60)
    ttl = int(p.access_ttl_s)
    # Which stretches begin with a login (the rest begin with a refresh).
    is_login = rng.random(windows) < logins_per_day / windows_per_day
    logins = np.bincount(starts[is_login], minlength=SECONDS_PER_DAY).astype(float)
    refreshes = np.bincount(starts[~is_login], minlength=SECONDS_PER_DAY).astype(float)
    # The token expires every ttl seconds while the stretch lasts: refresh each time.
    k = 1
    while k * ttl < length:
        at = (starts + k * ttl) % SECONDS_PER_DAY  # the day repeats: wrap around midnight
        refreshes += np.bincount(at, minlength=SECONDS_PER_DAY)
        k += 1
    # Users active each second: +1 at each start, -1 at each end (wrapping at midnight).
    change = np.zeros(SECONDS_PER_DAY + 1)
    np.add.at(change, starts, 1)
    ends = starts + length
    np.add.at(change, ends % SECONDS_PER_DAY, -1)
    wrapped = ends >= SECONDS_PER_DAY
    change[0] += wrapped.sum()  # stretches still running at midnight are active from 0
    active = np.cumsum(change[:-1])
    api = rng.poisson(active * p.api_requests_per_active_hour / 3600.0).astype(float)
    machine = rng.poisson(
        np.full(SECONDS_PER_DAY, p.machine_clients * p.machine_tokens_per_client_hour / 3600.0)
    ).astype(float)
    attack = _attack(p, attack_at_hour)
    return Day(logins, refreshes, api, attack, machine)


def _attack(p: Profile, at_hour: float) -> np.ndarray:
    """Attempts the login route lets through each second: a token bucket of the route's
    rate, as deep as its burst limit (template.yaml: LoginThrottlingBurstLimit 20)."""
    rate, burst = QUOTAS["login_route"].limit, LOGIN_BURST
    accepted = np.zeros(SECONDS_PER_DAY)
    start = int(at_hour * 3600)
    tokens = burst
    for second in range(start, min(SECONDS_PER_DAY, start + int(p.attack_minutes * 60))):
        tokens = min(burst, tokens + rate)
        let_through = min(tokens, p.attack_attempts_per_s)
        tokens -= let_through
        accepted[second] = let_through
    return accepted
