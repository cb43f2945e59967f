"""Step-up (RFC 9470): whether the login behind an access token is recent enough, and
strong enough, for a sensitive change. Light: the password function imports it."""

from __future__ import annotations

from collections.abc import Set

from authcore.errors import InsufficientUserAuthentication
from authcore.tokens.issue import SECOND_FACTORS


def require_recent(
    amr: Set[str], auth_time: float, *, now: float, max_age: int, second_factor: bool
) -> None:
    """A stolen session, or a laptop left open, must not be enough to remove or replace
    what protects the account: the login must be at most ``max_age`` seconds old, and
    with ``second_factor`` must have used one (``otp`` or ``hwk`` in ``amr``)."""
    if now - auth_time > max_age:
        raise InsufficientUserAuthentication("Log in again to do this.", max_age=max_age)
    if second_factor and not amr & SECOND_FACTORS:
        raise InsufficientUserAuthentication(
            "Log in again with your second factor to do this.", max_age=max_age
        )
