"""The seam the tests and benchmarks watch the functions' AWS calls through.

``authcore.awsjson``'s clients send every attempt of every call through their
``exchange`` method (sign, POST, read the answer); ``on_exchange`` puts a function in
front of it, for one client: to count requests, to fail chosen ones, or to replay
recorded answers. What botocore's ``before-send`` event was to its clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# exchange(real, operation, path, body, headers, method) -> (status, body, headers)
Exchange = Callable[..., tuple[int, bytes, Mapping[str, str]]]


def on_exchange(client: Any, exchange: Exchange) -> None:
    """Call ``exchange(real, operation, path, body, headers, method)`` for every request
    ``client`` sends (each attempt: its retries are outside), where ``real`` sends it."""
    real = client.exchange

    def wrapped(operation: str, *request: Any) -> Any:
        return exchange(real, operation, *request)

    client.exchange = wrapped


def count_requests(client: Any) -> list[str]:
    """The operations ``client`` sends from now on, one entry per request on the wire."""
    sent: list[str] = []

    def count(real: Any, operation: str, *request: Any) -> Any:
        sent.append(operation)
        return real(operation, *request)

    on_exchange(client, count)
    return sent
