"""One exception tree for everything the core raises, rooted at ``AuthcoreError``
(as PyJWT roots its own at ``PyJWTError``): a caller can catch the core's
failures apart from a bug's ``TypeError`` or a library's own exception.

- ``AuthError``: a refusal the client may see. Each carries the OAuth-style
  ``error`` code of the contract; the web layer maps classes to HTTP statuses in
  one table (``authcore.edge.responses``).
- ``ConfigError``: the deployment is wrong (a variable missing or invalid).
- ``Malformed``: data the core cannot parse (JSON, base64url, a JWK, a stored item).
- ``WriteConflict``: a conditional write found another state than it expected
  (the signals of the stores: a user exists, a counter is locked, a rotation lost).
- ``Unknown``: no such user or key (an administrator's typo, not a client's refusal).
- ``KeySourceError``: the authorizer's key source could not be read.

Where callers catch a built-in class, the core's class keeps it as a second base
(``ConfigError`` is a ``RuntimeError``, ``Malformed`` a ``ValueError``, ``Unknown``
a ``LookupError``). Standard library only: the authorizer imports this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authcore.accounts.lockout import Failures
    from authcore.sessions.model import Session


class AuthcoreError(Exception):
    """Root of everything the core raises on purpose."""


# ---------------------------------------------------------------- refusals
class AuthError(AuthcoreError):
    """Root of every expected refusal; the message is safe to show a client."""

    code = "invalid_request"

    def __init__(self, description: str = "The request was refused.") -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(AuthError):
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    pass


class UnsupportedMediaType(InvalidRequest):
    pass


class MethodNotAllowed(InvalidRequest):
    def __init__(self, description: str = "Method not allowed.", *, allow: str = "POST") -> None:
        super().__init__(description)
        self.allow = allow


class IssuerNotConfigured(AuthError):
    """REST APIs must name the issuer: their domain is not the token issuer's."""


class WeakPassword(InvalidRequest):
    """A new password outside the policy (NIST SP 800-63B §5.1.1.2)."""

    code = "weak_password"


class InvalidGrant(AuthError):
    """Wrong credentials or an unusable refresh token: one answer for all of them,
    so a client learns nothing about which part was wrong."""

    code = "invalid_grant"


class MfaRequired(AuthError):
    """Contract §8: the right password of an account with a second factor. The
    answer carries a single-use ``mfa_token`` for ``POST /auth/login/mfa``; a wrong
    password answers ``InvalidGrant`` exactly as for any other account."""

    code = "mfa_required"

    def __init__(self, mfa_token: str, methods: tuple[str, ...]) -> None:
        super().__init__("A second factor is required.")
        self.mfa_token = mfa_token
        self.methods = methods


class InsufficientUserAuthentication(AuthError):
    """RFC 9470: the token is valid, but its login is too old, or lacks a second
    factor, for this action; the client logs in again (with the second factor)."""

    code = "insufficient_user_authentication"

    def __init__(self, description: str, *, max_age: int) -> None:
        super().__init__(description)
        self.max_age = max_age


class InvalidClient(AuthError):
    """RFC 6749 §5.2: client authentication failed (unknown client, wrong secret,
    a bad assertion): one answer for all, 401 with ``WWW-Authenticate: Basic``."""

    code = "invalid_client"

    def __init__(self, description: str = "Client authentication failed.") -> None:
        super().__init__(description)


class InvalidScope(InvalidRequest):
    """RFC 6749 §5.2: a scope the client may not have."""

    code = "invalid_scope"


class UnsupportedGrantType(InvalidRequest):
    code = "unsupported_grant_type"


class UnsupportedTokenType(InvalidRequest):
    """RFC 7009 §2.2.1: a token of a type this server cannot revoke."""

    code = "unsupported_token_type"


class InvalidToken(AuthError):
    """An access token that failed verification (reason kept for logs and metrics)."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__("The access token is invalid.")
        self.reason = reason


class KeysUnconfirmed(InvalidToken):
    """The ring could not be re-confirmed for twice its reload interval: it may
    still hold a revoked key, so nothing it holds is trusted (fail closed). Stops
    a thief who keeps a stolen key alive by making the key source fail."""

    def __init__(self) -> None:
        super().__init__("keys_unconfirmed")


class Forbidden(AuthError):
    code = "forbidden"


class RevocationFeedStale(InvalidToken):
    """The revocation feed has not been read for longer than its bound: a session
    revoked since may be among those this container does not know, so no token
    that names a session is trusted (fail closed, contract §10)."""

    def __init__(self) -> None:
        super().__init__("revocation_feed_stale")


class NoUserSession(Forbidden):
    """A machine client's token (no ``sid``) on a route that acts on a user's session:
    there is no session to check, list or end (contract §9: 403)."""

    reason = "no_session"

    def __init__(self) -> None:
        super().__init__("This route acts on a user's session: a client's token cannot use it.")


class InsufficientScope(Forbidden):
    """RFC 6750 §3.1: a valid access token without every scope the route requires (403)."""

    code = "insufficient_scope"
    reason = "insufficient_scope"

    def __init__(self) -> None:
        super().__init__("The access token lacks a scope this route requires.")


class EmailNotVerified(Forbidden):
    """The right password for an account whose address is not confirmed yet
    (sign-up with SIGNUP_REQUIRE_VERIFIED_EMAIL)."""

    code = "email_not_verified"

    def __init__(self) -> None:
        super().__init__("Confirm your email address first: follow the link in the mail.")


class NotFound(AuthError):
    code = "not_found"


class AccountLocked(AuthError):
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; try again later.")
        self.retry_after = retry_after


class QuotaExceeded(AuthError):
    """A machine client asked for more tokens than its hourly quota allows."""

    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Token quota exceeded: cache tokens until shortly before expires_in.")
        self.retry_after = retry_after


class TemporarilyUnavailable(AuthError):
    """A dependency (DynamoDB, KMS, the key store) failed; nothing was half-written."""

    code = "temporarily_unavailable"

    def __init__(self, description: str = "The service is temporarily unavailable.") -> None:
        super().__init__(description)
        self.retry_after = 1


# What a logged cause may contain (an AWS error code, a class name): checked without
# a regular expression, which the stateless authorizer would compile for nothing.
_SAFE_CAUSE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


class SessionCheckUnavailable(TemporarilyUnavailable):
    """The session could not be read: the request is refused, never let through
    unchecked. ``cause`` is an AWS error code or an exception class name, safe to log."""

    def __init__(self, cause: str) -> None:
        super().__init__()
        self.cause = cause if 0 < len(cause) <= 64 and _SAFE_CAUSE.issuperset(cause) else "error"


# ---------------------------------------------------------------- deployment
class ConfigError(AuthcoreError, RuntimeError):
    """The configuration is missing or invalid; the message names variables, never
    a secret's value."""


# ---------------------------------------------------------------- data
class Malformed(AuthcoreError, ValueError):
    """Data the core cannot parse."""


class StrictJSONError(Malformed):
    """Not a JSON object, or one that lenient parsers would read differently."""


class InvalidKey(Malformed):
    """A JWK (or a key item) the core will not use."""


class InvalidKeySet(InvalidKey, TypeError):
    """A JWKS without a ``keys`` array."""


class UnusableKey(AuthcoreError, TypeError):
    """Key material of an unexpected type (KMS or a stored private JWK)."""


class RecordDeclarationError(AuthcoreError, TypeError):
    """A record declared as ``dataclasses`` would refuse it (``authcore.records``)."""


class FrozenInstanceError(AuthcoreError, AttributeError):
    """An assignment to a frozen record's field (``dataclasses.FrozenInstanceError``)."""


# ---------------------------------------------------------------- the stores' signals
class WriteConflict(AuthcoreError):
    """A conditional write found another state than it expected."""


class UserExists(WriteConflict):
    """``taken``: which unique keys of the new account belong to someone already
    (``"username"``, ``"email"``)."""

    def __init__(self, taken: frozenset[str] = frozenset({"username"})) -> None:
        super().__init__("user exists")
        self.taken = taken


class MailBudgetSpent(WriteConflict):
    """The account already received as many mails of this kind as an hour allows."""


class CounterLocked(WriteConflict):
    """The counter was locked when the attempt was to be counted: refuse it
    without looking at the password. ``failures`` is the stored state."""

    def __init__(self, failures: Failures) -> None:
        super().__init__("locked")
        self.failures = failures


class RotationRefused(WriteConflict):
    """The conditional write failed; ``session`` is the stored state (or None)."""

    def __init__(self, session: Session | None) -> None:
        super().__init__("rotation refused")
        self.session = session


class Unknown(AuthcoreError, LookupError):
    """No such record (an administrator's request, not a client's)."""


class UnknownUser(Unknown):
    pass


class UnknownKey(Unknown):
    pass


# ---------------------------------------------------------------- key sources
class KeySourceError(AuthcoreError):
    """The keys could not be read (the class name is all that is logged)."""


class KeySourceRefused(KeySourceError, ValueError):
    """A key source the authorizer must not read from, or an answer it must not
    take: not https, compressed, too large."""


# ---------------------------------------------------------------- HTTP (authcore.transport)
class UnsafeRequest(AuthcoreError, ValueError):
    """A request line or header that could split the request (a CR, LF or NUL; a name
    that is not a token): never sent."""


class BadResponse(AuthcoreError, OSError):
    """An answer that is not well-formed HTTP/1.1 of the subset ``authcore.transport``
    reads, or that ended before its end; the connection is closed."""


class RemoteClosed(AuthcoreError, ConnectionResetError):
    """The far end closed the connection before any byte of an answer: typically a
    kept-alive connection it dropped while idle, which a request raced."""
