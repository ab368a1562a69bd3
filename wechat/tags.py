"""User tags of the Official Account (cgi-bin/tags/...).

WeChat's limits, which it enforces with its own errcodes: 100 tags per account (45056), names of at
most 30 bytes, at most 50 openids per batch call, at most 20 tags per user (45059).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from .api_group import ApiGroup

MAX_OPENIDS_PER_CALL = 50


@dataclass(frozen=True)
class WeChatTag:
    id: int
    name: str
    count: int = 0  # followers carrying it


class TagsApi(ApiGroup):
    def create(self, name: str) -> WeChatTag:
        tag: dict[str, Any] = self._call(lambda: self._client.tag.create(name))
        return WeChatTag(int(tag["id"]), str(tag["name"]))

    def all(self) -> list[WeChatTag]:
        answer: list[dict[str, Any]] = self._call(lambda: self._client.tag.get())
        return [WeChatTag(int(t["id"]), str(t["name"]), int(t.get("count", 0))) for t in answer]

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        for batch in _batches(openids):
            self._call(partial(self._client.tag.tag_user, tag_id, batch))

    def untag_users(self, tag_id: int, openids: list[str]) -> None:
        for batch in _batches(openids):
            self._call(partial(self._client.tag.untag_user, tag_id, batch))

    def tags_of_user(self, openid: str) -> list[int]:
        answer: list[int] = self._call(lambda: self._client.tag.get_user_tag(openid))
        return [int(tag_id) for tag_id in answer]


def _batches(openids: list[str]) -> list[list[str]]:
    return [openids[i : i + MAX_OPENIDS_PER_CALL] for i in range(0, len(openids), MAX_OPENIDS_PER_CALL)]
