"""The access token's claims (RFC 9068 §2.2), as our issuer writes them and our
verifier accepts them. Standard library only: the authorizer imports it."""

# No ``from __future__ import annotations`` here: a TypedDict of string annotations
# costs the authorizer's cold start milliseconds (each one becomes a compiled ForwardRef).
from typing import NotRequired, TypedDict

# RFC 9068 §2.1: the JOSE ``typ`` of an access token, written by the issuer and
# required by the verifier (refresh and ID tokens must never pass as access tokens).
ACCESS_TOKEN_TYPE = "at+jwt"


class AccessClaims(TypedDict):
    """The claims of an access token; the verifier has checked each type (non-empty
    strings, JSON numbers) before a value of this type exists."""

    iss: str
    sub: str  # the stable user id, never the username
    aud: str
    exp: float
    iat: float
    jti: str
    sid: str  # the session (token family) the token was issued for
    nbf: NotRequired[float]
    client_id: NotRequired[str]
    scope: NotRequired[str]
    username: NotRequired[str]
