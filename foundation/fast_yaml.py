"""YAML read with libyaml's safe loader when PyYAML was built with it (about ten times faster on a KB of
thousands of phrasings or a large catalog), else the pure-Python one; both build the same data and the
same node marks."""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SAFE_LOADER)


def load_with_node(text: str) -> tuple[Any, Any]:
    """The data and its node tree (for line numbers) from one parse rather than two."""
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()
