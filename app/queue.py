"""Background jobs: through RQ when REDIS_URL is set, in-process otherwise."""

import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker
from rq.job import Job

log = logging.getLogger(__name__)


DEFAULT_QUEUE = "default"


def _run_in_app(app: Flask, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    with app.app_context():
        try:
            func(*args)
        except Exception:
            log.exception("in-process job %s failed", func.__name__)


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
        process, a job for later waits on a timer thread of this process; it dies
        with the process, and the next flush finds its row then.
        """
        if self.in_process:
            if at is not None:
                return self._run_later(func, args, at)
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

    def _run_later(
        self, func: Callable[..., Any], args: tuple[Any, ...], at: datetime
    ) -> bool:
        app = current_app._get_current_object()
        delay = math.ceil(max((at - datetime.now(UTC)).total_seconds(), 0.0))
        timer = threading.Timer(delay, _run_in_app, (app, func, args))
        timer.daemon = True
        timer.start()
        return True


class AppWorker(SimpleWorker):
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


def init_app(app: Flask) -> None:
    app.extensions["rq"] = JobQueue.from_app(app)


def enqueue(func: Callable[..., Any], *args: Any, **options: Any) -> bool:
    return current_app.extensions["rq"].enqueue(func, *args, **options)
