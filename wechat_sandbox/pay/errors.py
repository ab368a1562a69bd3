"""WeChat Pay's error answers: an HTTP status and {"code", "message"}."""

from __future__ import annotations

from typing import Any


class PayFail(Exception):
    """Raised anywhere in the gateway to answer with WeChat Pay's error JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def param_error(message: str) -> PayFail:
    return PayFail(400, "PARAM_ERROR", message)


def invalid_request(message: str) -> PayFail:
    return PayFail(400, "INVALID_REQUEST", message)


class ControlRefused(Exception):
    """A control call (the simulated customer) that WeChat Pay would not allow, e.g. paying a closed order."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
