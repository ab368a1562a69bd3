"""Product and card images: where an image named in the catalog or the KB is, and its bytes.

An image is named by an http(s) URL, fetched with a short timeout and a size limit, or by a path this
service serves its image folders at (`/images/...`), read from the folder. WeChat takes thumbnails
as JPEG files of at most 64 KB, so that is what a thumbnail must be.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from bot.cards.errors import ImageUnavailable

THUMB_MAX_BYTES = 64 * 1024  # WeChat's limit for a thumb upload (40012 above it)
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Image:
    name: str  # a file name for the upload
    data: bytes


class ImageLibrary:
    """Reads images named by URL or by a served path. `folders` maps URL paths to directories
    (`{"/images/demo/": ..., "/images/": ...}`); the longest path that fits a name wins."""

    def __init__(
        self,
        folders: Mapping[str, Path],
        *,
        timeout_s: float = 3.0,
        max_bytes: int = THUMB_MAX_BYTES,
        http: httpx.Client | None = None,
    ) -> None:
        self._folders = sorted(((_slashed(path), directory) for path, directory in folders.items()),
                               key=lambda item: -len(item[0]))
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._http = http  # made on the first fetch: most images are files, and a KB check fetches none
        self._http_lock = threading.Lock()

    @property
    def folders(self) -> list[tuple[str, Path]]:
        """(URL path, directory) pairs, the longest path first: what the app serves."""
        return list(self._folders)

    def problem(self, image: str) -> str | None:
        """Why a thumbnail cannot be made of this image, or None. A URL is only checked when fetched."""
        if _is_url(image):
            return None
        try:
            file = self.local_file(image)
            with file.open("rb") as handle:
                head = handle.read(len(JPEG_MAGIC))
            self._checked(image, head, size=file.stat().st_size)
        except ImageUnavailable as exc:
            return exc.reason
        except FileNotFoundError:
            return f"no file {file}"
        except OSError as exc:
            return f"{file} cannot be read ({exc.strerror})"
        return None

    def local_file(self, image: str) -> Path:
        """The file a served path names (it need not exist); ImageUnavailable for anything else."""
        if _is_url(image):
            raise ImageUnavailable(image, "is a URL, not a file of this service")
        path = PurePosixPath(unquote(urlsplit(image).path))
        for prefix, directory in self._folders:
            if str(path).startswith(prefix):
                relative = PurePosixPath(str(path).removeprefix(prefix))
                if ".." in relative.parts or not relative.parts:
                    break
                return directory.joinpath(*relative.parts)
        served = ", ".join(prefix for prefix, _ in self._folders)
        raise ImageUnavailable(image, f"must be an http(s) URL or a path under {served}")

    def version(self, image: str) -> str:
        """What changes when the image does (a file's time and size); "" for a URL."""
        if _is_url(image):
            return ""
        try:
            stat = self.local_file(image).stat()
        except OSError:
            raise ImageUnavailable(image, f"no file {self.local_file(image)}") from None
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def read_thumbnail(self, image: str) -> Image:
        """The image's bytes, checked to be a JPEG WeChat takes as a thumbnail."""
        data = self._fetch(image) if _is_url(image) else self._read_file(image)
        name = PurePosixPath(urlsplit(image).path).name or "thumb.jpg"
        return Image(name, self._checked(image, data))

    def _read_file(self, image: str) -> bytes:
        file = self.local_file(image)
        try:
            size = file.stat().st_size
            if size > self._max_bytes:  # not read: it could be any size
                self._checked(image, b"", size=size)
            return file.read_bytes()
        except FileNotFoundError:
            raise ImageUnavailable(image, f"no file {file}") from None
        except OSError as exc:
            raise ImageUnavailable(image, f"{file} cannot be read ({exc.strerror})") from None

    def _fetch(self, image: str) -> bytes:
        deadline = time.monotonic() + self._timeout_s  # httpx's timeout is per read: a slow drip could last
        try:
            with self._client().stream("GET", image, timeout=self._timeout_s) as response:
                if response.status_code != 200:
                    raise ImageUnavailable(image, f"answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max_bytes:
                    raise ImageUnavailable(image, f"is {declared} bytes, more than {self._max_bytes}")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > self._max_bytes:
                        raise ImageUnavailable(image, f"is larger than {self._max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise ImageUnavailable(image, f"took longer than {self._timeout_s} s")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise ImageUnavailable(image, f"could not be fetched ({type(exc).__name__})") from None

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout_s, follow_redirects=True)
            return self._http

    def _checked(self, image: str, data: bytes, *, size: int | None = None) -> bytes:
        size = len(data) if size is None else size
        if size > self._max_bytes:
            limit = f"more than {self._max_bytes} (WeChat's limit for a thumbnail)"
            raise ImageUnavailable(image, f"is {size} bytes, {limit}")
        if not data.startswith(JPEG_MAGIC):
            raise ImageUnavailable(image, "is not a JPEG file (WeChat takes JPEG thumbnails only)")
        return data


def _is_url(image: str) -> bool:
    return urlsplit(image).scheme in ("http", "https")


def _slashed(path: str) -> str:
    return "/" + path.strip("/") + "/"
