"""Background jobs: through RQ when REDIS_URL is set, in-process otherwise."""

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker, Worker
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.worker.base import BaseWorker

log = logging.getLogger(__name__)


DEFAULT_QUEUE = "default"
# Waits between tries to reach Redis again: 2, 4, 8 ... seconds, at most this.
REDIS_BACKOFF_MAX = 30.0


class JobQueue:
    def __init__(
        self,
        queues: dict[str, Queue] | None,
        retry_intervals: tuple[int, ...],
        timeout: int,
    ) -> None:
        self.queues = queues or {}
        self.retry_intervals = retry_intervals
        self.timeout = timeout

    @classmethod
    def from_app(cls, app: Flask) -> "JobQueue":
        url = app.config.get("REDIS_URL")
        queues = {}
        if url:
            connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
            queues = {
                name: Queue(name, connection=connection)
                for name in app.config["RQ_QUEUES"]
            }
        return cls(
            queues, tuple(app.config["JOB_RETRY_INTERVALS"]), app.config["JOB_TIMEOUT"]
        )

    scheduler: "InProcessScheduler | None" = None

    @property
    def in_process(self) -> bool:
        return not self.queues

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        queue: str = DEFAULT_QUEUE,
        at: datetime | None = None,
        **options: Any,
    ) -> bool:
        """Run `func(*args)` in the background (at `at`); False if not handed over.

        Failing to reach Redis never fails the caller's request: the rows the job
        works on are already committed and stay queued for the next flush. In
        process, a job for later is left to the process's scheduler, whose
        periodic flush finds its row once it is due (the row is what is kept).
        """
        if self.in_process:
            if self.scheduler is not None:
                self.scheduler.ensure_running()
            if at is not None:
                return True
            try:
                func(*args)
            except Exception:
                log.exception("in-process job %s failed", func.__name__)
                return False
            return True
        options.setdefault(
            "retry",
            Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals)),
        )
        options.setdefault("job_timeout", self.timeout)
        target = (
            self.queues.get(queue)
            or self.queues.get(DEFAULT_QUEUE)
            or next(iter(self.queues.values()))
        )
        try:
            if at is None:
                target.enqueue(func, *args, **options)
            else:
                # RQ keeps whole seconds: round up, or the job would find its row
                # not yet due and leave it to the flush.
                whole = at.replace(microsecond=0)
                later = whole if whole == at else whole + timedelta(seconds=1)
                target.enqueue_at(later, func, *args, **options)
        except RedisError:
            log.exception("could not enqueue %s: Redis unreachable", func.__name__)
            return False
        return True


class InProcessScheduler:
    """Without Redis: one daemon thread per process runs the periodic jobs.

    What RQ's scheduler and `flask cron` do with Redis: every `interval`
    seconds the outbox flush (retries whose time came, quiet-hour texts now
    due, texts whose job died) and the feature packages' periodic jobs
    (stalled recording fetches). Started on first use, not at import or in
    create_app; after a fork (gunicorn) the child starts its own. Several
    processes may flush at once: each send claims its row first.
    """

    def __init__(
        self, app: Flask, jobs: Callable[[], list[Callable[[], Any]]], interval: float
    ) -> None:
        self.app = app
        self.jobs = jobs
        self.interval = interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        self.runs = 0  # completed passes, for tests and logs

    def ensure_running(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._loop, name="ecoute-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def run_once(self) -> None:
        """One pass of every periodic job, each in its own app context."""
        for job in self.jobs():
            with self.app.app_context():
                try:
                    job()
                except Exception:
                    log.exception("periodic job %s failed", job.__name__)
        self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()


def _backing_off(what: str, attempt: int) -> float:
    delay = min(2.0 ** min(attempt, 5), REDIS_BACKOFF_MAX)
    log.error("%s: Redis unreachable; trying again in %.0f s", what, delay)
    return delay


class ResilientScheduler(RQScheduler):
    """RQ's scheduler (it moves due `enqueue_at` jobs and retries to their
    queues), but a Redis outage does not end it: it waits, with back-off, and
    takes its locks again when Redis is back. RQ's own dies on the first error
    and is restarted only by the worker's maintenance pass, minutes later."""

    def work(self) -> None:
        self._install_signal_handlers()
        failures = 0
        while not self._stop_requested:
            try:
                if failures:
                    self.acquire_locks()  # Redis may have lost them
                    failures = 0
                self.register_birth()
                while not self._stop_requested:
                    if self.should_reacquire_locks:
                        self.acquire_locks()
                    self.heartbeat()
                    self.enqueue_scheduled_jobs()
                    time.sleep(self.interval)
            except RedisError:
                failures += 1
                time.sleep(_backing_off("scheduler", failures))
        self.stop()


class SurvivesRedis(BaseWorker):
    """A worker whose scheduler survives Redis going away (see cli.worker for
    the worker's own loop)."""

    def _start_scheduler(self, burst: bool = False, *args: Any, **kwargs: Any) -> None:
        if burst:
            super()._start_scheduler(burst, *args, **kwargs)
            return
        self.scheduler = ResilientScheduler(
            self.queues, connection=self.connection, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        # Without the lock (another worker's scheduler has it) it is started by
        # the maintenance pass, should that one die.
        if self.scheduler.acquired_locks:
            self.scheduler.start()


class ForkingWorker(SurvivesRedis, Worker):
    """RQ's worker, a work horse forked per job (`flask worker --fork`)."""


class AppWorker(SurvivesRedis, SimpleWorker):
    """Runs each job in the worker's own process, in a fresh app context.

    No fork per job: the database pool and Twilio's client stay warm from one
    job to the next. The app context gives each job its own session, removed
    after it as a request's is, so a failed job leaves nothing to the next one.
    Time-outs still hold: the job runs in the main thread, where RQ's SIGALRM
    death penalty interrupts it.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        with current_app._get_current_object().app_context():
            super().execute_job(job, queue)


def _periodic_jobs(app: Flask) -> Callable[[], list[Callable[[], Any]]]:
    def jobs() -> list[Callable[[], Any]]:
        # Imported here: the outbox's module enqueues through this one.
        from app.services.followups import flush_outbox

        return [flush_outbox] + [
            job for job, _queue in app.extensions.get("periodic_jobs", [])
        ]

    return jobs


def init_app(app: Flask) -> None:
    queue = JobQueue.from_app(app)
    if queue.in_process:
        interval = app.config["SCHEDULER_INTERVAL_SECONDS"]
        if interval > 0:
            queue.scheduler = InProcessScheduler(app, _periodic_jobs(app), interval)
        # Lazily, on the first request of each process (and the first job).
        app.before_request(_start_scheduler)
    app.extensions["rq"] = queue


def _start_scheduler() -> None:
    scheduler = current_app.extensions["rq"].scheduler
    if scheduler is not None:
        scheduler.ensure_running()


def enqueue(func: Callable[..., Any], *args: Any, **options: Any) -> bool:
    return current_app.extensions["rq"].enqueue(func, *args, **options)
