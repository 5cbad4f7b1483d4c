"""Domain errors raised by services and translated by the surfaces (web: messages; API: smorest)."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input was refused; ``errors`` maps each field to its messages."""

    status = 422

    def __init__(
        self, errors: dict[str, list[str]], message: str = "Please correct the errors below."
    ) -> None:
        super().__init__(message)
        self.errors = errors


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class PermissionDenied(DomainError):
    status = 403


class Throttled(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
