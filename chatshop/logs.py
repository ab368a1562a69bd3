"""Logging set-up that keeps secrets out of every log line, ours and the libraries'."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Query parameters that carry credentials (WeChat puts them in URLs, which access logs print).
_SECRET_PARAMS = re.compile(r"(?i)\b(secret|access_token|js_code|session_key|encoding_aes_key)=([^&\s\"']+)")


class RedactSecrets(logging.Filter):
    """Masks credential query parameters and the configured secret values in any record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", message)
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    redact = RedactSecrets(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redact)
    handler.set_name("chatshop")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "chatshop"]:
        root.removeHandler(old)  # configuring twice must not print every line twice
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs full URLs (with secrets) at DEBUG; uvicorn's loggers bring their own handlers.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: two lines a job every 30 s say nothing.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for uv_handler in logging.getLogger(name).handlers:
            uv_handler.addFilter(redact)
