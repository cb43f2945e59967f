"""Where credentials come from, and the cross-site checks of cookie flows.

Light on purpose (standard library only): the authorizer imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from authcore.errors import Forbidden, InvalidRequest
from authcore.tokens.credential import Credential

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


def present(
    headers: Mapping[str, str],
    cookies: Iterable[str] | None,
    *,
    method: str,
    allowed_origins: frozenset[str],
    own_origin: str | None,
    body_refresh_token: str | None = None,
    refresh_cookie: bool = False,
    access_token: bool = False,
) -> tuple[Credential, ...]:
    """The credential a request presents, and the cross-site rule, applied once.

    Looked for in this order, each place only when asked for: a refresh token from
    the body (already parsed by the caller), the refresh cookie, ``Authorization:
    Bearer``, the access cookie. The first place holding one wins. The answer is
    empty (nothing presented), one credential, or, for the refresh cookie only,
    every distinct candidate (a planted twin beside ours: the session service
    decides what several may do).

    The rule: a state-changing request must pass ``check_same_site`` unless its
    credential is one a browser never attaches by itself (Bearer, body). A request
    presenting nothing is checked too: login has no credential yet, and a forged
    login is the login CSRF this check exists for.
    """
    found = _find(headers, cookies, body_refresh_token, refresh_cookie, access_token)
    ambient = not found or found[0].via == "cookie"
    if ambient and method.upper() not in SAFE_METHODS:
        check_same_site(headers, allowed_origins, own_origin)
    return found


def _find(
    headers: Mapping[str, str],
    cookies: Iterable[str] | None,
    body_refresh_token: str | None,
    refresh_cookie: bool,
    access_token: bool,
) -> tuple[Credential, ...]:
    if body_refresh_token is not None:
        return (Credential(body_refresh_token, "body", "refresh"),)
    if refresh_cookie:
        candidates = cookie_values(cookies, REFRESH_COOKIE)
        if candidates:
            return tuple(Credential(value, "cookie", "refresh") for value in candidates)
    if access_token:
        bearer = bearer_token(headers)
        if bearer is not None:
            return (Credential(bearer, "bearer"),)
        cookie = cookie_value(cookies, ACCESS_COOKIE)
        if cookie is not None:
            return (Credential(cookie, "cookie"),)
    return ()


def origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
