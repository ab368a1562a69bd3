"""The servers under test, as subprocesses that never outlive the benchmark.

Every server is stopped by its own process id: on normal exit and on exceptions (the context
manager), on Ctrl-C and SIGTERM/SIGHUP (turned into KeyboardInterrupt by the bench), at interpreter
exit (atexit), and, on Linux, even if the bench is killed outright (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

STOP_GRACE_S = 10.0
T = TypeVar("T")

_running: set[Server] = set()


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_path: str | None  # must answer 200 before the server counts as up


class ServerError(RuntimeError):
    """A server did not start or answer as expected; the message carries the end of its log."""


class Server:
    def __init__(self, spec: ServerSpec, port: int, log_path: Path) -> None:
        self.spec, self.port, self.log_path = spec, port, log_path
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # A session of its own: Ctrl-C reaches only the bench, which then stops the server itself
            # (gracefully, after the load generator's connections are closed).
            self._process = subprocess.Popen(
                self.spec.argv, env=self.spec.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        _running.add(self)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, url_check_path: str, echostr: str, timeout_s: float = 60.0) -> None:
        """Up means: the health check answers 200 and WeChat's URL check echoes, proving our token."""
        deadline = time.monotonic() + timeout_s
        if self.spec.health_path:
            self._poll(self.spec.health_path, lambda status, _: status == 200, deadline)
        self._poll(url_check_path, lambda status, body: status == 200 and body == echostr.encode(), deadline)

    def _poll(self, path: str, ready: Callable[[int, bytes], bool], deadline: float) -> None:
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"{self.spec.name} exited while starting:\n{self.log_tail()}")
            status, body = _get(f"http://127.0.0.1:{self.port}{path}")
            if ready(status, body):
                return
            last = f"HTTP {status} {body[:200]!r}"
            time.sleep(0.1)
        raise ServerError(f"{self.spec.name}: GET {path.split('?')[0]} never became ready ({last}):\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all threads (Linux /proc; 0 elsewhere)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self._process = self._process, None
        _running.discard(self)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _get(url: str) -> tuple[int, bytes]:
    # No proxies: an http_proxy in the environment must not carry requests meant for localhost.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel sends SIGTERM when the bench dies, however it dies.
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


@dataclass(frozen=True)
class Stopped:
    """A bench ended before its report: the exit status to return (130 interrupted, 2 failed)."""

    status: int


def run_measurements(work: Callable[[], T], *failures: type[Exception]) -> T | Stopped:
    """Run a bench's measurements with SIGTERM and SIGHUP taken as Ctrl-C, so every way out stops the
    servers; an interruption, a server that fails or one of `failures` is one line on stderr."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return work()
    except KeyboardInterrupt:
        print("interrupted; the servers are stopped", file=sys.stderr)
        return Stopped(130)
    except Exception as exc:
        if not isinstance(exc, (ServerError, *failures)):
            raise
        print(f"bench failed: {exc}", file=sys.stderr)
        return Stopped(2)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
