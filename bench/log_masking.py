"""The log filter's cost per line (chatshop.logs.RedactSecrets), which runs on every line the service logs.

For each kind of line: the CPU microseconds `filter()` takes on a fresh record (the message formatted, masked,
and the record rewritten when something was masked), the median of --rounds rounds of --lines lines. CPU
time, not wall-clock: on a shared machine waiting for a core is not the filter's cost.
`secrets only` is the filter as it was before it masked personal data (credential parameters and the
configured secrets), for comparison.

    .venv/bin/python bench/log_masking.py [--lines 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatshop.logs import RedactSecrets

SECRETS = ["s3cr3t-app-secret-value", "tokenvalue123", "apiv3-key-0123456789abcdef0123456", "staff-api-key"]
LINES: dict[str, tuple[str, tuple[object, ...]]] = {
    "ours, nothing to mask": ("message %s to customer %s waits for message %s", (1234, 56, 1230)),
    "access log, nothing to mask": ('%s - "%s %s HTTP/%s" %d',
                                    ("127.0.0.1:51234", "GET", "/mp/products?limit=20&offset=0", "1.1", 200)),
    "access log, WeChat push (openid)": (
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:51234", "POST", "/wechat?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504"
         "&nonce=1514711492&openid=oLVPpjqs9BhvzwPj5A-vTYAX3GLc&encrypt_type=aes&msg_signature="
         "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1.1", 200)),
    "Chinese chat with address and phone": (
        "skipped %r", ("我的地址是广东省广州市天河区体育西路100号8楼，电话 138-0013-8000，麻烦尽快发货",)),
    "2,000 Chinese characters, nothing to mask": ("text %s", ("这个市场价多少型号是什么颜色" * 143,)),
}

_OLD_PARAMS = re.compile(r"(?i)\b(secret|access_token|js_code|session_key|encoding_aes_key)=([^&\s\"']+)")


class SecretsOnly(logging.Filter):
    """The filter before personal data was masked."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _OLD_PARAMS.sub(lambda m: f"{m.group(1)}=***", message)
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def per_line_us(log_filter: logging.Filter, msg: str, args: tuple[object, ...], lines: int, rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        records = [logging.LogRecord("bench", logging.INFO, __file__, 1, msg, args, None) for _ in range(lines)]
        started = time.process_time()
        for record in records:
            log_filter.filter(record)
        timings.append((time.process_time() - started) / lines * 1e6)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    filters = {"secrets only": SecretsOnly(SECRETS), "RedactSecrets": RedactSecrets(SECRETS)}
    print("| line | " + " | ".join(f"{name} (µs CPU)" for name in filters) + " |")
    print("| --- |" + " ---: |" * len(filters))
    for kind, (msg, args) in LINES.items():
        lines = options.lines if len(msg) + sum(len(str(a)) for a in args) < 1000 else options.lines // 20
        cells = [f"{per_line_us(f, msg, args, lines, options.rounds):.1f}" for f in filters.values()]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
