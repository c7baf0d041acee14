"""Exceptions carrying the API's error shape.

Every error response of the Docket API is
``{"error": {"status", "code", "message", "fields"?}}``; :func:`error_from_response`
turns one into the matching :class:`DocketError` subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .jobs import Job


class DocketError(Exception):
    """Base of every error the client raises."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "error", fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields: dict[str, Any] = fields or {}

    def __str__(self) -> str:
        head = f"{self.status} {self.code}: " if self.status else ""
        return head + self.message


class ValidationError(DocketError):
    """400: bad input; ``fields`` names each bad field (or import line)."""


class AuthenticationError(DocketError):
    """401: no token, a wrong or expired or revoked one (or wrong credentials at login)."""


class PermissionDenied(DocketError):
    """403: allowed to see it, not to do this (e.g. cancel someone else's job)."""


class NotFound(DocketError):
    """404: no such object, or no role in its project."""


class RateLimited(DocketError):
    """429: throttled; ``retry_after`` seconds (the client already retried)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(DocketError):
    """5xx."""


class TransportError(DocketError):
    """The server could not be reached (connection refused, timeout, ...)."""


class JobFailed(DocketError):
    """A job ended failed or cancelled; ``job`` is its last state."""

    def __init__(self, job: Job) -> None:
        reason = job.error or job.message or job.status
        super().__init__(f"job {job.id} ({job.kind}) {job.status}: {reason}", code=f"job_{job.status}")
        self.job = job


class ChecksumMismatch(DocketError):
    """A downloaded file's sha256 differs from the one the dataset lists (the file was removed)."""


_BY_STATUS: dict[int, type[DocketError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}


def error_from_response(response: httpx.Response) -> DocketError:
    """The exception for an error response, from its ``{"error": …}`` body when it has one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or response.reason_phrase)
        code = str(error.get("code") or "error")
        fields = error.get("fields") if isinstance(error.get("fields"), dict) else None
    else:
        message = f"{response.reason_phrase} ({response.request.method} {response.request.url})"
        code, fields = "error", None
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else DocketError)
    if cls is RateLimited:
        return RateLimited(message, status=status, code=code, fields=fields, retry_after=_retry_after(response))
    return cls(message, status=status, code=code, fields=fields)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
