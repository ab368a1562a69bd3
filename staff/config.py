"""Typed configuration of the staff API; the composition root builds it from settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AdminConfig:
    api_key: str = field(default="", repr=False)  # empty: every /admin/ endpoint answers 503
