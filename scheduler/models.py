"""The scheduler's one table: a lease per job, naming the process that may run it until `expires_at`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime


class JobLease(Base):
    """Who runs a job. A row is free when `holder` is empty or `expires_at` has passed; its holder renews
    it well before then, so a row past its expiry belongs to a process that died or lost the database."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # the job's name (runner.Job.name)
    holder: Mapped[str | None] = mapped_column(String(160), nullable=True)  # host:pid:random; None: released
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # when this holder took it
    # What operators ask first ("is the sweep running anywhere?"); written with the next renewal, not per run.
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_result: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "3 done", "failed: ..."
