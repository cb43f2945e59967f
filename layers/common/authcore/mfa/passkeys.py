"""Passkeys (contract §8): WebAuthn registration and authentication ceremonies, with
py_webauthn doing the verification (W3C WebAuthn Level 3 §7.1 and §7.2).

Every ceremony has two steps. The options step creates a random challenge, stores it
bound to the ceremony (and, for registration, to the user) and answers its id with the
options; the second step reads it, verifies the authenticator's response against it,
and spends it in the very transaction that commits the outcome (the passkey, or the
session), so a response can be used once, within 5 minutes, for what it was made for.

A passkey login is a whole login (possession of a device-bound key plus the device's
user verification: amr hwk, user, mfa) and ends like every way in, in
``accounts.signin.open_session``. Any refusal is one answer, so that a caller cannot
tell an unknown credential from a wrong signature or a spent challenge.

This module imports py_webauthn (about 110 ms at a cold start): only the passkey
function imports it (``runtime.passkeys``).
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Set
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authenticator_data
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authcore import b64
from authcore.accounts.signin import open_session
from authcore.accounts.users import canonical_username
from authcore.clock import Clock, system_clock
from authcore.config import Settings
from authcore.errors import InvalidGrant, Malformed
from authcore.mfa.passkey_store import (
    Ceremony,
    Challenge,
    DynamoPasskeyStore,
    Owner,
    Passkey,
    challenge_key,
)
from authcore.mfa.stepup import require_recent
from authcore.records import record
from authcore.sessions.model import SessionStore
from authcore.tokens.issue import (
    PASSKEY,
    IssuedTokens,
    Principal,
    SecurityEvent,
    TokenIssuer,
    ignore_event,
)

LOGIN_REFUSED = "The passkey was not accepted."
REGISTRATION_REFUSED = "The passkey could not be registered."
MAX_PASSKEY_NAME_LENGTH = 64
# WebAuthn L3 §13.4.3: at least 16 random bytes; 32, as the challenge's id has.
_CHALLENGE_BYTES = 32
# How long the browser may wait for the user (PublicKeyCredentialCreationOptions.timeout):
# within the challenge's 5-minute lifetime.
_TIMEOUT_MS = 120_000
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)
# What py_webauthn raises besides its own exceptions on hostile bytes (a CBOR structure of
# the wrong shape, an integer out of range, a key of an unknown type).
_HOSTILE = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError)


@record(repr=False)
class CeremonyOptions:
    """What the options step answers: the challenge's id (sent back with the response)
    and the options, as JSON for ``PublicKeyCredential.parse*OptionsFromJSON``."""

    challenge_id: str
    public_key: dict[str, Any]


@record
class RegisteredPasskey:
    credential_id: str  # base64url
    name: str
    backed_up: bool


def _descriptors(ids: tuple[bytes, ...]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=credential_id) for credential_id in ids]


def _options_json(options: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


class PasskeyService:
    def __init__(
        self,
        settings: Settings,
        *,
        store: DynamoPasskeyStore,
        sessions: SessionStore,
        issuer: TokenIssuer,
        clock: Clock = system_clock,
        on_security_event: SecurityEvent = ignore_event,
        random: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sessions = sessions
        self._issuer = issuer
        self._clock = clock
        self._on_security_event = on_security_event
        self._random = random

    def _origins(self, own_origin: str) -> list[str]:
        """The configured origins, and the API's own (a page it serves itself, as the
        cookie flows accept it): clientDataJSON.origin must be exactly one of them, which
        is what stops a look-alike site relaying a ceremony (WebAuthn L3 §13.4.9)."""
        return sorted({*self._settings.passkey_origins, own_origin})

    def _new_challenge(
        self, ceremony: Ceremony, user_id: str, username: str
    ) -> tuple[str, Challenge]:
        challenge_id = b64.encode(self._random(_CHALLENGE_BYTES))
        challenge = Challenge(
            key=challenge_key(challenge_id),
            challenge=self._random(_CHALLENGE_BYTES),
            ceremony=ceremony,
            user_id=user_id,
            username=username,
            created_at=self._clock(),
        )
        self._store.put_challenge(challenge)
        return challenge_id, challenge

    def _live_challenge(self, challenge_id: str, ceremony: str, user_id: str | None) -> Challenge:
        """The stored challenge if it is live, of this ceremony and (registration) this
        user's; else the one refusal of that ceremony. A challenge made for registration
        cannot sign anyone in, and one made for Alice cannot register Bob's key."""
        refused = LOGIN_REFUSED if ceremony == "authentication" else REGISTRATION_REFUSED
        challenge = self._store.challenge(challenge_id)
        if (
            challenge is None
            or challenge.ceremony != ceremony
            or not challenge.live(self._clock())
            or (user_id is not None and not hmac.compare_digest(challenge.user_id, user_id))
        ):
            raise InvalidGrant(refused)
        return challenge

    # ------------------------------------------------------------ registration
    def registration_options(
        self,
        *,
        user_id: str,
        username: str,
        amr: Set[str] = frozenset(),
        auth_time: float = 0.0,
    ) -> CeremonyOptions:
        owner = self._owner(username, user_id, REGISTRATION_REFUSED)
        # A passkey is a way in of its own: a stolen (or old) session must not plant one.
        # The login must be recent, and on an account with TOTP must have used a second
        # factor (RFC 9470); the challenge then bounds the ceremony to 5 more minutes.
        require_recent(
            amr,
            auth_time,
            now=self._clock(),
            max_age=self._settings.step_up_max_age,
            second_factor=owner.has_totp,
        )
        challenge_id, challenge = self._new_challenge("registration", owner.user_id, "")
        options = generate_registration_options(
            rp_id=self._settings.webauthn_rp_id,
            rp_name=self._settings.webauthn_rp_name,
            user_name=owner.username,
            user_display_name=owner.username,
            # The user handle is the stable id, never the username (§14.6.1: it must carry
            # no personal information, and a username may change); a UUID's 36 bytes fit
            # the 64 that §5.4.3 allows.
            user_id=owner.user_id.encode(),
            challenge=challenge.challenge,
            timeout=_TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                # Discoverable (a passkey proper): usernameless sign-in needs it.
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            # The same authenticator is not registered twice (§5.4.3 excludeCredentials).
            exclude_credentials=_descriptors(owner.credential_ids),
        )
        return CeremonyOptions(challenge_id, _options_json(options))

    def register(
        self,
        *,
        user_id: str,
        username: str,
        challenge_id: str,
        credential: dict[str, Any],
        name: str | None,
        own_origin: str,
    ) -> RegisteredPasskey:
        owner = self._owner(username, user_id, REGISTRATION_REFUSED)
        challenge = self._live_challenge(challenge_id, "registration", owner.user_id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge.challenge,
                expected_rp_id=self._settings.webauthn_rp_id,
                expected_origin=self._origins(own_origin),
                # Contract §8: a passkey stands in for a password and a second factor,
                # so the device must have verified its user (PIN, biometrics).
                require_user_verification=True,
            )
        except _HOSTILE:
            self._store.discard_challenge(challenge)
            raise InvalidGrant(REGISTRATION_REFUSED) from None
        now = self._clock()
        transports = credential.get("response", {}).get("transports")
        passkey = Passkey(
            credential_id=verified.credential_id,
            username=owner.username,
            user_id=owner.user_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=tuple(
                sorted({t for t in transports if isinstance(t, str) and t in _TRANSPORTS})
            )
            if isinstance(transports, list)
            else (),
            backup_eligible=verified.credential_device_type == "multi_device",
            backup_state=verified.credential_backed_up,
            name=(name or "Passkey")[:MAX_PASSKEY_NAME_LENGTH],
            created_at=now,
        )
        self._store.register(passkey, [self._store.consume_guard(challenge, now=now)])
        return RegisteredPasskey(
            b64.encode(passkey.credential_id), passkey.name, passkey.backup_state
        )

    def _owner(self, username: str, user_id: str, refused: str) -> Owner:
        """The caller's account, as the authorizer's context names it: still there,
        enabled and the same user (a username deleted and taken again is another user)."""
        owner = self._store.owner(username)
        if owner is None or owner.disabled or not hmac.compare_digest(owner.user_id, user_id):
            raise InvalidGrant(refused)
        return owner

    # ------------------------------------------------------------ authentication
    def login_options(self, username: str | None) -> CeremonyOptions:
        """Options for ``navigator.credentials.get``. With a username, its passkeys as
        ``allowCredentials``; an unknown username, a disabled account and an account
        without passkeys all answer an empty list, exactly as no username does (the
        browser then offers discoverable credentials): the answer never says whether
        an account exists."""
        canonical = canonical_username(username) if username is not None else ""
        owner = self._store.owner(canonical) if canonical else None
        allowed = owner.credential_ids if owner is not None and not owner.disabled else ()
        # Bound to the username asked about (whoever it is): the response must then come
        # from one of that user's passkeys.
        challenge_id, challenge = self._new_challenge("authentication", "", canonical)
        options = generate_authentication_options(
            rp_id=self._settings.webauthn_rp_id,
            challenge=challenge.challenge,
            timeout=_TIMEOUT_MS,
            allow_credentials=_descriptors(allowed),
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return CeremonyOptions(challenge_id, _options_json(options))

    def login(
        self,
        *,
        challenge_id: str,
        credential: dict[str, Any],
        issuer: str,
        own_origin: str,
        user_agent: str = "",
    ) -> IssuedTokens:
        challenge = self._live_challenge(challenge_id, "authentication", None)
        try:
            passkey, owner = self._credential_owner(challenge, credential)
            verified = self._verify_assertion(challenge, credential, passkey, own_origin)
        except InvalidGrant:
            self._store.discard_challenge(challenge)
            raise
        now = self._clock()
        guards = [
            self._store.consume_guard(challenge, now=now),
            self._store.sign_count_guard(
                passkey,
                new_count=verified.new_sign_count,
                backup_state=verified.credential_backed_up,
                now=now,
            ),
            self._store.enabled_guard(owner, passkey.credential_id),
        ]
        try:
            return open_session(
                self._settings,
                self._issuer,
                self._sessions,
                Principal(owner.user_id, owner.username, owner.scope, PASSKEY, now),
                issuer=issuer,
                now=now,
                user_agent=user_agent,
                guards=guards,
            )
        except InvalidGrant:
            # A guard failed: the challenge was spent by a twin, the counter moved, or
            # the account was disabled meanwhile.
            raise InvalidGrant(LOGIN_REFUSED) from None

    def _credential_owner(
        self, challenge: Challenge, credential: dict[str, Any]
    ) -> tuple[Passkey, Owner]:
        """The passkey the credential id names and its account. Usernameless sign-in
        (§7.2 step 6) trusts the stored owner of the credential id, and then requires the
        user handle, when the authenticator returns one, to be that owner's id."""
        try:
            credential_id = b64.decode(str(credential.get("rawId", "")))
        except Malformed:
            raise InvalidGrant(LOGIN_REFUSED) from None
        passkey = self._store.get(credential_id) if credential_id else None
        if passkey is None:
            raise InvalidGrant(LOGIN_REFUSED)
        if challenge.username and challenge.username != passkey.username:
            raise InvalidGrant(LOGIN_REFUSED)
        handle = credential.get("response", {}).get("userHandle")
        if handle is not None:
            try:
                presented = b64.decode(handle) if isinstance(handle, str) else b""
            except Malformed:
                presented = b""
            if not hmac.compare_digest(presented, passkey.user_id.encode()):
                raise InvalidGrant(LOGIN_REFUSED)
        owner = self._store.owner(passkey.username)
        if (
            owner is None
            or owner.disabled
            or not hmac.compare_digest(owner.user_id, passkey.user_id)
            or passkey.credential_id not in owner.credential_ids
        ):
            raise InvalidGrant(LOGIN_REFUSED)
        return passkey, owner

    def _verify_assertion(
        self, challenge: Challenge, credential: dict[str, Any], passkey: Passkey, own_origin: str
    ) -> Any:
        def verify(stored_count: int) -> Any:
            return verify_authentication_response(
                credential=credential,
                expected_challenge=challenge.challenge,
                expected_rp_id=self._settings.webauthn_rp_id,
                expected_origin=self._origins(own_origin),
                credential_public_key=passkey.public_key,
                credential_current_sign_count=stored_count,
                require_user_verification=True,
            )

        try:
            return verify(passkey.sign_count)
        except _HOSTILE:
            self._report_regression(credential, passkey, verify)
            raise InvalidGrant(LOGIN_REFUSED) from None

    def _report_regression(
        self, credential: dict[str, Any], passkey: Passkey, verify: Callable[[int], Any]
    ) -> None:
        """A signature counter that did not move forward (§6.1.1) is the mark of a cloned
        authenticator: the assertion is refused, and, if it is otherwise genuine (its
        signature verifies with the counter check left out), reported. A forged
        assertion with a low counter is only a refusal: anyone may send one."""
        try:
            raw = b64.decode(str(credential.get("response", {}).get("authenticatorData", "")))
            presented = parse_authenticator_data(raw).sign_count
        except (*_HOSTILE, Malformed):
            return
        stored = passkey.sign_count
        if not ((presented > 0 or stored > 0) and presented <= stored):
            return
        try:
            verify(0)
        except _HOSTILE:
            return
        self._on_security_event(
            "passkey_sign_count_regressed",
            {
                "sub": passkey.user_id,
                "credential": b64.encode(passkey.credential_id)[:16],
                "stored_count": stored,
                "presented_count": presented,
            },
        )
