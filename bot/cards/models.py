"""Tables of the cards package: thumbnails uploaded to WeChat, kept for reuse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime


class CardThumbnail(Base):
    """A card's thumbnail uploaded to one WeChat account as temporary media. WeChat forgets the media
    id after three days, and an id of the Official Account means nothing to the mini-program, so a
    row is per account and per version of the image, and is renewed before it expires."""

    __tablename__ = "card_thumbnails"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the account it was uploaded to
    image_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the image and its version
    image: Mapped[str] = mapped_column(Text)  # the image as the catalog or the KB names it
    media_id: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when WeChat forgets the media id
