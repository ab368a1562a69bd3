"""The staff package's refusals. `web.json_api` maps each code to an HTTP status (STAFF_STATUS); the
CLI prints code and message with exit status 1."""

from __future__ import annotations

from foundation.errors import ChatshopError
from web.errors import ApiError


class AdminDisabled(ApiError):
    code = "ADMIN_DISABLED"
    status = 503


class StaffError(ChatshopError):
    """A staff account operation was refused; nothing changed."""

    code = "STAFF_ERROR"


class NotSignedIn(StaffError):
    """No session cookie or personal token, or one that is unknown, expired, revoked or disabled."""

    code = "NOT_SIGNED_IN"


class BadCredentials(StaffError):
    """Wrong username or password (which of the two is not said)."""

    code = "BAD_CREDENTIALS"


class LoginThrottled(StaffError):
    """Too many failed logins; retry after `retry_after` seconds."""

    code = "LOGIN_THROTTLED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Forbidden(StaffError):
    """The signed-in staff member's role or groups do not allow this."""

    code = "FORBIDDEN"


class CsrfRefused(StaffError):
    """A write with a session cookie but without the X-CSRF-Token its login returned."""

    code = "CSRF_REFUSED"


class StaffNotFound(StaffError):
    """No staff account of that username."""

    code = "STAFF_NOT_FOUND"


class StaffExists(StaffError):
    """A staff account of that username exists already."""

    code = "STAFF_EXISTS"


class InvalidStaffInput(StaffError):
    """A value breaks a rule of staff accounts; `field` names it."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
