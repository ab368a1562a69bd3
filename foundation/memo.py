"""A small process-wide memo for results that are pure functions of their inputs and costly to compute
(a trained classifier, a KB's calibration): a process that builds the same thing again — a reload of an
unchanged file, another app in the same process — takes the earlier result instead."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """The last `kept` results by key, least recently used dropped first. Two threads asking for the same
    missing key may both compute it; both results are equal, so either may stay."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._results: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = compute()
        with self._lock:
            self._results[key] = result
            while len(self._results) > self._kept:
                self._results.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
