"""Temporary media (cgi-bin/media/upload): images and thumbnails the customer-service messages refer to.

A media id lasts three days on WeChat; the caller keeps it with its expiry and uploads again after.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .api_group import ApiGroup


class MediaType(StrEnum):
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    THUMB = "thumb"  # the thumbnail of a mini-program card or a music message


class MediaApi(ApiGroup):
    def upload(self, media_type: MediaType, filename: str, data: bytes) -> str:
        """Upload one file; its media_id."""
        # Bytes, not a file object: wechatpy resends the request after refreshing an expired token, and
        # a file object would be read to its end by then (WeChat answers 41005, media data missing).
        upload = (filename, data)
        answer: dict[str, Any] = self._call(lambda: self._client.media.upload(str(media_type), upload))
        return str(answer.get("thumb_media_id") or answer["media_id"])
