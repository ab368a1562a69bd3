"""A file a running service reads once and again whenever it changes: the KB, tag rules, templates.

The file's (inode, mtime, size) is looked at no more than once a second, so an edit takes effect
within a second without a restart; a broken edit is logged once and the last good content kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
CHECK_INTERVAL_S = 1.0

Signature = tuple[int, int, int]


@dataclass(frozen=True)
class WatchStatus:
    """How a watched file stands, for operators: the content in force is the last good load's."""

    path: Path
    what: str
    loaded_at: float  # wall clock of the last good load (or of the start, while the file does not exist)
    last_error: str | None  # why the last change was not taken; None once a load succeeds
    exists: bool


def file_signature(path: Path) -> Signature | None:
    """(inode, mtime in ns, size), or None if the file cannot be stat'ed. The inode catches an
    atomic replace (`os.replace`) that lands within one timestamp tick."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class WatchedFile(Generic[T]):
    """`load(path)` of a file, reloaded when it changes. `load` raises `errors` for a file it cannot
    use; `empty` is the content while the file does not exist. ``clock`` lets tests move time."""

    def __init__(
        self, path: Path, *, load: Callable[[Path], T], empty: T, errors: type[Exception], what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path, self._load, self._errors, self._what, self._clock = path, load, errors, what, clock
        self._lock = threading.Lock()
        self._signature = file_signature(path)
        self._content = load(path) if self._signature is not None else empty
        self._next_check = clock() + CHECK_INTERVAL_S
        self.loaded_at = time.time()  # wall clock of the last good load, for operators
        self.last_error: str | None = None

    def status(self) -> WatchStatus:
        """Looks at the file first (as a reader would), then tells how it stands."""
        self.current()
        return WatchStatus(path=self._path, what=self._what, loaded_at=self.loaded_at, last_error=self.last_error,
                           exists=self._signature is not None)

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> T:
        if self._clock() >= self._next_check:
            self._reload_if_changed()
        return self._content

    def _reload_if_changed(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next_check:  # another thread looked while this one waited
                return
            self._next_check = now + CHECK_INTERVAL_S
            signature = file_signature(self._path)
            if signature == self._signature:
                return
            # Noted even when the load fails, so a broken file is logged once, not every second.
            self._signature = signature
            if signature is None:
                self.last_error = f"{self._path} disappeared; the last good {self._what} stay in force"
                logging.getLogger(__name__).error("%s %s disappeared; keeping the last good one", self._what,
                                                  self._path)
                return
            try:
                self._content = self._load(self._path)
            except self._errors as exc:
                self.last_error = str(exc)
                logging.getLogger(__name__).error("%s not reloaded, keeping the last good one: %s", self._what, exc)
                return
            self.loaded_at, self.last_error = time.time(), None
            logging.getLogger(__name__).info("reloaded %s %s", self._what, self._path)
