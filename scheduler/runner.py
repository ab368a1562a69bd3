"""The one job runner: a BackgroundScheduler (APScheduler 3) running every periodic task on its interval.

Every task is registered the same way, as a `Job`: a name, a function of no arguments that returns
how much it did, and an interval. Every `chatshop serve` process schedules the jobs, but with leases
(scheduler/leases.py) each job runs in one process at a time: a heartbeat thread takes and renews this
process's leases, a run happens only while its lease is held (a job held elsewhere skips its run here),
and a process that dies hands its jobs over within a lease's ttl (30 s by default); one that stops
cleanly releases them at once. The jobs stay safe if two runs ever overlap (a process that stalled past
its lease: the domain operations lock or claim the rows they change); the lease keeps them from doing
the same work N times over. Coalescing and max_instances=1 keep one process from piling runs of a slow
job on top of each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from storage.clock import utcnow

from .leases import JobLeases

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
    """Starts and stops the scheduler with the app; with no jobs it starts nothing.

    With `leases`, a job runs here only while this process holds its lease; without (one process, or a
    test of the schedule), every job runs here.
    """

    def __init__(self, jobs: Sequence[Job], *, leases: JobLeases | None = None) -> None:
        self.jobs = list(jobs)
        self.leases = leases
        self.scheduler: BackgroundScheduler | None = None
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if not self.jobs or self.scheduler is not None:
            return
        if self.leases is not None:
            # Its own thread, not a job of the scheduler: renewals must not wait behind slow runs in the pool.
            self._stopping.clear()
            self._heartbeat = threading.Thread(target=self._keep_leases, args=(self.leases,),
                                               name="job-leases", daemon=True)
            self._heartbeat.start()
        scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        for job in self.jobs:
            scheduler.add_job(_logged(job, self.leases), IntervalTrigger(seconds=job.interval_s),
                              id=job.name, name=job.name)
        scheduler.start()
        self.scheduler = scheduler
        holder = f" (leases as {self.leases.holder}, ttl {self.leases.ttl_s:g} s)" if self.leases else ""
        log.info("scheduler started: %s%s", ", ".join(job.name for job in self.jobs), holder)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # runs under way finish while the heartbeat still holds them
            self.scheduler = None
        if self._heartbeat is not None:
            self._stopping.set()
            self._heartbeat.join(timeout=60)
            self._heartbeat = None
            self._release()

    def job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()] if self.scheduler else []

    def _keep_leases(self, leases: JobLeases) -> None:
        names = [job.name for job in self.jobs]
        failing = False
        while True:
            try:
                leases.beat(names)
                if failing:
                    log.info("job leases renewed again")
                failing = False
            except Exception:
                # The runs here pause as their holds run out; another process may take the jobs meanwhile.
                if not failing:
                    log.exception("job leases could not be renewed; retrying every %.1f s", leases.heartbeat_s)
                failing = True
            if self._stopping.wait(leases.heartbeat_s):
                return

    def _release(self) -> None:
        assert self.leases is not None
        try:
            self.leases.release()
        except Exception:
            # They expire on their own within a ttl; another process takes them then.
            log.exception("job leases could not be released")


def _logged(job: Job, leases: JobLeases | None) -> Callable[[], None]:
    def run() -> None:
        if leases is not None and not leases.holds(job.name):
            return  # another process holds the lease (or this one lost it): the run happens there
        started = leases.now() if leases is not None else utcnow()
        try:
            done = job.run()
        except Exception as error:
            # One failed round must not stop the schedule (a database hiccup); the next round retries.
            log.exception("job %s failed", job.name)
            if leases is not None:
                leases.record_run(job.name, f"failed: {type(error).__name__}: {error}", at=started)
            return
        if leases is not None:
            leases.record_run(job.name, f"{done} done", at=started)
        if done and job.report:
            log.info("job %s: %d done", job.name, done)

    return run
