"""The OAuth 2.0 endpoints of machine clients (contract §9): client authentication,
the client-credentials grant (RFC 6749 §4.4) with per-client quotas, token
introspection (RFC 7662) and revocation (RFC 7009).

Knows nothing of API Gateway: the edge parses the form and the ``Authorization``
header into a ``ClientAuthentication``, this module decides.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from authcore.clients.assertion import claimed_client, verify_assertion
from authcore.clients.model import Client, ClientAuthentication, is_client_id, parse_scope
from authcore.clients.quota import HourlyQuota
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    QuotaExceeded,
    UnsupportedGrantType,
    UnsupportedTokenType,
)
from authcore.keys.signers import Signer
from authcore.sessions.model import SessionStore
from authcore.tokens.claims import AccessClaims
from authcore.tokens.issue import (
    IssuedClientToken,
    SecurityEvent,
    ignore_event,
    issue_client_token,
)
from authcore.tokens.refresh import RefreshToken

GRANT_TYPE = "client_credentials"
# (access token, issuer) -> its verified claims, or InvalidToken.
AccessCheck = Callable[[str, str], AccessClaims]
# Compared when the client is unknown, so that an unknown client costs what a
# wrong secret costs (one HMAC and the comparisons), and answers the same.
_NOBODY = Client("-", frozenset(), "disabled")


class ClientStore(Protocol):
    def get(self, client_id: str) -> Client | None: ...
    def reserve_tokens(self, client_id: str, hour: int, limit: int, wanted: int) -> int: ...
    def use_jti(self, client_id: str, jti: str, until: float) -> None: ...


class ClientService:
    def __init__(
        self,
        settings: Settings,
        *,
        clients: ClientStore,
        signer: Callable[[], Signer],
        pepper: bytes,
        sessions: SessionStore,
        verify_access: AccessCheck,
        clock: Clock = system_clock,
        on_security_event: SecurityEvent = ignore_event,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._quota = HourlyQuota(clients)
        self._signer = signer
        self._pepper = pepper
        self._sessions = sessions
        self._verify_access = verify_access
        self._clock = clock
        self._security_event = on_security_event

    # ------------------------------------------------------------ authentication
    def authenticate(self, auth: ClientAuthentication, *, issuer: str) -> Client:
        """The client, or ``InvalidClient``: one answer for an unknown client, a
        wrong or expired secret, a disabled client and a bad assertion."""
        now = self._clock()
        if auth.method == "private_key_jwt":
            claimed = claimed_client(auth.assertion)
            if auth.client_id and auth.client_id != claimed:
                raise InvalidClient()
            client = self._clients.get(claimed)
            if client is None or client.jwks is None or client.status != "active":
                raise InvalidClient()
            verified = verify_assertion(
                auth.assertion,
                client_id=client.client_id,
                jwks=client.jwks,
                issuer=issuer,
                now=now,
                leeway=self._settings.leeway,
            )
            # RFC 7523 §3: a jti is used once within the assertion's lifetime.
            self._clients.use_jti(
                client.client_id, verified.jti, verified.exp + self._settings.leeway
            )
            return client
        # An id no client can have (empty, too long for a DynamoDB key) is not
        # looked up, but costs the same HMAC and answers the same.
        found = self._clients.get(auth.client_id) if is_client_id(auth.client_id) else None
        client = found or _NOBODY
        matched = client.secret_matches(self._pepper, auth.secret, now)
        if found is None or not matched or client.status != "active":
            raise InvalidClient()
        return client

    # ------------------------------------------------------------ token
    def token(
        self, auth: ClientAuthentication, *, grant_type: str, scope: str | None, issuer: str
    ) -> IssuedClientToken:
        client = self.authenticate(auth, issuer=issuer)
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType("Only grant_type=client_credentials is supported.")
        try:
            requested = client.scope if scope is None else parse_scope(scope)
        except InvalidRequest:
            raise InvalidScope("The scope is malformed.") from None
        if not requested <= client.scope:
            raise InvalidScope("The client may not have this scope.")
        now = self._clock()
        hour = int(now // 3600)
        limit = client.quota_per_hour or self._settings.client_token_quota_per_hour
        if not self._quota.take(client.client_id, hour, limit):
            self._security_event("client_quota_exceeded", {"client_id": client.client_id})
            raise QuotaExceeded(max(1, math.ceil((hour + 1) * 3600 - now)))
        granted = " ".join(sorted(requested))
        ttl = self._settings.access_ttl
        token = issue_client_token(
            self._signer(),
            client_id=client.client_id,
            scope=granted,
            issuer=issuer,
            audience=self._settings.audience,
            now=now,
            ttl=ttl,
        )
        return IssuedClientToken(token, ttl, granted)

    # ------------------------------------------------------------ introspection
    def introspect(self, auth: ClientAuthentication, token: str, *, issuer: str) -> dict[str, Any]:
        """RFC 7662: ``active`` false for anything that is not a live access token of
        this issuer: bad signature, unknown or revoked key, expired, or (for a
        user's token) a session that has ended. The session is read at each call:
        this is how a service that cannot run our authorizer learns of a logout at
        once."""
        self.authenticate(auth, issuer=issuer)
        try:
            claims = self._verify_access(token, issuer)
        except InvalidToken:
            return {"active": False}
        sid = claims.get("sid")
        if not sid:
            # A client's token is active only while its client is: disabling a
            # client is how an administrator withdraws its tokens from services
            # that introspect.
            owner = self._clients.get(claims["sub"])
            if owner is None or owner.status != "active":
                return {"active": False}
        else:
            session = self._sessions.get(sid)
            if (
                session is None
                or session.principal.user_id != claims["sub"]
                or not session.is_live(self._clock())
            ):
                return {"active": False}
        answer: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer",
            "iss": claims["iss"],
            "sub": claims["sub"],
            "aud": claims["aud"],
            "exp": claims["exp"],
            "iat": claims["iat"],
            "jti": claims["jti"],
            "scope": claims.get("scope", ""),
            "client_id": claims.get("client_id", ""),
        }
        if sid:
            answer["sid"] = sid
            answer["username"] = claims.get("username", "")
        return answer

    # ------------------------------------------------------------ revocation
    def revoke(self, auth: ClientAuthentication, token: str, *, issuer: str) -> None:
        """RFC 7009: a refresh token (or a user's access token: its session) issued to
        this client ends its session; an invalid or unknown token is no error. The
        sessions belong to the client ``CLIENT_ID`` names (the web app's), so only a
        confidential client registered under that id can revoke them; for any other
        client nothing happens, and the answer says nothing either way."""
        client = self.authenticate(auth, issuer=issuer)
        mine = client.client_id == self._settings.client_id
        now = self._clock()
        try:
            refresh = RefreshToken.parse(token)
        except InvalidGrant:
            refresh = None
        if refresh is not None:
            if mine:
                self._sessions.revoke(
                    refresh.sid, now=now, reason="oauth_revoke", family_digest=refresh.family_digest
                )
            return
        try:
            claims = self._verify_access(token, issuer)
        except InvalidToken:
            return
        sid = claims.get("sid")
        if not sid:
            # A client-credentials token has no session: it cannot be revoked, only
            # left to expire (RFC 7009 §2.2.1).
            raise UnsupportedTokenType("Client-credentials access tokens cannot be revoked.")
        if mine and claims.get("client_id") == client.client_id:
            self._sessions.revoke(sid, now=now, reason="oauth_revoke", user_id=claims["sub"])
