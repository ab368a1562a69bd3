"""Typed configuration of the mini-program API.

The composition root builds these from settings; nothing here reads settings itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MpApiConfig:
    session_ttl_s: int = 604800  # how long a login's bearer token is good for
    max_body_bytes: int = 16384  # larger JSON bodies are refused unread (413)
