"""Where credentials come from, and the cross-site checks of cookie flows.

Light on purpose (standard library only): the authorizer imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from authcore.errors import Forbidden, InvalidRequest

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Secure-refresh_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_value(cookies: Iterable[str] | None, name: str) -> str | None:
    """The value of one cookie from API Gateway's v2 ``cookies`` list.

    Two cookies of the same name mean someone planted one (cookie tossing from
    a sibling subdomain): refuse rather than guess which is genuine.
    """
    found: str | None = None
    for cookie in cookies or ():
        for pair in cookie.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                if found is not None:
                    raise InvalidRequest(f"duplicate {name} cookie")
                found = value.strip()
    return found or None


def cookie_values(cookies: Iterable[str] | None, name: str) -> list[str]:
    """Every non-empty value of one cookie, distinct, in the order sent.

    For the refresh cookie, where a planted twin (cookie tossing from a sibling
    subdomain: a ``__Secure-`` cookie may carry ``Domain=``) must not make logout
    fail: the caller decides what several candidates may do.
    """
    found: list[str] = []
    for cookie in cookies or ():
        for pair in cookie.split(";"):
            key, sep, value = pair.strip().partition("=")
            value = value.strip()
            if sep and key == name and value and value not in found:
                found.append(value)
    return found


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """RFC 6750 §2.1: ``Authorization: Bearer <token>``; the scheme is case-insensitive."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidRequest("Authorization must use the Bearer scheme")
    return token.strip()


def check_same_site(
    headers: Mapping[str, str], allowed_origins: frozenset[str], own_origin: str | None
) -> None:
    """Refuse cross-site use of cookie credentials (login CSRF, forced logout,
    forced refresh). Fetch Metadata first; ``Origin`` as the fallback for
    browsers without it. ``Origin: null`` (sandboxed frames, some redirects)
    is never an allowed origin."""
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() == "cross-site":
        raise Forbidden("Cross-site request refused.")
    origin = headers.get("origin")
    if origin is not None and origin not in allowed_origins and origin != own_origin:
        raise Forbidden("Cross-site request refused.")


def origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
