"""Errors of the WeChat Pay side: calls to WeChat Pay and notifications from it.

Each has a stable `code`; `http_status` is the status a notification endpoint answers with
(WeChat Pay retries anything but 2xx, so every refusal here is a 4xx that changes nothing).
"""

from __future__ import annotations


class PayError(Exception):
    """Base of every WeChat Pay error."""

    code = "PAY_ERROR"
    http_status = 400


class InvalidPayRequest(PayError, ValueError):
    """Refused before calling WeChat Pay: the request breaks one of its documented rules."""

    code = "INVALID_PAY_REQUEST"


class PayApiError(PayError):
    """WeChat Pay answered with its error JSON {"code", "message"} (or a non-JSON error page)."""

    # Codes WeChat Pay documents as "try again later, with the same parameters".
    RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "BANKERROR"})

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"WeChat Pay answered HTTP {status} {code}: {message}")
        self.status = status
        self.code = code  # type: ignore[misc]  # WeChat Pay's own code, per instance
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.code in self.RETRYABLE_CODES or self.status >= 500


class PayUnavailable(PayError):
    """No trustworthy answer (network error, timeout): the call's outcome is unknown."""

    code = "PAY_UNAVAILABLE"
    http_status = 503


class UnverifiedResponse(PayUnavailable):
    """A 2xx answer whose Wechatpay-Signature does not verify: treated as no answer at all."""

    code = "PAY_RESPONSE_UNVERIFIED"


class NotificationError(PayError):
    """A notification was refused; nothing was applied."""

    code = "NOTIFICATION_REFUSED"


class ForgedNotification(NotificationError):
    """Missing or bad signature, unknown platform key serial, or a resource that does not decrypt."""

    code = "NOTIFICATION_FORGED"
    http_status = 401


class StaleNotification(NotificationError):
    """Signed, but its timestamp is outside pay.max_clock_skew_s (a replay, or a badly skewed clock)."""

    code = "NOTIFICATION_STALE"
    http_status = 400


class MalformedNotification(NotificationError):
    """Authentic bytes that do not hold the notification expected (bad JSON, wrong event, missing field)."""

    code = "NOTIFICATION_MALFORMED"
    http_status = 400
