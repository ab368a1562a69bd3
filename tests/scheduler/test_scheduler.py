"""The scheduler: the jobs are registered on APScheduler intervals from config, and each job runs
once on demand with a moved clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from commerce.orders import record_prepay
from scheduler.config import SchedulerConfig
from scheduler.jobs import CommerceJobs
from scheduler.runner import JobRunner
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.commerce import checkout, status_of, stock_of
from tests.support.pay import PaySandbox
from tests.support.pay_flow import prepay


def test_the_runner_schedules_every_job_on_its_interval(store: sessionmaker[Session]) -> None:
    config = SchedulerConfig(expire_interval_s=7, reconcile_interval_s=11)
    runner = JobRunner(CommerceJobs(factory=store, pay=None, config=config).schedule())
    runner.start()
    try:
        assert runner.scheduler is not None
        jobs = {job.id: job.trigger.interval for job in runner.scheduler.get_jobs()}  # type: ignore[attr-defined]
        assert jobs == {"expire_unpaid_orders": timedelta(seconds=7), "reconcile_payments": timedelta(seconds=11),
                        "submit_refunds": timedelta(seconds=60), "advance_orders": timedelta(seconds=3600)}
    finally:
        runner.stop()
    assert runner.job_ids() == []


def test_a_disabled_scheduler_schedules_no_commerce_job(store: sessionmaker[Session]) -> None:
    config = SchedulerConfig(enabled=False)
    runner = JobRunner(CommerceJobs(factory=store, pay=None, config=config).schedule())
    runner.start()
    assert runner.scheduler is None


def test_without_wechat_pay_only_never_prepaid_orders_expire(store: sessionmaker[Session]) -> None:
    # given two unpaid orders, one of them prepaid while WeChat Pay was still configured
    placed = utcnow()
    plain = checkout(store, "o_sched_nopay", {"lipstick-test-316": 1}, now=placed)
    prepaid = checkout(store, "o_sched_prepaid", {"dress-test-red-L": 1}, now=placed)
    with transaction(store) as session:
        record_prepay(session, order_no=prepaid, prepay_id="wx23103000abcdef")
    # when the jobs run a day later with no WeChat Pay client
    jobs = CommerceJobs(factory=store, pay=None)
    later = placed + timedelta(days=1)
    assert (jobs.expire_orders(later), jobs.reconcile(later), jobs.submit_refunds(later)) == (1, 0, 0)
    # then the plain one gave its stock back; the prepaid one waits, as it could still be paid
    assert status_of(store, plain) == "cancelled" and stock_of(store, "lipstick-test-316") == 1
    assert status_of(store, prepaid) == "pending_payment"


def test_the_expiry_job_runs_once_with_a_moved_clock(store: sessionmaker[Session], pay_sandbox: PaySandbox) -> None:
    placed = utcnow()
    order_no = checkout(store, "o_sched", {"lipstick-test-316": 1}, now=placed)
    prepay(store, pay_sandbox, order_no, "o_sched")
    jobs = CommerceJobs(factory=store, pay=pay_sandbox.client(), clock=lambda: placed + timedelta(hours=1))
    assert jobs.expire_orders() == 1  # the job's own clock, moved an hour on
    assert status_of(store, order_no) == "cancelled" and stock_of(store, "lipstick-test-316") == 1


def test_the_served_app_runs_every_periodic_task_as_a_job_of_the_one_runner(server: LiveServer) -> None:
    # given the service as `chatshop serve` builds it
    runner: JobRunner = server.app.state.jobs
    # then the conversations' housekeeping, the commerce jobs, the tags', the handoff's timeouts and outreach
    # are all jobs of one scheduler, and so is the numbers' roll-up
    assert set(runner.job_ids()) == {"outbox_sweep", "forget_old_deliveries", "payment_windows",
                                     "expire_unpaid_orders", "reconcile_payments", "submit_refunds", "advance_orders",
                                     "tag_rules_of_orders", "sync_wechat_tags", "handoff_timeouts",
                                     "prune_console_events", "order_notices", "subscribe_sweep",
                                     "expiring_order_notices", "cart_reminders", "campaigns", "analytics_rollup"}
    assert runner.scheduler is not None
    intervals = {job.id: job.trigger.interval for job in runner.scheduler.get_jobs()}  # type: ignore[attr-defined]
    poll = timedelta(seconds=server.settings.messenger.outbox_poll_s)
    assert intervals["outbox_sweep"] == intervals["forget_old_deliveries"] == poll


def test_with_the_commerce_jobs_disabled_the_outbox_sweep_still_runs(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory({"CHATSHOP__SCHEDULER__ENABLED": "false"})
    runner: JobRunner = server.app.state.jobs
    assert set(runner.job_ids()) == {"outbox_sweep", "forget_old_deliveries", "payment_windows",
                                     "tag_rules_of_orders", "handoff_timeouts", "prune_console_events"}
