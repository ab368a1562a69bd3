"""An Official Account's user tags, with WeChat's limits and error codes.

Not locked on its own: SandboxState holds its lock around every call.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from .config import SandboxRules
from .errors import WeChatError

FIRST_TAG_ID = 100
RESERVED_TAG_IDS = frozenset({0, 1, 2})  # 0/1 default groups, 2 = 星标组
MAX_NAME_BYTES = 30
PAGE_SIZE = 10000


class TagBook:
    def __init__(self, rules: SandboxRules) -> None:
        self._rules = rules
        self._names: dict[int, str] = {}
        # tag id -> openids in tagging order (a dict keeps insertion order, like WeChat's listing).
        self._members: dict[int, dict[str, None]] = {}
        self._next_id = FIRST_TAG_ID

    def _check_name(self, name: Any, except_id: int | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise WeChatError(45157, "tag name is empty")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise WeChatError(45158)
        if any(n == name and i != except_id for i, n in self._names.items()):
            raise WeChatError(45157, "tag name already exists")
        return name

    def _existing(self, tag_id: Any, modifying: bool) -> int:
        if not isinstance(tag_id, int) or isinstance(tag_id, bool):
            raise WeChatError(45159)
        if modifying and tag_id in RESERVED_TAG_IDS:
            raise WeChatError(45058)
        if tag_id not in self._names:
            raise WeChatError(45159)
        return tag_id

    def create(self, name: Any) -> dict[str, Any]:
        checked = self._check_name(name)
        if len(self._names) >= self._rules.max_tags:
            raise WeChatError(45056)
        tag_id = self._next_id
        self._next_id += 1
        self._names[tag_id] = checked
        self._members[tag_id] = {}
        return {"id": tag_id, "name": checked}

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"id": tag_id, "name": name, "count": len(self._members[tag_id])} for tag_id, name in self._names.items()
        ]

    def update(self, tag_id: Any, name: Any) -> None:
        existing = self._existing(tag_id, modifying=True)
        self._names[existing] = self._check_name(name, except_id=existing)

    def delete(self, tag_id: Any) -> None:
        existing = self._existing(tag_id, modifying=True)
        del self._names[existing]
        del self._members[existing]

    def _check_batch(self, openids: Any, known: Container[str]) -> list[str]:
        if not isinstance(openids, list) or not openids:
            raise WeChatError(40032)
        if len(openids) > self._rules.batch_tagging_max:
            raise WeChatError(40032)
        for openid in openids:
            if not isinstance(openid, str) or openid not in known:
                raise WeChatError(40003, f"{openid!r}")
        return list(dict.fromkeys(openids))

    def tag(self, openids: Any, tag_id: Any, known: Container[str]) -> None:
        batch = self._check_batch(openids, known)
        existing = self._existing(tag_id, modifying=False)
        members = self._members[existing]
        # All or nothing: refuse the whole batch if any one user would pass the per-user limit.
        for openid in batch:
            if openid not in members and len(self.tags_of(openid)) >= self._rules.max_tags_per_user:
                raise WeChatError(45059, f"openid {openid}")
        for openid in batch:
            members[openid] = None

    def untag(self, openids: Any, tag_id: Any, known: Container[str]) -> None:
        batch = self._check_batch(openids, known)
        members = self._members[self._existing(tag_id, modifying=False)]
        for openid in batch:
            members.pop(openid, None)

    def tags_of(self, openid: str) -> list[int]:
        return [tag_id for tag_id, members in self._members.items() if openid in members]

    def members_page(self, tag_id: Any, next_openid: Any) -> dict[str, Any]:
        """user/tag/get: up to PAGE_SIZE openids after next_openid; "" next_openid when done."""
        openids: Sequence[str] = list(self._members[self._existing(tag_id, modifying=False)])
        if next_openid:
            if next_openid not in openids:
                raise WeChatError(40003, "next_openid is not in this tag")
            openids = openids[openids.index(next_openid) + 1 :]
        page = list(openids[:PAGE_SIZE])
        return {"count": len(page), "data": {"openid": page}, "next_openid": page[-1] if page else ""}
