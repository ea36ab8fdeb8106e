"""Background jobs: through RQ when REDIS_URL is set, in-process otherwise."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

log = logging.getLogger(__name__)


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
        queue: str = "default",
        at: datetime | None = None,
        **options: Any,
    ) -> bool:
        """Run `func(*args)` in the background (at `at`); False if not handed over.

        Failing to reach Redis never fails the caller's request: the rows the job
        works on are already committed and stay queued for the next flush. In
        process, a job for later is left to that flush too.
        """
        if self.in_process:
            if at is not None:
                return False
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
        target = self.queues.get(queue) or next(iter(self.queues.values()))
        try:
            if at is None:
                target.enqueue(func, *args, **options)
            else:
                target.enqueue_at(at, func, *args, **options)
        except RedisError:
            log.exception("could not enqueue %s: Redis unreachable", func.__name__)
            return False
        return True


def init_app(app: Flask) -> None:
    app.extensions["rq"] = JobQueue.from_app(app)


def enqueue(func: Callable[..., Any], *args: Any, **options: Any) -> bool:
    return current_app.extensions["rq"].enqueue(func, *args, **options)
