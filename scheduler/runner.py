"""The one job runner: a BackgroundScheduler (APScheduler 3) running every periodic task on its interval.

Every task is registered the same way, as a `Job`: a name, a function of no arguments that returns
how much it did, and an interval. Every job is safe to run in several processes at once (the domain
operations lock or claim the rows they change), so each worker may run its own scheduler; coalescing
and max_instances=1 keep one process from piling runs of a slow job on top of each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)
# APScheduler says "Running job ..." at INFO on every run (the outbox sweep runs every second) and "Added
# job ..." for each job at start; the runner logs its own one line instead.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], int]  # returns how many things it did (orders expired, messages sent, ...)
    interval_s: float
    report: bool = True  # log each run that did something (off for the every-second housekeeping)


class JobRunner:
    """Starts and stops the scheduler with the app; with no jobs it starts nothing."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        if not self.jobs or self.scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        for job in self.jobs:
            scheduler.add_job(_logged(job), IntervalTrigger(seconds=job.interval_s), id=job.name, name=job.name)
        scheduler.start()
        self.scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(job.name for job in self.jobs))

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()] if self.scheduler else []


def _logged(job: Job) -> Callable[[], None]:
    def run() -> None:
        try:
            done = job.run()
        except Exception:
            # One failed round must not stop the schedule (a database hiccup); the next round retries.
            log.exception("job %s failed", job.name)
            return
        if done and job.report:
            log.info("job %s: %d done", job.name, done)

    return run
