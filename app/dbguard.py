"""A webhook's database work has a deadline, even when PostgreSQL hangs.

Server-side timeouts (statement_timeout) cannot fire on a frozen server
(SIGSTOP, a stuck disk, a dead network path that still ACKs), and psycopg has no
client-side timeout for a query: the thread waits forever, Twilio gives up at
15 s and the caller hears "an application error". So each webhook request gets a
deadline (DATABASE_WEBHOOK_DEADLINE); a watchdog thread shuts down the socket of
every connection the request holds once the deadline passes. psycopg's blocked
wait then returns an OperationalError, the view's error path answers the apology
(or spools the callback), and the pool discards the broken connection.

Checked-out connections are also pinged here, under the same deadline, so the
first request after a database restart gets a fresh connection instead of the
apology (pool_pre_ping would ping before this module could watch the socket).
Only a connection that may be dead is pinged: one the server has written to
while it sat idle (a restart says goodbye, or closes the socket: seen without a
round trip) or one idle for long. A round trip per webhook would be CPU for nothing.
"""

import logging
import os
import select
import socket
import threading
import time

import psycopg
from flask import Flask, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app.webhooks import WEBHOOK_PREFIXES

log = logging.getLogger(__name__)

# A connection back in the pool less than this long ago, on which the server has
# said nothing since, worked then: no ping. Past it, a firewall may have dropped it.
PING_AFTER_IDLE_SECONDS = 30.0


class DeadlineExceeded(exc.TimeoutError):
    """The webhook's time for database work is over: no new connection, no ping.

    Not a DisconnectionError, which would make the pool try again.
    """


# The errors that mean "the database is unavailable", not "this request is bad".
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # no pooled connection came free within pool_timeout
    exc.DisconnectionError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def is_database_outage(error: BaseException) -> bool:
    """True for a database that is down, frozen or too slow; False for a bug."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class Watchdog:
    """Deadlines per thread, and the sockets of the connections each thread holds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._sockets: dict[int, set[int]] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0

    def begin(self, seconds: float) -> None:
        self._ensure_running()
        with self._lock:
            thread = threading.get_ident()
            self._deadlines[thread] = time.monotonic() + seconds

    def end(self) -> None:
        thread = threading.get_ident()
        with self._lock:
            self._deadlines.pop(thread, None)
            self._sockets.pop(thread, None)

    def remaining(self) -> float | None:
        """Seconds left to this thread's deadline; None outside a webhook."""
        with self._lock:
            deadline = self._deadlines.get(threading.get_ident())
        return None if deadline is None else deadline - time.monotonic()

    def watch(self, fd: int) -> bool:
        """Watch a socket for this thread; False when it has no deadline."""
        thread = threading.get_ident()
        with self._lock:
            if thread not in self._deadlines:
                return False
            self._sockets.setdefault(thread, set()).add(fd)
            return True

    def unwatch(self, fd: int) -> None:
        with self._lock:
            for sockets in self._sockets.values():
                sockets.discard(fd)

    def _ensure_running(self) -> None:
        # One thread per process; gunicorn forks workers, threads do not follow.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="db-watchdog", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            now = time.monotonic()
            with self._lock:
                for thread, deadline in self._deadlines.items():
                    if deadline > now:
                        continue
                    # Cut once and forget: a closed fd's number may be reused by
                    # another socket, which must never be cut.
                    for fd in self._sockets.pop(thread, ()):
                        _shut_down(fd)


def _shut_down(fd: int) -> None:
    """Make every wait on this socket return at once (the fd stays psycopg's)."""
    try:
        duplicate = socket.socket(fileno=os.dup(fd))
    except OSError:
        return  # closed meanwhile: nothing waits on it
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
        log.error("database too slow for a webhook: its connection was cut")
    except OSError:
        pass
    finally:
        duplicate.close()


watchdog = Watchdog()


def _has_news(fd: int) -> bool:
    """Has an idle connection's server written to it? A restart or a kill says
    goodbye (or closes the socket): readable. A healthy idle one stays silent."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _is_psycopg(dbapi_connection: object) -> bool:
    return isinstance(dbapi_connection, psycopg.Connection)


@event.listens_for(Engine, "do_connect")
def _refuse_past_deadline(dialect, conn_rec, cargs, cparams) -> None:  # type: ignore[no-untyped-def]
    remaining = watchdog.remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the webhook's database deadline has passed")


@event.listens_for(Pool, "checkout")
def _watch_and_ping(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
    if not _is_psycopg(dbapi_connection):
        return
    remaining = watchdog.remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the webhook's database deadline has passed")
    fd = dbapi_connection.pgconn.socket
    if watchdog.watch(fd):
        record.info["watched_fd"] = fd
    idle_since = record.info.pop("idle_since", None)
    if idle_since is None:
        return  # just opened
    if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _has_news(fd):
        return  # it worked a moment ago, and the server has not hung up since
    # The ping, in autocommit so it opens no transaction; a broken connection
    # (database restarted, socket cut) makes the pool connect afresh.
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True
        dbapi_connection.execute(";")
    except psycopg.Error as error:
        watchdog.unwatch(fd)
        record.info.pop("watched_fd", None)
        remaining = watchdog.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the database did not answer in time") from error
        raise exc.DisconnectionError("stale connection") from error
    finally:
        if not dbapi_connection.closed and not dbapi_connection.broken:
            dbapi_connection.autocommit = autocommit


@event.listens_for(Pool, "checkin")
@event.listens_for(Pool, "close")
def _unwatch(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    if record is not None:
        record.info["idle_since"] = time.monotonic()
    fd = record.info.pop("watched_fd", None) if record is not None else None
    if fd is not None:
        watchdog.unwatch(fd)


@event.listens_for(Pool, "invalidate")
def _unwatch_invalidated(dbapi_connection, record, _error) -> None:  # type: ignore[no-untyped-def]
    _unwatch(dbapi_connection, record)


def init_app(app: Flask) -> None:
    budget = float(app.config["DATABASE_WEBHOOK_DEADLINE"])
    if budget <= 0:
        return

    @app.before_request
    def _start_deadline() -> None:
        if request.path.startswith(WEBHOOK_PREFIXES):
            watchdog.begin(budget)

    @app.teardown_request
    def _end_deadline(_error: BaseException | None) -> None:
        watchdog.end()
