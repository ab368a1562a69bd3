"""The baseline for bench/webhook.py: a bare werobot echo robot in WeChat's safe (AES) mode.

Run as `python bench/echo_app.py --port P` with BENCH_TOKEN, BENCH_AES_KEY and BENCH_APP_ID in the
environment. Every text message is answered with its own content, encrypted: the least work a werobot
service can do per push, so chatshop's figures can be read against it.

Served by uvicorn in one process, like `chatshop serve`: werobot's `robot.wsgi` is a Bottle WSGI app, so
it runs behind a WSGI-to-ASGI bridge whose thread pool plays the role of chatshop's executor. Both apps
then share the HTTP parser (httptools), event loop (uvloop) and process model, and the comparison
measures what each app does per request rather than which server it runs on. A standalone threaded
WSGI server (wsgiref, waitress) would differ in exactly those respects.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import uvicorn
import werobot


def build_robot(token: str, aes_key: str, app_id: str) -> werobot.WeRoBot:
    robot = werobot.WeRoBot(token=token, encoding_aes_key=aes_key, app_id=app_id)
    # `WeRoBot(session_storage=False)` does NOT turn sessions off (werobot 1.13 only stores truthy
    # values), and the default session store is a SQLite file written on every message: the baseline
    # would pay for a database write chatshop is being compared against. Only False in the config disables it.
    robot.config["SESSION_STORAGE"] = False
    if robot.session_storage is not None:
        raise RuntimeError("werobot session storage is still on")

    @robot.text
    def echo(message: Any) -> str:
        return str(message.content)

    return robot


def asgi_app(robot: werobot.WeRoBot) -> Any:
    # uvicorn's own WSGI bridge (deprecated, but a thread pool running the WSGI callable, as needed).
    # a2wsgi was measured too and served this robot at about half the rate here, so the faster bridge
    # is the baseline: chatshop is held to the harder comparison.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="uvicorn")
    from uvicorn.middleware.wsgi import WSGIMiddleware

    return WSGIMiddleware(robot.wsgi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    robot = build_robot(os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_APP_ID"])
    # Same server settings as `chatshop serve` (one process, uvloop + httptools), logging at WARNING like
    # the bench's chatshop, so access-log lines cost neither app anything.
    uvicorn.run(asgi_app(robot), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
