"""chatshop's push endpoint driven in-process: CPU per request by thread, without HTTP or a second process.

The app is built as `chatshop serve` builds it (safe mode, the demo KB, SQLite in a temporary directory
unless --database-url says otherwise) and called as an ASGI app by N concurrent customers sending the
bench's questions (bench/pushes.py), every push built before the timed part. It prints the CPU each of
the server's threads spent per request (/proc): the writer, the event loop and the bot's workers are
told apart exactly, which is what a change to one of them is measured by (the event loop's figure
includes this driver's few lines per call). Replies of the warm-up are
decrypted and checked.

    .venv/bin/python bench/webhook_threads.py [--requests 3000] [--customers 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pushes import Account, Push, PushFactory, verify_reply

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests (3000)")
    parser.add_argument("--customers", type=int, default=100, help="concurrent customers (100)")
    parser.add_argument("--database-url", help="chatshop's database (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    account = Account.generate()
    with tempfile.TemporaryDirectory(prefix="chatshop-threads-") as tmp:
        app = build_app(account, Path(tmp), args.database_url)
        factory = PushFactory(account, "127.0.0.1", 80)
        coroutine = drive(app, factory, account, args.customers, args.requests)
        try:
            import uvloop  # the event loop `chatshop serve` runs on (uvicorn[standard])
        except ModuleNotFoundError:
            return asyncio.run(coroutine)
        return uvloop.run(coroutine)


def build_app(account: Account, tmp: Path, database_url: str | None) -> Any:
    os.environ.update({
        "CHATSHOP__DATABASE__URL": database_url or f"sqlite:///{tmp / 'bench.db'}",
        "CHATSHOP__KB__PATH": str(REPO / "chatshop" / "demo" / "kb.yaml"), "CHATSHOP__WECHAT__SANDBOX": "on",
        "CHATSHOP__LOGGING__LEVEL": "WARNING", "CHATSHOP__WECHAT__APP_ID": account.app_id,
        "CHATSHOP__WECHAT__TOKEN": account.token, "CHATSHOP__WECHAT__ENCODING_AES_KEY": account.aes_key,
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp / "sandbox-credentials.json"),
    })  # fmt: skip
    from chatshop.app import create_app
    from chatshop.cli import _db_upgrade, configure_service_logging
    from chatshop.settings import load_settings

    settings = load_settings(REPO / "config.yaml")
    configure_service_logging(settings)
    _db_upgrade(settings, argparse.Namespace())
    return create_app(settings)


async def drive(app: Any, factory: PushFactory, account: Account, customers: int, requests: int) -> int:
    openids = [f"oBench{i:022d}" for i in range(customers)]
    async with app.router.lifespan_context(app):
        warm = await asyncio.gather(*(send_all(app, [factory.build(o) for _ in range(5)]) for o in openids))
        crypto = account.crypto()
        wrong = [problem for replies in warm for push, status, body in replies
                 if (problem := f"HTTP {status}" if status != 200 else verify_reply(crypto, push, body, echo=False))]
        if wrong:
            print(f"wrong replies in the warm-up: {wrong[:5]}", file=sys.stderr)
            return 2
        queues = [[factory.build(o) for _ in range(requests // customers)] for o in openids]
        before, started = thread_cpu(), time.perf_counter()
        await asyncio.gather(*(send_all(app, queue) for queue in queues))
        wall, after = time.perf_counter() - started, thread_cpu()
    done = sum(len(queue) for queue in queues)
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    print(f"{done} requests in {wall:.1f} s ({done / wall:.0f}/s); CPU per request by thread:")
    for name, cpu in sorted(spent.items(), key=lambda item: -item[1]):
        if cpu > 0:
            print(f"  {name:24s} {1000 * cpu / done:6.3f} ms")
    print(f"  {'total':24s} {1000 * sum(spent.values()) / done:6.3f} ms")
    return 0


async def send_all(app: Any, pushes: list[Push]) -> list[tuple[Push, int, bytes]]:
    return [(push, *await call(app, push)) for push in pushes]


async def call(app: Any, push: Push) -> tuple[int, bytes]:
    """One push through the ASGI app, as uvicorn would hand it over."""
    head, _, body = push.request.partition(b"\r\n\r\n")
    request_line, *header_lines = head.split(b"\r\n")
    method, target, _ = request_line.split(b" ")
    path, _, query = target.partition(b"?")
    headers = [(name.strip().lower(), value.strip()) for name, _, value in (h.partition(b":") for h in header_lines)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.decode(),
             "scheme": "http", "path": path.decode(), "raw_path": path, "query_string": query, "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads by name (a pool's workers together), from /proc."""
    cpu: dict[str, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        name = thread.name.rstrip("0123456789_") or thread.name
        cpu[name] = cpu.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return cpu


if __name__ == "__main__":
    sys.exit(main())
