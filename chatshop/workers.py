"""`chatshop serve --workers N`: N worker processes answering on one listening socket.

uvicorn's own supervisor runs them (uvicorn.supervisors.Multiprocess): the parent binds the socket and
migrates the database once, then starts each worker with the spawn method, passing the socket; every
worker builds its own app (engine, group-commit writer, scheduler with job leases, live feed) from an
app factory. The supervisor restarts a worker that dies or stops answering its health pings, stops when
a worker fails before it ever served (a broken setting would fail the same way on every restart), and on
SIGTERM or SIGINT sends SIGTERM to each worker, whose graceful shutdown then runs (chatshop/app.py), and
waits for them. SIGHUP replaces the workers one by one; SIGTTIN and SIGTTOU add and remove one.

Spawned rather than forked: a worker starts from a clean interpreter, so no thread, lock or database
connection of the parent's is copied into it half-used.

With the sandbox on, the parent serves it once, on a loopback port of its own, and the workers reach it
there (see chatshop/sandbox_proxy.py for why it cannot be one per worker).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from chatshop.sandbox_wiring import SANDBOX_GATEWAY_PATH, sandbox_config, with_sandbox_credentials
from chatshop.settings import Settings, SettingsError

log = logging.getLogger("chatshop")

SANDBOX_START_S = 30.0
PR_SET_PDEATHSIG = 1  # prctl(2)
# How long a worker may take to answer the supervisor's health ping before it is killed and replaced. A
# starting worker answers only once it has imported chatshop (the spawn method re-imports the command's
# module first): seconds on an idle machine, over ten on a busy 2-core one; uvicorn's 5 s default killed
# workers there before they ever served.
WORKER_HEALTHCHECK_S = 30


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse, in one line, what several processes cannot share."""
    url = settings.database.url
    if workers > 1 and url in ("sqlite://", "sqlite:///:memory:"):
        raise SettingsError("server.workers: an in-memory SQLite database is one per process; "
                            "use a SQLite file or PostgreSQL for --workers > 1")


def serve_workers(settings: Settings, listening: socket.socket, workers: int) -> int:
    """Run `workers` processes on `listening` until SIGTERM/SIGINT; 0 once they have all stopped."""
    sandbox = SandboxServer.start(settings) if settings.sandbox_enabled else None
    worker_settings = sandbox.settings if sandbox is not None else settings
    config = WorkerConfig(
        partial(worker_app, worker_settings, sandbox.url if sandbox is not None else None),
        factory=True, workers=workers, host=settings.server.host, port=settings.server.port,
        log_config=None, access_log=True, timeout_graceful_shutdown=settings.server.graceful_shutdown_s,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
    config.service_settings = worker_settings
    try:
        Multiprocess(config, sockets=[listening]).run()
    finally:
        if sandbox is not None:
            sandbox.stop()
    return 0


def worker_app(settings: Settings, sandbox_url: str | None) -> FastAPI:
    """The app factory each worker calls. A failure to build exits with uvicorn's STARTUP_FAILURE code, so the
    supervisor stops instead of restarting a worker that can only fail again."""
    from chatshop.app import create_app

    try:
        return create_app(settings, sandbox_url=sandbox_url)
    except Exception as exc:
        log.exception("worker could not start: %s", exc)
        sys.exit(STARTUP_FAILURE)


def exit_cleanly_after_shutdown() -> None:
    """uvicorn re-raises the stop signal once its graceful shutdown is done, so that the process ends "as the
    signal asked"; with the default handlers that is a death by SIGTERM (exit status 143). A no-op handler
    lets the process return and exit 0: it did stop cleanly. uvicorn installs its own handlers while it runs."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)


def _stopped(_signum: int, _frame: Any) -> None:
    return None


class WorkerConfig(uvicorn.Config):
    """uvicorn calls `configure_logging` first thing in each spawned worker, before its server runs: the one
    place to set up the worker's process (our logging with secrets masked, a clean exit after shutdown)."""

    service_settings: Settings | None = None  # set on the instance after construction, so unset in the parent

    def configure_logging(self) -> None:
        super().configure_logging()
        if self.service_settings is not None:
            from chatshop.logs import configure_service_logging

            configure_service_logging(self.service_settings)
            exit_cleanly_after_shutdown()
            _stop_with_supervisor()


def _stop_with_supervisor() -> None:
    """A supervisor killed outright (SIGKILL, OOM) cannot stop its workers, and they would keep the port
    answering with nobody to restart them: on Linux the kernel sends them SIGTERM, their graceful stop, instead."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor was gone before the line above: nobody is left to tell
        os.kill(os.getpid(), signal.SIGTERM)


class SandboxServer:
    """The WeChat sandbox, served once by the parent in a thread of its own, on a loopback port."""

    def __init__(self, settings: Settings, url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.settings, self.url, self._server, self._thread = settings, url, server, thread

    @classmethod
    def start(cls, settings: Settings) -> SandboxServer:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        # The credentials are generated here, once, before any worker could race to create them.
        direct = _pointed_at(settings, url)
        filled = with_sandbox_credentials(direct)
        app = _sandbox_app(filled)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        # Not the main thread: uvicorn leaves the signals to the supervisor.
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, name="sandbox", daemon=True)
        thread.start()
        deadline = time.monotonic() + SANDBOX_START_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SettingsError("the WeChat sandbox did not start; see the log above")
            time.sleep(0.02)
        log.info("WeChat sandbox served once for every worker at %s", url)
        return cls(filled, url, server, thread)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _pointed_at(settings: Settings, url: str) -> Settings:
    """The workers call the sandbox directly, not through /sandbox on whichever worker the port hands them."""
    wechat, pay = settings.wechat, settings.pay
    return settings.model_copy(update={
        "wechat": wechat if wechat.api_base_url else wechat.model_copy(update={"api_base_url": url + "/api/"}),
        "pay": pay if pay.api_base_url else pay.model_copy(
            update={"api_base_url": url + SANDBOX_GATEWAY_PATH.removeprefix("/sandbox")}),
    })


def _sandbox_app(settings: Settings) -> Any:
    from wechat_sandbox import create_sandbox_app

    return create_sandbox_app(sandbox_config(settings))
