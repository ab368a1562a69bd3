"""The BackgroundScheduler (APScheduler 3) that runs the jobs on intervals inside the service.

Every job is safe to run in several processes at once (the domain operations lock the rows they
change), so each worker may run its own scheduler; coalescing and max_instances=1 keep one
process from piling runs of a slow job on top of each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .config import SchedulerConfig
from .jobs import CommerceJobs

log = logging.getLogger(__name__)


class JobRunner:
    """Starts and stops the scheduler with the app; does nothing when disabled."""

    def __init__(self, jobs: CommerceJobs, config: SchedulerConfig) -> None:
        self.jobs = jobs
        self.config = config
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        if not self.config.enabled or self.scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        for name, job, interval_s in self.jobs.schedule():
            scheduler.add_job(_logged(name, job), IntervalTrigger(seconds=interval_s), id=name, name=name)
        scheduler.start()
        self.scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(name for name, _, _ in self.jobs.schedule()))

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()] if self.scheduler else []


def _logged(name: str, job: Callable[[], int]) -> Callable[[], None]:
    def run() -> None:
        try:
            done = job()
        except Exception:
            # One failed round must not stop the schedule; the next round retries.
            log.exception("job %s failed", name)
            return
        if done:
            log.info("job %s: %d done", name, done)

    return run
