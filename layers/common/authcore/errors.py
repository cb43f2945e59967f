"""One exception tree for every refusal the service can give.

Each error carries the OAuth-style ``error`` code of the contract; the web layer
maps classes to HTTP statuses in one table (``authcore.edge.http``).
"""

from __future__ import annotations


class AuthError(Exception):
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


class InvalidGrant(AuthError):
    """Wrong credentials or an unusable refresh token: one answer for all of them,
    so a client learns nothing about which part was wrong."""

    code = "invalid_grant"


class InvalidToken(AuthError):
    """An access token that failed verification (reason kept for logs and metrics)."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__("The access token is invalid.")
        self.reason = reason


class Forbidden(AuthError):
    code = "forbidden"


class NotFound(AuthError):
    code = "not_found"


class AccountLocked(AuthError):
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; try again later.")
        self.retry_after = retry_after


class TemporarilyUnavailable(AuthError):
    """A dependency (DynamoDB, KMS, the key store) failed; nothing was half-written."""

    code = "temporarily_unavailable"

    def __init__(self, description: str = "The service is temporarily unavailable.") -> None:
        super().__init__(description)
        self.retry_after = 1
