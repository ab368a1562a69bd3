"""Subscribe messages: the mini-program's (message/subscribe/send) and the Official Account's (bizsend).

43101 means the customer gave no consent (or it was used); keeping the ledger of consents is the
caller's job, since WeChat offers no API to ask how many are left.
"""

from __future__ import annotations

from typing import Any

from .api_group import ApiGroup


class SubscribeApi(ApiGroup):
    def send(self, payload: dict[str, Any], *, mini_program: bool) -> None:
        endpoint = "message/subscribe/send" if mini_program else "message/subscribe/bizsend"
        self._post(endpoint, payload)
