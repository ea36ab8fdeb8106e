"""Background jobs: through RQ when REDIS_URL is set, in-process otherwise."""

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

log = logging.getLogger(__name__)


class JobQueue:
    def __init__(
        self, queue: Queue | None, retry_intervals: tuple[int, ...], timeout: int
    ):
        self.queue = queue
        self.retry_intervals = retry_intervals
        self.timeout = timeout

    @classmethod
    def from_app(cls, app: Flask) -> "JobQueue":
        url = app.config.get("REDIS_URL")
        queue = None
        if url:
            connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
            queue = Queue(app.config["RQ_QUEUES"][0], connection=connection)
        return cls(
            queue, tuple(app.config["JOB_RETRY_INTERVALS"]), app.config["JOB_TIMEOUT"]
        )

    def enqueue(self, func: Callable[..., Any], *args: Any, **options: Any) -> bool:
        """Run `func(*args)` in the background; False if it could not be handed over.

        Failing to reach Redis never fails the caller's request: the rows the job
        works on are already committed and stay queued for the next flush.
        """
        if self.queue is None:
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
        try:
            self.queue.enqueue(func, *args, **options)
        except RedisError:
            log.exception("could not enqueue %s: Redis unreachable", func.__name__)
            return False
        return True


def init_app(app: Flask) -> None:
    app.extensions["rq"] = JobQueue.from_app(app)


def enqueue(func: Callable[..., Any], *args: Any, **options: Any) -> bool:
    return current_app.extensions["rq"].enqueue(func, *args, **options)
