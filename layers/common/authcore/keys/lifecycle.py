"""The signing-key lifecycle: pending -> current -> previous -> retired.

Only the current key signs; pending, current and previous keys are published
(``keys.publish``); the state of every key lives in the keys table
(``keys.table``), whatever holds the private half (``keys.material``).

Timings (docs/keys.md, "Key rotation arithmetic"):

* a key is published as *pending* for at least ``publish_lead`` before it
  signs, longer than any cache that may hold the old JWKS (API Gateway's HTTP
  API JWT authorizer keeps keys up to 2 h; our JWKS says max-age 60 s; our
  authorizer re-reads its ring every 30 s);
* a *previous* key stays published for ``retention`` after it stopped signing:
  the signing functions' key cache + the access token lifetime + leeway, so
  every token it signed expires before it disappears.
"""

from __future__ import annotations

from typing import Any, Protocol

from authcore.clock import Clock, system_clock
from authcore.errors import ConfigError, TemporarilyUnavailable, UnknownKey
from authcore.keys.publish import (
    API_GATEWAY_JWKS_CACHE_SECONDS,
    AUTHORIZER_RELOAD_SECONDS,
    JWKS_MAX_AGE_SECONDS,
)
from authcore.keys.signers import Signer
from authcore.keys.table import KeyRecord, KeyState, KeyTable
from authcore.records import record, replace

# Login and refresh re-read which key is current at most this often (target: no
# token signed by a revoked key 15 s after the revocation).
SIGNER_CACHE_SECONDS = 10


@record
class RotationPolicy:
    interval: float = 30 * 86_400
    publish_lead: float = (
        API_GATEWAY_JWKS_CACHE_SECONDS + JWKS_MAX_AGE_SECONDS + AUTHORIZER_RELOAD_SECONDS
    )
    retention: float = SIGNER_CACHE_SECONDS + 900 + 60

    @classmethod
    def for_tokens(cls, *, access_ttl: int, leeway: int, interval: float) -> RotationPolicy:
        policy = cls(interval=interval, retention=SIGNER_CACHE_SECONDS + access_ttl + leeway)
        if interval < policy.publish_lead:
            raise ConfigError(
                "KEY_ROTATION_INTERVAL_DAYS: the rotation interval must exceed the publication "
                "lead time"
            )
        return policy


class KeyMaterial(Protocol):
    """Where private keys live (KMS, Secrets Manager)."""

    backend: str

    def create(self, alg: str) -> tuple[str, str, dict[str, Any]]:
        """Make a key; return (kid, backend reference, public JWK)."""
        ...

    def signer(self, record: KeyRecord) -> Signer: ...

    def destroy(self, record: KeyRecord) -> None: ...


@record
class RotationReport:
    created: list[str]
    promoted: str | None
    retired: list[str]


class KeyLifecycle:
    def __init__(
        self,
        table: KeyTable,
        material: KeyMaterial,
        *,
        alg: str = "ES256",
        policy: RotationPolicy | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._table = table
        self._material = material
        self._alg = alg
        self._policy = policy or RotationPolicy()
        self._clock = clock

    def _create(self, state: KeyState, now: float) -> KeyRecord:
        kid, ref, jwk = self._material.create(self._alg)
        record = KeyRecord(
            kid=kid,
            alg=self._alg,
            state=state,
            state_since=now,
            created_at=now,
            public_jwk=jwk,
            backend=self._material.backend,
            ref=ref,
        )
        self._table.put_new(record)
        return record

    def rotate(self) -> RotationReport:
        """One scheduled step; idempotent, safe to run at any frequency."""
        now = self._clock()
        policy = self._policy
        records = self._table.load()
        created: list[str] = []
        retired: list[str] = []
        promoted: str | None = None

        current = [r for r in records if r.state == "current"]
        pending = [r for r in records if r.state == "pending"]
        if not current:
            # First deployment: no verifier holds anything yet, so the first key
            # may sign at once.
            current = [self._create("current", now)]
            created.append(current[0].kid)

        changes: list[tuple[KeyRecord, KeyRecord]] = []
        for old in records:
            if old.state == "previous" and now - old.state_since >= policy.retention:
                changes.append((old, replace(old, state="retired", state_since=now)))
        if (
            pending
            and now - current[0].state_since >= policy.interval - 1
            and now - pending[0].state_since >= policy.publish_lead
        ):
            changes.append((current[0], replace(current[0], state="previous", state_since=now)))
            changes.append((pending[0], replace(pending[0], state="current", state_since=now)))
            promoted = pending[0].kid
            pending = []
        self._table.transition(changes)
        for _, new in changes:
            if new.state == "retired":
                self._material.destroy(new)
                retired.append(new.kid)
        if not pending:
            created.append(self._create("pending", now).kid)
        return RotationReport(created=created, promoted=promoted, retired=retired)

    def revoke(self, kid: str) -> RotationReport:
        """Emergency: retire ``kid`` now. If it was signing, the pending key (or a
        new one) signs from now on, without waiting for the publication lead:
        our authorizer picks it up on its unknown-kid reload; caches elsewhere
        may refuse new tokens for a while, which beats accepting forged ones."""
        now = self._clock()
        records = self._table.load()
        target = next((r for r in records if r.kid == kid), None)
        if target is None:
            raise UnknownKey(f"no key {kid}")
        if target.state == "retired":
            return RotationReport(created=[], promoted=None, retired=[])
        created: list[str] = []
        changes = [(target, replace(target, state="retired", state_since=now, revoked=True))]
        promoted: str | None = None
        if target.state == "current":
            pending = next((r for r in records if r.state == "pending"), None)
            if pending is None:
                pending = self._create("pending", now)
                created.append(pending.kid)
            changes.append((pending, replace(pending, state="current", state_since=now)))
            promoted = pending.kid
        self._table.transition(changes)
        self._material.destroy(target)
        if promoted is not None or target.state == "pending":
            created.append(self._create("pending", now).kid)
        return RotationReport(created=created, promoted=promoted, retired=[kid])


class CurrentSigner:
    """The signer of the current key, re-read at most every ``max_age`` seconds."""

    def __init__(
        self,
        table: KeyTable,
        materials: dict[str, KeyMaterial],
        *,
        max_age: float = SIGNER_CACHE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        self._table = table
        self._materials = materials
        self._max_age = max_age
        self._clock = clock
        self._cached: tuple[float, Signer] | None = None

    def get(self) -> Signer:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._max_age:
            return self._cached[1]
        current = next((r for r in self._table.load() if r.state == "current"), None)
        if current is None:
            # Not bootstrapped (the rotation function has never run): nothing can
            # be signed, which is a 503 and not a bug to hide.
            raise TemporarilyUnavailable("No signing key is available.")
        signer = self._materials[current.backend].signer(current)
        self._cached = (now, signer)
        return signer
