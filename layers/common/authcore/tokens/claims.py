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
    strings, JSON numbers) before a value of this type exists.

    Two shapes (contract §3 and §9). A user's token carries ``sid`` and ``username``;
    ``sub`` is the user's id. A machine client's token (client credentials) carries
    neither: no session stands behind it, and ``sub`` is its ``client_id`` (RFC 9068
    §2.2), which the verifier requires, so a user's token that lost its ``sid`` cannot
    pass as a client's. Read ``sid`` and ``username`` with ``.get``.
    """

    iss: str
    sub: str  # the stable user id (never the username), or a machine client's client_id
    aud: str
    exp: float
    iat: float
    jti: str
    sid: NotRequired[str]  # the session (token family); absent: a machine client's token
    nbf: NotRequired[float]
    client_id: NotRequired[str]
    scope: NotRequired[str]
    username: NotRequired[str]  # present exactly when sid is
    # RFC 8176 method references and the time of the login (OIDC Core §2); a user's
    # tokens carry both (tokens issued before they existed did not).
    amr: NotRequired[list[str]]
    auth_time: NotRequired[float]
