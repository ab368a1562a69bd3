"""Followers of the Official Account (cgi-bin/user/info): whether they follow, and their unionid.

WeChat names the unionid only when the account is bound to the store's open platform account; it is
what joins a follower to the same person's mini-program openid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .api_group import ApiGroup


@dataclass(frozen=True)
class Follower:
    openid: str
    subscribed: bool
    unionid: str | None


class UsersApi(ApiGroup):
    def info(self, openid: str) -> Follower:
        answer: dict[str, Any] = self._call(lambda: self._client.user.get(openid))
        unionid = answer.get("unionid")
        known = unionid if isinstance(unionid, str) and unionid else None
        return Follower(openid, bool(answer.get("subscribe")), known)
