"""Per-client hourly token quotas, counted in DynamoDB without a write per token.

A counter per client and clock hour (UTC) lives in the clients table; a container
reserves tokens from it in small blocks (one conditional ``ADD`` per block) and hands
them out from memory. The store never grants past the limit, so the tokens handed out
by every container together can never exceed the quota; what a container reserved and
did not hand out (it was recycled, or the hour ended) is lost for that hour, and a
client spread over many warm containers can meet its ``429`` up to one block per
container early. A block is 1 % of the hour's quota, so that loss is bounded, and 1
below 200 tokens an hour, where the quota is exact to the token.

Why not a write per token: it doubled the token endpoint's DynamoDB requests (the
client's read, the counter's write) for an answer that only matters near the limit;
``bench/token.py`` shows the difference.
"""

from __future__ import annotations

import threading
from typing import Protocol

# Of the hour's quota, the share one reservation takes (1 / LEASE_DIVISOR), and the
# most it takes whatever the quota.
LEASE_DIVISOR = 100
LEASE_MAX = 25


class TokenReservations(Protocol):
    def reserve_tokens(self, client_id: str, hour: int, limit: int, wanted: int) -> int: ...


def lease_size(limit: int) -> int:
    return max(1, min(LEASE_MAX, limit // LEASE_DIVISOR))


class HourlyQuota:
    """One per container. Thread-safe (Lambda is not threaded, the tests and the
    local stack are): the lock is held across a reservation, so one container never
    reserves twice for the same shortage."""

    def __init__(self, store: TokenReservations) -> None:
        self._store = store
        self._lock = threading.Lock()
        # client id -> (hour, tokens reserved and not yet handed out)
        self._held: dict[str, tuple[int, int]] = {}

    def take(self, client_id: str, hour: int, limit: int) -> bool:
        """One token of ``client_id``'s ``hour``; False when the hour's quota is spent."""
        with self._lock:
            held_hour, left = self._held.get(client_id, (hour, 0))
            if held_hour == hour and left > 0:
                self._held[client_id] = (hour, left - 1)
                return True
            granted = self._store.reserve_tokens(client_id, hour, limit, lease_size(limit))
            if granted <= 0:
                self._held.pop(client_id, None)
                return False
            self._held[client_id] = (hour, granted - 1)
            return True
