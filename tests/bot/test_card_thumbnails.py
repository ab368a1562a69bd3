"""Card thumbnails: images read from files or fetched over HTTP with a timeout and a size limit, uploaded to
each WeChat account (the sandbox) once, reused, and uploaded again shortly before WeChat forgets them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cards.errors import ImageUnavailable, ThumbnailUnavailable
from bot.cards.images import ImageLibrary
from bot.cards.thumbnails import Thumbnails
from bot.models import Channel
from chatshop.cards_wiring import DEMO_IMAGES, image_library
from storage.clock import utcnow
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer

DEMO_IMAGE = "/images/demo/size-guide.jpg"
JPEG = (DEMO_IMAGES / "size-guide.jpg").read_bytes()


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    (tmp_path / "images").mkdir()
    return server_factory({"CHATSHOP__MEDIA__IMAGES_DIR": str(tmp_path / "images")})


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def uploads(shop: LiveServer, account: str) -> list[str]:
    """The media ids WeChat gave for thumbnails uploaded to this account, in order."""
    calls = SandboxCustomer(shop, "o_nobody", account=account).calls("media/upload")
    return [call["response"]["media_id"] for call in calls if call["errcode"] == 0]


def test_a_thumbnail_is_uploaded_once_per_account_and_renewed_before_it_expires(shop: LiveServer) -> None:
    clock = Clock()
    thumbnails = Thumbnails(shop.services.factory, image_library(shop.settings), ttl=timedelta(days=3),
                            renew_before=timedelta(hours=6), clock=clock)
    oa, mp = shop.services.apis[Channel.OA], shop.services.apis[Channel.MP]
    # The first card uploads; later ones, while the id lasts, reuse it
    first = thumbnails.media_id(oa, DEMO_IMAGE)
    clock.now += timedelta(days=2, hours=17)
    assert thumbnails.media_id(oa, DEMO_IMAGE) == first
    assert uploads(shop, "oa") == [first]
    # The mini-program's account gets one of its own
    mp_first = thumbnails.media_id(mp, DEMO_IMAGE)
    assert uploads(shop, "mp") == [mp_first] and mp_first != first
    # Within six hours of WeChat forgetting it, the image is uploaded again
    clock.now += timedelta(hours=1, seconds=1)
    renewed = thumbnails.media_id(oa, DEMO_IMAGE)
    assert renewed != first and uploads(shop, "oa") == [first, renewed]


def test_an_image_changed_in_place_is_uploaded_again(shop: LiveServer) -> None:
    own = shop.settings.media.images_dir / "card.jpg"
    own.write_bytes(JPEG)
    thumbnails = Thumbnails(shop.services.factory, image_library(shop.settings))
    oa = shop.services.apis[Channel.OA]
    before = thumbnails.media_id(oa, "/images/card.jpg")
    own.write_bytes(JPEG + b"\0" * 10)  # a new version: another size and time
    after = thumbnails.media_id(oa, "/images/card.jpg")
    assert before != after and uploads(shop, "oa") == [before, after]


def test_a_refused_upload_is_an_error_and_is_not_kept(shop: LiveServer) -> None:
    thumbnails = Thumbnails(shop.services.factory, image_library(shop.settings))
    oa = shop.services.apis[Channel.OA]
    SandboxCustomer(shop, "o_nobody").inject_fault("media/upload", 45009, times=1)
    with pytest.raises(ThumbnailUnavailable) as refused:
        thumbnails.media_id(oa, DEMO_IMAGE)
    assert refused.value.details()["wechat_errcode"] == 45009
    assert thumbnails.media_id(oa, DEMO_IMAGE) == uploads(shop, "oa")[-1]


def test_an_image_is_fetched_by_url_within_its_size_limit(shop: LiveServer) -> None:
    folder = shop.settings.media.images_dir
    (folder / "big.jpg").write_bytes(JPEG[:3] + b"\0" * (64 * 1024))
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    images = image_library(shop.settings)
    assert images.read_thumbnail(f"{shop.base_url}/images/demo/size-guide.jpg").data == JPEG
    assert images.read_thumbnail(f"{shop.base_url}/images/demo/size-guide.jpg").name == "size-guide.jpg"
    with pytest.raises(ImageUnavailable, match="more than 65536"):
        images.read_thumbnail(f"{shop.base_url}/images/big.jpg")
    with pytest.raises(ImageUnavailable, match="not a JPEG"):
        images.read_thumbnail(f"{shop.base_url}/images/photo.png")
    with pytest.raises(ImageUnavailable, match="HTTP 404"):
        images.read_thumbnail(f"{shop.base_url}/images/none.jpg")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/thumb.jpg"


def test_a_url_that_does_not_answer_in_time_is_given_up(silent_server: str) -> None:
    images = ImageLibrary({"/images/": DEMO_IMAGES}, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ImageUnavailable, match="could not be fetched"):
        images.read_thumbnail(silent_server)
    assert time.monotonic() - started < 3


def test_a_local_image_must_be_a_small_jpeg_in_a_served_folder(tmp_path: Path) -> None:
    (tmp_path / "big.jpg").write_bytes(JPEG[:3] + b"\0" * (64 * 1024))
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    images = ImageLibrary({"/images/demo/": DEMO_IMAGES, "/images/": tmp_path})
    assert images.problem(DEMO_IMAGE) is None
    assert images.problem("https://img.example/any.jpg") is None  # a URL is checked when fetched
    assert images.problem("/images/missing.jpg") == f"no file {tmp_path / 'missing.jpg'}"
    assert "more than 65536" in str(images.problem("/images/big.jpg"))
    assert "not a JPEG" in str(images.problem("/images/photo.png"))
    assert "must be an http(s) URL or a path under /images/demo/, /images/" in str(images.problem("/etc/passwd"))
    assert images.problem("/images/../config.yaml") is not None
    assert images.local_file(DEMO_IMAGE) == DEMO_IMAGES / "size-guide.jpg"
