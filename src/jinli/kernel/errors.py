"""One error taxonomy for every capability; the edges (API, CLI, H5) render it.

A ``JinliError`` carries a stable snake_case ``code`` (documented, never renamed), a short
``title`` and a user-facing ``detail``. Its ``kind`` decides the HTTP status and CLI exit code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    INVALID = "invalid"
    """The request itself is wrong (bad value, bad shape): HTTP 422, exit 2."""
    UNAUTHENTICATED = "unauthenticated"
    """No valid credentials: HTTP 401."""
    FORBIDDEN = "forbidden"
    """Authenticated but not allowed: HTTP 403."""
    NOT_FOUND = "not_found"
    """No such object for this brand (also used instead of 403 to avoid leaking existence)."""
    CONFLICT = "conflict"
    """The request is valid but the current state forbids it (illegal transition, no budget)."""
    TOO_MANY = "too_many"
    """Rate limited or throttled: HTTP 429."""
    UNAVAILABLE = "unavailable"
    """A dependency is down; retrying later may succeed: HTTP 503."""


class JinliError(Exception):
    """Base of every expected error. Subclasses set ``code``, ``kind`` and ``title``."""

    code: ClassVar[str] = "jinli_error"
    kind: ClassVar[ErrorKind] = ErrorKind.INVALID
    title: ClassVar[str] = "Request failed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class ValidationFailed(JinliError):
    code = "validation_failed"
    kind = ErrorKind.INVALID
    title = "The request is not valid"


class NotFound(JinliError):
    code = "not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such object"


class Forbidden(JinliError):
    code = "forbidden"
    kind = ErrorKind.FORBIDDEN
    title = "You are not allowed to do this"


class Unauthenticated(JinliError):
    code = "unauthenticated"
    kind = ErrorKind.UNAUTHENTICATED
    title = "Authentication required"


class Conflict(JinliError):
    code = "conflict"
    kind = ErrorKind.CONFLICT
    title = "The current state does not allow this"


class TooManyRequests(JinliError):
    code = "too_many_requests"
    kind = ErrorKind.TOO_MANY
    title = "Too many requests"


class Unavailable(JinliError):
    code = "unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "A dependency is unavailable"


def all_error_classes() -> list[type[JinliError]]:
    """Every ``JinliError`` subclass loaded so far (for docs and the architecture test)."""
    seen: list[type[JinliError]] = []
    stack: list[type[JinliError]] = [JinliError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
