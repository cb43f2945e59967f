"""Session flows: refresh-token rotation, logout, listing and revoking sessions.

Knows nothing of API Gateway: handlers hand it plain values and it answers with
plain values or an ``AuthError``. Every dependency is a constructor argument.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Literal

from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import (
    ConfigError,
    InvalidGrant,
    InvalidToken,
    RotationRefused,
    TemporarilyUnavailable,
)
from authcore.records import record
from authcore.sessions.model import Session, SessionStore, revoke_owned
from authcore.tokens.claims import AccessClaims
from authcore.tokens.credential import Credential
from authcore.tokens.issue import IssuedTokens, SecurityEvent, TokenIssuer, ignore_event
from authcore.tokens.refresh import RefreshToken

REFUSED = "The refresh token is invalid, expired or revoked."
# Candidates beyond this are ignored: one BatchGetItem reads them all, and API
# Gateway's 10 KiB header limit leaves room for fewer than this many refresh cookies.
MAX_REFRESH_CANDIDATES = 100

# What a presented refresh token is worth, read off its stored session:
# "current" and "grace" may act for the session; "stale" is a superseded token of a
# live session (replay); "dead" is garbage, another family, or an ended session.
Standing = Literal["current", "grace", "stale", "dead"]
# (access token, issuer) -> its verified claims, or InvalidToken.
AccessCheck = Callable[[str, str], AccessClaims]


@record
class SessionView:
    """One live session as its owner may see it (times in whole seconds)."""

    sid: str
    created_at: int
    last_used_at: int
    expires_at: int
    user_agent: str
    current: bool


class SessionService:
    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionStore,
        issuer: TokenIssuer | None = None,
        clock: Clock = system_clock,
        on_security_event: SecurityEvent = ignore_event,
        verify_access: AccessCheck | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self._issuer = issuer
        self._verify_access = verify_access
        self._clock = clock
        self._security_event = on_security_event

    def _now(self) -> float:
        # The table keeps milliseconds: deciding on the same rounded instant the
        # condition expression sees keeps code and DynamoDB agreeing at every edge.
        return round(self._clock(), 3)

    # ---------------------------------------------------------------- refresh
    def refresh(self, raw_token: str, *, issuer: str) -> IssuedTokens:
        presented = RefreshToken.parse(raw_token)
        now = self._now()
        successor = presented.successor()
        try:
            session = self.sessions.rotate(
                presented, successor, now=now, idle_expires_at=now + self.settings.session_idle_ttl
            )
        except RotationRefused as refused:
            session, successor = self._redeem(presented, refused.session, now)
        try:
            issued = self._issue(session, successor, issuer, now)
        except Exception:
            # Signing failed after the write (KMS down, or anything else): keep
            # the successor for the presented token rather than undoing the
            # rotation, since a twin racing within the grace window may already
            # hold it. The client's retry with the same token gets it.
            self._hold(presented, successor, session)
            raise
        if session.successor_undelivered:
            self.sessions.delivered(successor)
        return issued

    def _redeem(
        self, presented: RefreshToken, session: Session | None, now: float
    ) -> tuple[Session, RefreshToken]:
        """The rotation was refused: the same successor again (grace), theft, or
        a plain refusal. Decided on the item DynamoDB returned with the refusal."""
        if (
            session is None
            or not session.is_live(now)
            or not hmac.compare_digest(presented.family_digest, session.family_digest)
        ):
            # Garbage, a guessed sid, an expired or an already revoked session.
            raise InvalidGrant(REFUSED)
        if hmac.compare_digest(presented.digest, session.token_digest):
            # The current token of a live session cannot be refused; never let an
            # inconsistent answer be mistaken for theft. The client may retry.
            raise TemporarilyUnavailable()
        is_previous = session.previous_digest is not None and hmac.compare_digest(
            presented.digest, session.previous_digest
        )
        since_rotation = now - (session.rotated_at or 0.0)
        if is_previous and self._in_grace(session, now):
            # Grace: tabs racing each other get the successor their twin already
            # obtained, so every tab ends up holding the same current token.
            successor = presented.open_successor(session.successor_box or b"")
            if successor is not None and hmac.compare_digest(
                successor.digest, session.token_digest
            ):
                return session, successor
        if is_previous and session.successor_undelivered:
            # Signing failed after this token's rotation. Past the grace window the
            # marker no longer redeems the successor (else a stolen previous token
            # would stay usable, and exempt from reuse detection, until the session
            # idles out). Refused without revoking: the marker is our own record of
            # an outage, so a late retry is far more likely the owner than a thief,
            # and an outage must not become a storm of reuse alarms and revocations.
            self._security_event(
                "refresh_undelivered_expired",
                {
                    "sid": session.sid,
                    "user_id": session.principal.user_id,
                    "seconds_since_rotation": round(since_rotation, 3),
                },
            )
            raise InvalidGrant(REFUSED)
        # A genuine but superseded token: someone replays a stolen token (or the
        # thief already rotated it and this is the victim). Kill the family, the
        # newest token included.
        self._security_event(
            "refresh_token_reuse",
            {
                "sid": session.sid,
                "user_id": session.principal.user_id,
                "reused": "previous" if is_previous else "ancestor",
                "seconds_since_rotation": (
                    round(since_rotation, 3) if session.rotated_at is not None else None
                ),
            },
        )
        self.sessions.revoke(
            session.sid,
            now=now,
            reason="refresh_token_reuse",
            family_digest=session.family_digest,
        )
        raise InvalidGrant(REFUSED)

    def _in_grace(self, session: Session, now: float) -> bool:
        """Whether the previous token of ``session`` is still within the reuse grace
        window (the edge included; grace 0 means never)."""
        grace = self.settings.reuse_grace
        return grace > 0 and session.rotated_at is not None and now - session.rotated_at <= grace

    def _standing(self, token: RefreshToken, session: Session | None, now: float) -> Standing:
        if (
            session is None
            or not session.is_live(now)
            or not hmac.compare_digest(token.family_digest, session.family_digest)
        ):
            return "dead"
        if hmac.compare_digest(token.digest, session.token_digest):
            return "current"
        if (
            session.previous_digest is not None
            and hmac.compare_digest(token.digest, session.previous_digest)
            and self._in_grace(session, now)
        ):
            return "grace"
        return "stale"

    # ------------------------------------------------------ several candidates
    # A sibling subdomain can plant a second refresh cookie (cookie tossing: a
    # __Secure- cookie may carry Domain=), and a request does not say which cookie
    # is ours. The rule for several candidates: inert ones (malformed, unknown,
    # another family, an ended session) are ignored, so planting garbage changes
    # nothing; what remains is acted on as if it had come alone.
    def _candidates(
        self, raw_tokens: Sequence[str]
    ) -> tuple[list[tuple[RefreshToken, Session | None]], float]:
        tokens: dict[str, RefreshToken] = {}
        for raw in raw_tokens:
            try:
                token = RefreshToken.parse(raw)
            except InvalidGrant:
                continue
            tokens.setdefault(str(token), token)
        chosen = list(tokens.values())[:MAX_REFRESH_CANDIDATES]
        # One strongly consistent read for them all: classifying costs no write,
        # consumes nothing and revokes nothing.
        stored = {s.sid: s for s in self.sessions.get_many(sorted({t.sid for t in chosen}))}
        return [(t, stored.get(t.sid)) for t in chosen], self._now()

    def refresh_any(self, raw_tokens: Sequence[str], *, issuer: str) -> IssuedTokens:
        """Refresh with one of several candidate tokens (a planted cookie beside ours).

        Exactly one candidate may be a token of a live session, and only that one
        is presented to ``refresh``. Two or more are refused (401), unconsumed and
        unrevoked: the server cannot tell a planted, valid token of the attacker's
        own session from ours (cookie attributes are not sent), and rotating the
        wrong one would swap the victim into the attacker's account while our
        Set-Cookie overwrote the genuine cookie. Stale candidates count as live
        ones: rotating a fresh token beside a replayed one would hide the replay,
        and treating the pair as theft would let a planter kill our family. The
        answer depends on the candidates' classes only, so several cookies teach
        nothing that presenting each alone would not.
        """
        if len(raw_tokens) == 1:
            return self.refresh(raw_tokens[0], issuer=issuer)
        candidates, now = self._candidates(raw_tokens)
        live = [t for t, session in candidates if self._standing(t, session, now) != "dead"]
        self._security_event(
            "refresh_cookie_tossing",
            {"flow": "refresh", "candidates": len(raw_tokens), "live": len(live)},
        )
        if len(live) != 1:
            raise InvalidGrant(REFUSED)
        return self.refresh(str(live[0]), issuer=issuer)

    def logout_any(self, raw_tokens: Sequence[str], *, everywhere: bool = False) -> None:
        """Log out with every candidate token: ending a session is never a gain for
        a planter, so each candidate of a live session ends its session (and, with
        ``everywhere``, a current or in-grace one ends every session of its user).
        A logout the genuine cookie cannot reach would leave a shared computer
        logged in."""
        if len(raw_tokens) <= 1:
            for raw in raw_tokens:
                self.logout_with_refresh_token(raw, everywhere=everywhere)
            return
        candidates, now = self._candidates(raw_tokens)
        live = 0
        for token, session in candidates:
            standing = self._standing(token, session, now)
            if standing == "dead" or session is None:
                continue
            live += 1
            if everywhere:
                self._logout_all_if_allowed(token, session, standing)
            else:
                self.sessions.revoke(
                    token.sid, now=now, reason="logout", family_digest=token.family_digest
                )
        self._security_event(
            "refresh_cookie_tossing",
            {"flow": "logout", "candidates": len(raw_tokens), "live": live},
        )

    def _logout_all_if_allowed(
        self, token: RefreshToken, session: Session, standing: Standing
    ) -> None:
        # Ending every session is the strongest thing a refresh token can do, so only
        # a credential that could still refresh may do it: the current token of a
        # live session or its in-grace predecessor. A token rotated long ago (a
        # leaked backup, an old log) or of an ended session (already logged out,
        # or revoked for theft) ends nothing. RFC 7009: the answer is 204 anyway.
        if standing in ("current", "grace"):
            self.revoke_all(session.principal.user_id, reason="logout_all", last=session.sid)
            return
        self._security_event(
            "logout_all_refused",
            {
                "credential": "refresh_token",
                "sid": token.sid,
                "user_id": session.principal.user_id,
                "standing": standing,
            },
        )

    def _hold(self, presented: RefreshToken, successor: RefreshToken, session: Session) -> None:
        try:
            held = self.sessions.hold_successor(presented, successor)
        except TemporarilyUnavailable:
            held = False
        if not held:
            # The presented token still works within the grace window only.
            self._security_event(
                "refresh_hold_failed",
                {"sid": session.sid, "user_id": session.principal.user_id},
            )

    # ----------------------------------------------------------------- logout
    def logout(self, presented: Sequence[Credential], *, issuer: str, everywhere: bool) -> None:
        """Log out with whatever the request presented: refresh-token candidates,
        else an access token, else nothing. RFC 7009: an unusable token is no error."""
        if not presented:
            return
        if presented[0].kind == "refresh":
            self.logout_any([credential.value for credential in presented], everywhere=everywhere)
            return
        if self._verify_access is None:
            raise ConfigError("this function cannot verify access tokens")
        try:
            claims = self._verify_access(presented[0].value, issuer)
        except InvalidToken:
            return
        self.logout_with_access_claims(claims, everywhere=everywhere)

    def logout_with_refresh_token(self, raw_token: str, *, everywhere: bool = False) -> None:
        """RFC 7009: unknown, malformed or already revoked tokens succeed silently."""
        try:
            token = RefreshToken.parse(raw_token)
        except InvalidGrant:
            return
        now = self._now()
        if not everywhere:
            self.sessions.revoke(
                token.sid, now=now, reason="logout", family_digest=token.family_digest
            )
            return
        session = self.sessions.get(token.sid)
        standing = self._standing(token, session, now)
        if session is None or standing == "dead":
            self._security_event(
                "logout_all_refused",
                {"credential": "refresh_token", "sid": token.sid, "standing": "dead"},
            )
            return
        self._logout_all_if_allowed(token, session, standing)

    def logout_with_access_claims(self, claims: AccessClaims, *, everywhere: bool = False) -> None:
        sid = claims.get("sid")
        if sid is None:
            # A machine client's token names no session: nothing to end, and its sub
            # (a client_id) has no sessions to end everywhere. RFC 7009: still a success.
            return
        if everywhere:
            # A verified signature says the token was issued, not that its session
            # still stands: the access token of a session ended by logout or by
            # theft detection lives on until its exp and must not end the others.
            session = self.sessions.get(sid)
            if (
                session is None
                or session.principal.user_id != claims["sub"]
                or not session.is_live(self._now())
            ):
                self._security_event(
                    "logout_all_refused",
                    {"credential": "access_token", "sid": sid, "standing": "dead"},
                )
                return
            self.revoke_all(claims["sub"], reason="logout_all", last=session.sid)
        else:
            self.sessions.revoke(sid, now=self._now(), reason="logout", user_id=claims["sub"])

    def revoke_all(
        self, user_id: str, *, reason: str, last: str | None = None, keep: str | None = None
    ) -> list[str]:
        """Every session of the user the ``by_user`` index lists, however many
        pages; the sids it revoked. Idempotent: a failure part-way leaves some
        sessions revoked and a retry finishes the job; it never leaves anything
        usable that should not be. ``last``, the session whose credential asked,
        is revoked after the others: only a live session may end them all, so a
        failure part-way must leave it live for the retry. ``keep`` is spared (a
        password change ends every *other* session)."""
        now = self._now()
        sids = [sid for sid in self.sessions.list_sids(user_id) if sid != keep]
        if last is not None and last in sids:
            sids = [sid for sid in sids if sid != last] + [last]
        for sid in sids:
            self.sessions.revoke(sid, now=now, reason=reason, user_id=user_id)
        return sids

    # --------------------------------------------------------------- sessions
    def list_sessions(self, user_id: str, current_sid: str) -> list[SessionView]:
        now = self._now()
        # Every page of the index, not the newest 100: ended sessions stay in it
        # until DynamoDB TTL removes them, so a cap lets an intruder hide a live
        # session behind a hundred login+logout cycles. The cost is bounded by
        # what the table holds for the user (docs/tokens-and-sessions.md, "Listing
        # sessions").
        sids = self.sessions.list_sids(user_id)
        live = [
            s
            for s in self.sessions.get_many(sids)
            if s.principal.user_id == user_id and s.is_live(now)
        ]
        live.sort(key=lambda s: s.created_at, reverse=True)
        return [
            SessionView(
                sid=s.sid,
                created_at=int(s.created_at),
                last_used_at=int(s.last_used_at),
                expires_at=int(s.expires_at),
                user_agent=s.user_agent,
                current=s.sid == current_sid,
            )
            for s in live
        ]

    def revoke_session(self, user_id: str, sid: str) -> None:
        revoke_owned(self.sessions, sid, user_id, now=self._now())

    # ---------------------------------------------------------------- helpers
    def _issue(
        self, session: Session, refresh: RefreshToken, issuer: str, now: float
    ) -> IssuedTokens:
        if self._issuer is None:
            raise ConfigError("this function cannot sign tokens")
        return self._issuer.issue(
            session.principal,
            refresh,
            issuer=issuer,
            now=now,
            session_expires_at=session.expires_at,
        )
