"""One error type for the platform: every failure calling WeChat or WeChat Pay, and every refusal of
what they send us, is a `WeChatError` with a stable `code`, a `message` and machine-readable
`details()`. Calls to WeChat keep WeChat's own `errcode`; calls to WeChat Pay keep its `pay_code`.

Nothing here knows HTTP: the transports that receive pushes and notifications decide the status.
"""

from __future__ import annotations

from foundation.errors import ChatshopError

# Our own errcodes for transport failures, which WeChat never sends:
TRANSPORT_ERRCODE = -2  # the request never left (connection refused or not established): safe to resend
IN_DOUBT_ERRCODE = -3  # the request may have reached WeChat (timeout mid-call, HTTP error): do not resend


class WeChatError(ChatshopError):
    """WeChat or WeChat Pay failed, or refused what we sent, or sent us something we refuse."""

    code = "WECHAT_ERROR"


class WeChatApiError(WeChatError):
    """WeChat (or the sandbox) answered with a non-zero errcode, or could not be reached."""

    code = "WECHAT_API_ERROR"

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    def details(self) -> dict[str, object]:
        return {"wechat_errcode": self.errcode}


# ----- pushes to our webhook ---------------------------------------------------------------------


class PushRefused(WeChatError):
    """A push we will not act on; `reason` labels it in logs and metrics."""

    code = "PUSH_REFUSED"
    reason = "refused"
    # A forged or replayed push is refused outright; anything else still gets `success` (WeChat's rule).
    forbidden = False


class BadSignature(PushRefused):
    """The push's signature does not verify with our token."""

    reason = "bad_signature"
    forbidden = True


class StaleTimestamp(PushRefused):
    """The push's timestamp is outside the allowed clock skew (a replay, or a badly skewed clock)."""

    reason = "stale_timestamp"
    forbidden = True


class MalformedPush(PushRefused):
    """The push is not a WeChat message we can read."""

    reason = "malformed"


class OversizedBody(PushRefused):
    """The push's body is over the configured limit; it was not read."""

    reason = "oversized"


class PlaintextRefused(PushRefused):
    """A plaintext push reached an account in safe mode."""

    reason = "plaintext_in_safe_mode"


# ----- WeChat Pay --------------------------------------------------------------------------------


class PayError(WeChatError):
    """Base of every WeChat Pay error."""

    code = "PAY_ERROR"


class InvalidPayRequest(PayError, ValueError):
    """Refused before calling WeChat Pay: the request breaks one of its documented rules."""

    code = "INVALID_PAY_REQUEST"


class PayApiError(PayError):
    """WeChat Pay answered with its error JSON {"code", "message"} (or a non-JSON error page)."""

    code = "PAY_API_ERROR"
    # Codes WeChat Pay documents as "try again later, with the same parameters".
    RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "BANKERROR"})

    def __init__(self, status: int, pay_code: str, message: str) -> None:
        super().__init__(f"WeChat Pay answered HTTP {status} {pay_code}: {message}")
        self.status = status
        self.pay_code = pay_code  # WeChat Pay's own code (ORDER_NOT_EXIST, SYSTEM_ERROR, ...)
        self.pay_message = message

    @property
    def retryable(self) -> bool:
        return self.pay_code in self.RETRYABLE_CODES or self.status >= 500

    def details(self) -> dict[str, object]:
        return {"pay_code": self.pay_code}


class PayUnavailable(PayError):
    """No trustworthy answer (network error, timeout): the call's outcome is unknown."""

    code = "PAY_UNAVAILABLE"


class UnverifiedResponse(PayUnavailable):
    """A 2xx answer whose Wechatpay-Signature does not verify: treated as no answer at all."""

    code = "PAY_RESPONSE_UNVERIFIED"


class NotificationError(PayError):
    """A notification was refused; nothing was applied."""

    code = "NOTIFICATION_REFUSED"


class ForgedNotification(NotificationError):
    """Missing or bad signature, unknown platform key serial, or a resource that does not decrypt."""

    code = "NOTIFICATION_FORGED"


class StaleNotification(NotificationError):
    """Signed, but its timestamp is outside pay.max_clock_skew_s (a replay, or a badly skewed clock)."""

    code = "NOTIFICATION_STALE"


class MalformedNotification(NotificationError):
    """Authentic bytes that do not hold the notification expected (bad JSON, wrong event, missing field)."""

    code = "NOTIFICATION_MALFORMED"
