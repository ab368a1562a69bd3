"""The knowledge base a service runs on: loaded from its file and reloaded when the file changes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from intents.errors import KnowledgeBaseError
from intents.kb import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_SUGGEST_THRESHOLD,
    ImageCheck,
    KnowledgeBase,
    load_knowledge_base,
)
from intents.matcher import FaqMatcher
from intents.text import Tokeniser, shared_tokeniser

logger = logging.getLogger(__name__)

_CHECK_INTERVAL_SECONDS = 1.0

Signature = tuple[int, int, int]


@dataclass(frozen=True)
class KbStatus:
    """What an operator (the back office's pages) is told about the running KB."""

    path: Path
    faqs: int  # entries of the KB in force, disabled ones included
    loaded_at: float  # wall clock of the last good load
    loaded: Signature | None  # the file (inode, mtime, size) that load read
    last_error: str | None  # why the last reload failed (the last good KB stays in force); None once one succeeds
    failed: Signature | None  # the file that failed


class KnowledgeBaseSource:
    """Holds the KB loaded from a path and reloads it when the file changes (inode, mtime and
    size checked at most once a second), so staff edits and `chatshop kb import` take effect
    without a restart. A broken edit keeps the last good KB and logs the error.

    The constructor raises KnowledgeBaseError if the file cannot be loaded at all: there is
    no last good KB to fall back to. The tokeniser (with the catalog's product names as user
    words) is built once and kept across reloads. With ``background`` (the default) a changed
    file is loaded and indexed on a thread of its own while messages keep being matched against
    the previous KB, so the customer whose message noticed the change does not wait seconds for
    a large KB to be indexed. ``clock`` exists so tests can advance time. With ``check_image`` an
    edit whose card names an image that cannot be used is refused like any broken edit.
    """

    def __init__(
        self,
        path: Path,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float | None = None,
        *,
        user_words: Iterable[str] = (),
        tokeniser: Tokeniser | None = None,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
        check_image: ImageCheck | None = None,
    ) -> None:
        self._path = path
        self._answer_threshold = answer_threshold
        if suggest_threshold is None:
            suggest_threshold = min(DEFAULT_SUGGEST_THRESHOLD, answer_threshold)
        self._suggest_threshold = suggest_threshold
        self._tokeniser = tokeniser or shared_tokeniser(user_words)
        self._clock = clock
        self._background = background
        self._check_image = check_image
        self._reloading = False  # a background reload is running
        self._lock = threading.Lock()
        # Stat before reading so an edit landing mid-load is still seen as a change later.
        self._signature = file_signature(path)
        kb = load_knowledge_base(path, check_image=check_image)
        # KB and matcher are swapped together as one tuple so readers never see a mixed pair.
        self._current = (kb, self._build_matcher(kb))
        self._next_check = clock() + _CHECK_INTERVAL_SECONDS
        self._loaded: tuple[float, Signature | None] = (time.time(), self._signature)
        self._failed: tuple[str, Signature] | None = None

    @property
    def tokeniser(self) -> Tokeniser:
        return self._tokeniser

    def knowledge_base(self) -> KnowledgeBase:
        self._reload_if_changed()
        return self._current[0]

    def matcher(self) -> FaqMatcher:
        self._reload_if_changed()
        return self._current[1]

    @property
    def check_image(self) -> ImageCheck | None:
        """How card images are checked: an edit made elsewhere (the back office) is refused alike."""
        return self._check_image

    def status(self) -> KbStatus:
        """The KB in force and the outcome of the last reload (looks at the file first, as a message would)."""
        self._reload_if_changed()
        loaded_at, loaded = self._loaded
        failed = self._failed
        return KbStatus(path=self._path, faqs=len(self._current[0].faqs), loaded_at=loaded_at, loaded=loaded,
                        last_error=failed[0] if failed else None, failed=failed[1] if failed else None)

    def _build_matcher(self, kb: KnowledgeBase) -> FaqMatcher:
        return FaqMatcher.shared(
            kb, self._tokeniser, answer_threshold=self._answer_threshold, suggest_threshold=self._suggest_threshold
        )

    def _reload_if_changed(self) -> None:
        if self._clock() < self._next_check:
            return
        with self._lock:
            now = self._clock()
            if now < self._next_check:  # another thread checked while we waited
                return
            self._next_check = now + _CHECK_INTERVAL_SECONDS
            if self._reloading:  # the check after it finishes sees any newer edit
                return
            signature = file_signature(self._path)
            if signature == self._signature:
                return
            # Remember the new signature even if loading fails, so a broken file is logged
            # once rather than every second until someone fixes it.
            self._signature = signature
            if not self._background:
                self._reload(signature)
                return
            self._reloading = True
        threading.Thread(target=self._reload_in_background, args=(signature,), name="kb-reload", daemon=True).start()

    def _reload_in_background(self, signature: Signature | None) -> None:
        try:
            self._reload(signature)
        except Exception:  # a thread's exception would vanish; keep serving the last good KB
            logger.exception("knowledge base %s not reloaded, keeping the last good one", self._path)
        finally:
            with self._lock:
                self._reloading = False

    def _reload(self, signature: Signature | None) -> None:
        if signature is None:
            logger.error("knowledge base %s disappeared; keeping the last good one", self._path)
            return
        try:
            kb = load_knowledge_base(self._path, check_image=self._check_image)
        except KnowledgeBaseError as exc:
            logger.error("knowledge base not reloaded, keeping the last good one: %s", exc)
            self._failed = (str(exc), signature)
            return
        self._current = (kb, self._build_matcher(kb))
        # Set after the swap, so whoever sees this signature loaded is matched against its KB.
        self._loaded, self._failed = (time.time(), signature), None
        logger.info("reloaded knowledge base %s (%d FAQs)", self._path, len(kb.faqs))


def file_signature(path: Path) -> Signature | None:
    """(inode, mtime in ns, size) of the file, or None if it cannot be stat'ed. The inode
    catches an atomic replace (`os.replace`) that lands within one timestamp tick."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
