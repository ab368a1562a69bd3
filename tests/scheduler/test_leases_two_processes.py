"""Two `chatshop serve` processes on one database: each job's lease is held by one of them, and when the
holder is killed (SIGKILL: no shutdown, no release) the other holds every lease within a few ttl; when
that one stops cleanly it releases them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from scheduler.models import JobLease
from storage.clock import utcnow
from storage.db import open_engine
from tests.support import DEMO_KB, DEMO_TAG_RULES, free_port
from tests.support.sandbox_client import wait_until

ROOT = Path(__file__).resolve().parents[2]
TTL_S = 2.0
# Jobs every `chatshop serve` schedules with the test's settings (more may be added; they are leased alike).
SOME_JOBS = {"outbox_sweep", "forget_old_deliveries", "payment_windows", "expire_unpaid_orders", "reconcile_payments",
             "submit_refunds", "advance_orders", "tag_rules_of_orders", "sync_wechat_tags", "handoff_timeouts",
             "prune_console_events"}

Leases = dict[str, tuple[str | None, datetime]]  # job -> (holder, expires_at)


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = open_engine(empty_database)
    yield engine
    engine.dispose()


@pytest.fixture
def processes(empty_database: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two `chatshop serve` processes on the test database with a 2 s lease ttl, both answering."""
    started: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for index in range(2):
            port = free_port()
            environ = {
                **os.environ,
                "CHATSHOP__DATABASE__URL": empty_database,
                "CHATSHOP__KB__PATH": str(DEMO_KB),
                "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
                "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / f"sandbox-credentials-{index}.json"),
                "CHATSHOP__SCHEDULER__LEASE_TTL_S": str(TTL_S),
                "CHATSHOP__LOGGING__LEVEL": "WARNING",
            }
            started.append(subprocess.Popen([sys.executable, "-m", "chatshop.cli", "serve", "--port", str(port)],
                                            cwd=ROOT, env=environ, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}")
        for process, base in zip(started, bases, strict=True):
            assert wait_until(partial(_answers, base), bool, 60), f"{base} did not start"
            assert process.poll() is None
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=20)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def leases(engine: Engine) -> Leases:
    with engine.connect() as connection:
        rows = connection.execute(select(JobLease.name, JobLease.holder, JobLease.expires_at)).all()
    return {name: (holder, expires_at) for name, holder, expires_at in rows}


def pid_of(holder: str | None) -> int | None:
    return int(holder.split(":")[-2]) if holder else None


def all_held_by(pids: set[int]) -> Callable[[Leases], bool]:
    def check(seen: Leases) -> bool:
        now = utcnow()
        # A process's first beat inserts the rows of all its jobs in one transaction: none is seen missing.
        return set(seen) >= SOME_JOBS and all(pid_of(holder) in pids and expires_at > now
                                              for holder, expires_at in seen.values())
    return check


def test_each_job_runs_in_one_process_and_a_killed_holders_jobs_move_to_the_other(
    engine: Engine, processes: list[subprocess.Popen[bytes]],
) -> None:
    pids = {process.pid for process in processes}
    # Given two processes up: every job's lease is held, each by one of them (a row has one holder)
    seen = wait_until(lambda: leases(engine), all_held_by(pids), 5 * TTL_S)
    assert all_held_by(pids)(seen), seen
    holders = {holder for holder, _ in seen.values()}
    # When the process holding the first job's lease is killed outright
    victim = next(process for process in processes if process.pid == pid_of(seen["outbox_sweep"][0]))
    survivor = next(process for process in processes if process is not victim)
    victim.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait(timeout=10)
    # Then within a few ttl the other process holds every lease
    after = wait_until(lambda: leases(engine), all_held_by({survivor.pid}), 4 * TTL_S)
    took_over_s = time.monotonic() - killed_at
    assert all_held_by({survivor.pid})(after), after
    assert took_over_s <= TTL_S + 2 * (TTL_S / 3) + 1.0, took_over_s  # ttl, a beat, and slack for a busy machine
    print(f"\n{len(holders)} holder(s) before; every lease with the survivor {took_over_s:.2f} s after SIGKILL")
    # When the survivor stops cleanly, it releases what it holds, for whichever process comes next
    survivor.send_signal(signal.SIGTERM)
    survivor.wait(timeout=20)  # uvicorn exits by the signal again once it has shut down
    assert {holder for holder, _ in leases(engine).values()} == {None}
