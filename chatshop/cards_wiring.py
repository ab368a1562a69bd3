"""Product and card images, and the card thumbnails, from settings: where images live, how the app
serves them, and the resolver the dialogue sends its cards through."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.staticfiles import StaticFiles

from bot.cards.images import ImageLibrary
from bot.cards.resolver import CardResolver
from bot.cards.thumbnails import Thumbnails
from bot.models import Channel
from chatshop.settings import Settings
from storage.clock import utcnow
from wechat.client import WeChatClient

# The demo store's images ship with chatshop; a store's own live in media.images_dir.
DEMO_IMAGES = Path(__file__).resolve().parent / "demo" / "images"
DEMO_IMAGES_PATH = "/images/demo/"
IMAGES_PATH = "/images/"


def image_library(settings: Settings) -> ImageLibrary:
    media = settings.media
    return ImageLibrary({DEMO_IMAGES_PATH: DEMO_IMAGES, IMAGES_PATH: media.images_dir},
                        timeout_s=media.fetch_timeout_s, max_bytes=media.max_image_bytes)


def card_thumbnails(settings: Settings, factory: sessionmaker[Session], images: ImageLibrary) -> Thumbnails:
    media = settings.media
    # The sandbox lives in this process: a new one holds none of the media ids kept for the last.
    kept_since = utcnow() if settings.sandbox_enabled else None
    return Thumbnails(factory, images, ttl=timedelta(seconds=media.thumb_ttl_s),
                      renew_before=timedelta(seconds=media.thumb_renew_before_s), kept_since=kept_since)


def card_resolver(settings: Settings, thumbnails: Thumbnails, clients: Mapping[Channel, WeChatClient]) -> CardResolver:
    return CardResolver(thumbnails, clients, settings.miniprogram.app_id)


def serve_images(app: FastAPI, images: ImageLibrary) -> None:
    """Each image folder at its URL path (the longest first, so /images/demo/ is not taken for a
    file of /images/), for the mini-program to show what the catalog names."""
    for path, directory in images.folders:
        # The store's folder may not exist yet: made empty now, it serves what is put there later.
        directory.mkdir(parents=True, exist_ok=True)
        app.mount(path.rstrip("/"), StaticFiles(directory=directory), name=f"images:{path}")
