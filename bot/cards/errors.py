"""Refusals of the cards package: an image that cannot be read, a thumbnail WeChat did not take."""

from __future__ import annotations

from bot.errors import BotError


class CardError(BotError):
    """A card cannot be sent as a card; the bot answers with its text instead."""

    code = "CARD_ERROR"


class ImageUnavailable(CardError):
    """The card's image cannot be read: no such file or URL, too large, not a JPEG, or too slow."""

    code = "IMAGE_UNAVAILABLE"

    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f"image {image}: {reason}", image=image)
        self.image, self.reason = image, reason


class ThumbnailUnavailable(CardError):
    """WeChat refused the thumbnail's upload, or could not be reached."""

    code = "THUMBNAIL_UNAVAILABLE"
