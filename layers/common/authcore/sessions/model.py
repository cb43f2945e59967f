"""A session (one token family): what it holds, when it is live, and the store's port.

The store keeps digests of the current and previous refresh tokens, never a
token (``sessions.dynamo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from authcore.errors import NotFound
from authcore.records import record
from authcore.tokens.issue import Principal
from authcore.tokens.refresh import RefreshToken

MAX_USER_AGENT_LENGTH = 256


@record
class Session:
    sid: str
    principal: Principal
    created_at: float
    last_used_at: float
    absolute_expires_at: float
    idle_expires_at: float
    user_agent: str = ""
    revoked_at: float | None = None
    # Server-side only: digests and the sealed successor (see refresh_tokens).
    token_digest: bytes = b""
    previous_digest: bytes | None = None
    rotated_at: float | None = None
    successor_box: bytes | None = None
    family_digest: bytes = b""
    # Set when signing failed after a rotation: the client never received the
    # successor. The previous token fetches it within the grace window only; past
    # it, the marker makes its refusal plain (no reuse detection), never a redemption.
    successor_undelivered: bool = False

    @property
    def expires_at(self) -> float:
        return min(self.idle_expires_at, self.absolute_expires_at)

    def is_live(self, now: float) -> bool:
        # DynamoDB TTL deletes lazily (up to days later): expiry is decided here.
        return (
            self.revoked_at is None
            and now < self.idle_expires_at
            and now < self.absolute_expires_at
        )


class SessionStore(Protocol):
    def create(self, session: Session, *, guards: Sequence[dict[str, Any]] = ()) -> None: ...
    def get(self, sid: str) -> Session | None: ...
    def rotate(
        self,
        presented: RefreshToken,
        successor: RefreshToken,
        *,
        now: float,
        idle_expires_at: float,
    ) -> Session: ...
    def hold_successor(self, presented: RefreshToken, successor: RefreshToken) -> bool: ...
    def delivered(self, successor: RefreshToken) -> None: ...
    def revoke(
        self,
        sid: str,
        *,
        now: float,
        reason: str,
        family_digest: bytes | None = None,
        user_id: str | None = None,
    ) -> bool: ...
    def list_sids(self, user_id: str, limit: int | None = None) -> list[str]: ...
    def get_many(self, sids: list[str]) -> list[Session]: ...


def revoke_owned(store: SessionStore, sid: str, user_id: str, *, now: float) -> None:
    if not store.revoke(sid, now=now, reason="revoked_by_user", user_id=user_id):
        # Unknown or another user's session look the same: 404 either way, so
        # a caller cannot probe which session ids exist.
        raise NotFound("No such session.")
