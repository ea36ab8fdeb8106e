"""The webhook database deadline, without a database: sockets and threads only."""

import socket
import threading
import time

import psycopg
import pytest
from sqlalchemy import exc

from app.dbguard import DeadlineExceeded, Watchdog, is_database_outage


def blocked_recv(sock: socket.socket, results: list) -> None:
    started = time.monotonic()
    try:
        data = sock.recv(16)
    except OSError as error:
        data = error
    results.append((data, time.monotonic() - started))


def test_the_watchdog_cuts_a_socket_waiting_past_the_deadline():
    # A peer that never answers: a frozen server looks like this to the client.
    client, silent_peer = socket.socketpair()
    watchdog = Watchdog(interval=0.01)
    results: list = []

    def request() -> None:
        watchdog.begin(0.3)
        assert watchdog.watch(client.fileno())
        blocked_recv(client, results)
        watchdog.end()

    worker = threading.Thread(target=request)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "the wait was never cut"
    [(data, seconds)] = results
    assert data == b""  # shut down: the blocked read returns at once
    assert 0.25 < seconds < 1.5
    client.close()
    silent_peer.close()


def test_a_socket_given_back_before_the_deadline_is_left_alone():
    client, peer = socket.socketpair()
    watchdog = Watchdog(interval=0.01)
    watchdog.begin(0.1)
    assert watchdog.watch(client.fileno())
    watchdog.unwatch(client.fileno())  # checked in: another request may use it
    time.sleep(0.3)
    peer.sendall(b"ok")
    assert client.recv(2) == b"ok"
    watchdog.end()
    client.close()
    peer.close()


def test_outside_a_webhook_nothing_is_watched():
    watchdog = Watchdog()
    assert watchdog.remaining() is None
    assert not watchdog.watch(0)


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("gone")), True),
        (exc.TimeoutError("QueuePool limit reached"), True),
        (DeadlineExceeded("too slow"), True),
        (psycopg.OperationalError("consuming input failed"), True),
        (exc.IntegrityError("INSERT", {}, Exception("duplicate")), False),
        (ValueError("a bug"), False),
        (KeyError("Digits"), False),
    ],
)
def test_only_database_unavailability_counts_as_an_outage(error, outage):
    assert is_database_outage(error) is outage


def test_an_outage_behind_another_exception_still_counts():
    error = RuntimeError("while saving")
    error.__cause__ = psycopg.OperationalError("server closed the connection")
    assert is_database_outage(error)
