"""The per-client hourly quota's reservations (authcore.clients.quota): blocks of 1 %
of the hour, never more than the store grants, a new block per hour."""

from __future__ import annotations

import pytest

from authcore.clients.quota import LEASE_MAX, HourlyQuota, lease_size


class Counter:
    """The store's semantics (authcore.clients.dynamo.reserve_tokens) in memory: a
    reservation is admitted while fewer than ``limit`` are reserved, and granted only
    what is left."""

    def __init__(self) -> None:
        self.reserved: dict[tuple[str, int], int] = {}
        self.requests: list[int] = []

    def reserve_tokens(self, client_id: str, hour: int, limit: int, wanted: int) -> int:
        self.requests.append(wanted)
        before = self.reserved.get((client_id, hour), 0)
        if before >= limit:
            return 0
        self.reserved[(client_id, hour)] = before + wanted
        return min(wanted, limit - before)


@pytest.mark.parametrize(
    ("limit", "size"), [(1, 1), (199, 1), (200, 2), (1000, 10), (2500, 25), (10**6, LEASE_MAX)]
)
def test_a_block_is_one_percent_of_the_hour_within_bounds(limit, size):
    assert lease_size(limit) == size


def test_one_store_request_per_block():
    store = Counter()
    quota = HourlyQuota(store)
    assert all(quota.take("job", 7, 1000) for _ in range(25))
    assert store.requests == [10, 10, 10]


def test_the_quota_is_exact_when_blocks_do_not_divide_it():
    store = Counter()
    quota = HourlyQuota(store)
    granted = [quota.take("job", 7, 205) for _ in range(210)]
    assert granted == [True] * 205 + [False] * 5


def test_containers_together_never_exceed_the_quota():
    store = Counter()
    containers = [HourlyQuota(store) for _ in range(7)]
    granted = sum(container.take("job", 7, 300) for _ in range(100) for container in containers)
    assert granted == 300


def test_a_new_hour_reserves_anew_and_clients_are_apart():
    store = Counter()
    quota = HourlyQuota(store)
    assert [quota.take("job", 7, 1) for _ in range(2)] == [True, False]
    assert quota.take("other", 7, 1)
    assert [quota.take("job", 8, 1) for _ in range(2)] == [True, False]


def test_a_spent_hour_is_asked_again_not_remembered():
    """A refusal is not cached: an administrator who raises the quota is felt at once."""
    store = Counter()
    quota = HourlyQuota(store)
    assert [quota.take("job", 7, 1) for _ in range(2)] == [True, False]
    assert quota.take("job", 7, 2)
