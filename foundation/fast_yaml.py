"""YAML read with libyaml's safe loader when PyYAML was built with it (about ten times faster on a KB of
thousands of phrasings or a large catalog), else the pure-Python one; both build the same data and the
same node marks."""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SAFE_LOADER)


def compose(text: str) -> Any:
    return yaml.compose(text, Loader=SAFE_LOADER)
