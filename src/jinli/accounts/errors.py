"""Errors of the accounts capability, with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class InvalidCredentials(JinliError):
    code = "invalid_credentials"
    kind = ErrorKind.UNAUTHENTICATED
    title = "Wrong e-mail or password"


class LoginThrottled(JinliError):
    code = "login_throttled"
    kind = ErrorKind.TOO_MANY
    title = "Too many failed logins; wait before trying again"


class PermissionDenied(JinliError):
    code = "permission_denied"
    kind = ErrorKind.FORBIDDEN
    title = "Your role does not allow this"


class WeakPassword(JinliError):
    code = "weak_password"
    kind = ErrorKind.INVALID
    title = "The password is too weak"


class EmailTaken(JinliError):
    code = "email_taken"
    kind = ErrorKind.CONFLICT
    title = "An operator with this e-mail already exists"


class OperatorNotFound(JinliError):
    code = "operator_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such operator"


class ApiKeyNotFound(JinliError):
    code = "api_key_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such API key"


class InvalidApiKey(JinliError):
    code = "invalid_api_key"
    kind = ErrorKind.UNAUTHENTICATED
    title = "Missing, unknown or revoked API key"


class SessionExpired(JinliError):
    code = "session_expired"
    kind = ErrorKind.UNAUTHENTICATED
    title = "Please log in again"


class CsrfRejected(JinliError):
    code = "csrf_rejected"
    kind = ErrorKind.FORBIDDEN
    title = "The form expired or did not come from this site; reload and try again"


class LastOwner(JinliError):
    code = "last_owner"
    kind = ErrorKind.CONFLICT
    title = "A brand must keep at least one active owner"
