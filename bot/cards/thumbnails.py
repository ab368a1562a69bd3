"""Card thumbnails as WeChat media: uploaded once per image and account, reused until shortly before
WeChat forgets them.

WeChat keeps a temporary media id for three days. A card is composed now but may leave later (a
retry, the outbox sweeper after a restart), so an id is renewed `renew_before` ahead of its expiry
rather than at the last moment.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session, sessionmaker

from bot.cards.errors import ThumbnailUnavailable
from bot.cards.images import ImageLibrary
from bot.cards.models import CardThumbnail
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import dialect_insert
from wechat.client import WeChatClient
from wechat.errors import WeChatApiError
from wechat.media import MediaType

log = logging.getLogger(__name__)

MEDIA_TTL = timedelta(days=3)  # how long WeChat keeps a temporary media id
THUMBNAILS = cast(Table, CardThumbnail.__table__)


class Thumbnails:
    def __init__(
        self,
        factory: sessionmaker[Session],
        images: ImageLibrary,
        *,
        ttl: timedelta = MEDIA_TTL,
        renew_before: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = utcnow,
        kept_since: datetime | None = None,
    ) -> None:
        """`kept_since`: ids uploaded before it are void (the WeChat that holds them started afresh, as
        the sandbox does with each process that serves it)."""
        self._factory = factory
        self._kept_since = kept_since
        self._images = images
        self._ttl = ttl
        self._renew_before = renew_before
        self._clock = clock

    def media_id(self, client: WeChatClient, image: str) -> str:
        """The account's media id for the image's thumbnail, uploaded now if it has none that lasts.

        Raises ImageUnavailable (the image cannot be read) or ThumbnailUnavailable (WeChat refused it)."""
        key = _image_key(image, self._images.version(image))
        now = self._clock()
        kept = self._kept(client.app_id, key, now)
        if kept is not None:
            return kept
        picture = self._images.read_thumbnail(image)
        try:
            media_id = client.media.upload(MediaType.THUMB, picture.name, picture.data)
        except WeChatApiError as exc:
            raise ThumbnailUnavailable(f"uploading {image} to {client.app_id}: {exc.message}",
                                       wechat_errcode=exc.errcode) from None
        self._keep(client.app_id, key, image, media_id, now)
        log.info("uploaded the thumbnail of %s to %s", image, client.app_id)
        return media_id

    def forget(self, app_id: str, media_id: str) -> None:
        """WeChat no longer knows this id (40007 on a card): the next card uploads the image again."""
        with transaction(self._factory) as session:
            session.execute(delete(CardThumbnail).where(CardThumbnail.app_id == app_id,
                                                        CardThumbnail.media_id == media_id))
        log.warning("WeChat refused the thumbnail %s of %s; it will be uploaded again", media_id, app_id)

    def _kept(self, app_id: str, key: str, now: datetime) -> str | None:
        with self._factory() as session:
            row = session.get(CardThumbnail, (app_id, key))
            if row is None or row.expires_at - self._renew_before <= now:
                return None
            if self._kept_since is not None and row.uploaded_at < self._kept_since:
                return None
            return row.media_id

    def _keep(self, app_id: str, key: str, image: str, media_id: str, now: datetime) -> None:
        values = {"app_id": app_id, "image_key": key, "image": image, "media_id": media_id, "uploaded_at": now,
                  "expires_at": now + self._ttl}
        with transaction(self._factory) as session:
            # Two customers' turns may upload the same image at once: the later upload wins, both work.
            upsert = dialect_insert(session, THUMBNAILS).values(values)
            session.execute(upsert.on_conflict_do_update(
                index_elements=["app_id", "image_key"],
                set_={name: upsert.excluded[name] for name in ("image", "media_id", "uploaded_at", "expires_at")},
            ))
            # Ids WeChat has forgotten (an image changed or left the catalog) are of no more use.
            session.execute(delete(CardThumbnail).where(CardThumbnail.app_id == app_id,
                                                        CardThumbnail.expires_at < now))


def _image_key(image: str, version: str) -> str:
    return hashlib.sha256(f"{image}\n{version}".encode()).hexdigest()
