"""One error type for the platform: every failure calling WeChat or WeChat Pay, and every refusal of
what they send us, is a `WeChatError` with a stable `code`, a `message` and machine-readable
`details()`. Calls to WeChat keep WeChat's own `errcode`; calls to WeChat Pay keep its `pay_code`.

Nothing here knows HTTP: the transports that receive pushes and notifications decide the status.
"""

from __future__ import annotations

from enum import StrEnum

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
        super().__init__(f"WeChat error {errcode}: {errmsg}", wechat_errcode=errcode)
        self.errcode, self.errmsg = errcode, errmsg


# ----- pushes to our webhook ---------------------------------------------------------------------


class PushRefusal(StrEnum):
    """Why a push was refused; the value labels it in logs and metrics."""

    BAD_SIGNATURE = "bad_signature"  # the signature does not verify with our token
    STALE_TIMESTAMP = "stale_timestamp"  # outside the allowed clock skew: a replay, or a skewed clock
    MALFORMED = "malformed"  # not a WeChat message we can read
    OVERSIZED = "oversized"  # over the configured size; not read
    PLAINTEXT_IN_SAFE_MODE = "plaintext_in_safe_mode"  # a plaintext push to an account in safe mode

    @property
    def forbidden(self) -> bool:
        """A forged or replayed push is refused outright; anything else still gets `success` (WeChat's rule)."""
        return self in (PushRefusal.BAD_SIGNATURE, PushRefusal.STALE_TIMESTAMP)


class PushRefused(WeChatError):
    """A push we will not act on."""

    code = "PUSH_REFUSED"

    def __init__(self, reason: PushRefusal, detail: str = "") -> None:
        super().__init__(detail or reason.value.replace("_", " "), reason=reason.value)
        self.reason = reason
        self.forbidden = reason.forbidden


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
        super().__init__(f"WeChat Pay answered HTTP {status} {pay_code}: {message}", pay_code=pay_code)
        self.status = status
        self.pay_code = pay_code  # WeChat Pay's own code (ORDER_NOT_EXIST, SYSTEM_ERROR, ...)
        self.pay_message = message

    @property
    def retryable(self) -> bool:
        return self.pay_code in self.RETRYABLE_CODES or self.status >= 500


class PayUnavailable(PayError):
    """No trustworthy answer (network error, timeout): the call's outcome is unknown."""

    code = "PAY_UNAVAILABLE"


class UnverifiedResponse(PayUnavailable):
    """A 2xx answer whose Wechatpay-Signature does not verify: treated as no answer at all."""

    code = "PAY_RESPONSE_UNVERIFIED"


class NotificationRefusal(StrEnum):
    """Why a WeChat Pay notification was refused; nothing was applied."""

    FORGED = "forged"  # bad or missing signature, unknown platform key serial, a resource that does not decrypt
    STALE = "stale"  # signed, but outside pay.max_clock_skew_s: a replay, or a badly skewed clock
    MALFORMED = "malformed"  # authentic bytes that do not hold the notification expected


class NotificationRefused(PayError):
    """A WeChat Pay notification was refused; nothing was applied."""

    def __init__(self, refusal: NotificationRefusal, detail: str) -> None:
        super().__init__(detail, refusal=refusal.value)
        self.refusal = refusal
        self.code = f"NOTIFICATION_{refusal.name}"  # NOTIFICATION_FORGED, _STALE, _MALFORMED
