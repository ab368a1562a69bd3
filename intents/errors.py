"""Error hierarchy of the intents package.

Every error carries a stable machine-readable ``code`` so callers (HTTP handlers, logs,
metrics) can branch on it without parsing the human-readable message.
"""

from __future__ import annotations

from foundation.errors import ChatshopError


class IntentsError(ChatshopError):
    """Base class for every error raised by the intents package."""

    code = "intents_error"


class KnowledgeBaseError(IntentsError):
    """The FAQ knowledge base file is missing or invalid."""

    code = "kb_invalid"
