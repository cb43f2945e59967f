"""Token quotas under concurrency, over real connections: containers (each its own
HourlyQuota and DynamoDB client) taking tokens of one client's hour until refused hand
out exactly the quota: never more, and none lost while every container is warm."""

from __future__ import annotations

from support import race

from authcore.clients.dynamo import DynamoClientStore
from authcore.clients.quota import HourlyQuota

CONTAINERS = 8
LIMIT = 231  # blocks of 2: the last one is split


def test_racing_containers_hand_out_exactly_the_quota(moto_server):
    moto_server.start()

    def prepare() -> HourlyQuota:
        return HourlyQuota(DynamoClientStore(moto_server.client("dynamodb"), "clients"))

    def act(quota: HourlyQuota) -> int:
        taken = 0
        while quota.take("racing-job", 500_000, LIMIT):
            taken += 1
        return taken

    results = race(prepare, act, CONTAINERS)
    assert all(result is not None and result[0] == "ok" for result in results), results
    assert sum(result[1] for result in results if result) == LIMIT
