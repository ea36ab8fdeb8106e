"""Sent once, never twice, never never: SMS and recordings through faults.

In process (no REDIS_URL): the process's scheduler thread retries a failed send
when its row says so, and sends a quiet-hour text once due. With RQ (real `flask
worker` processes, Redis, the Twilio stand-in): a work horse killed after Twilio
took a text, Twilio answering 500 and 429 for a while, Redis stopped and started
under the worker, a worker killed mid-download. Each test says what the fault
costs: the seconds until the text goes.
"""

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.lines import Line
from app.models import Message, Role, Ticket
from app.models.types import utcnow
from app.queue import InProcessScheduler, JobQueue, _periodic_jobs
from config import TestingConfig
from tests.conftest import FakeGateway, twilio_error
from tests.factories import make_token, make_user

TICKET = {"phone": "0197000000", "channel": "counter", "category": "payment"}
WAIT_SECONDS = 20


def wait_until(
    done: Callable[[], bool],
    what: str,
    seconds: float = WAIT_SECONDS,
    state: Callable[[], object] = lambda: "",
):
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds}s for {what}; {state()}")
        time.sleep(0.05)


def the_message() -> Message:
    db.session.rollback()  # see what the scheduler thread committed
    return db.session.scalars(select(Message)).one()


def sms_events(message: Message) -> list[tuple[str, dict]]:
    ticket = db.session.get(Ticket, message.ticket_id)
    return [(e.action, e.detail) for e in ticket.events if e.action.startswith("sms_")]


# --- in process: the embedded default ---------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The embedded default on a SQLite file: the scheduler thread and the test
    each get their own connection (the in-memory database has only one)."""
    config = type(
        "InProcessConfig",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"},
    )
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    app.extensions["twilio"] = FakeGateway()
    with app.app_context():
        db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def in_process(app: Flask) -> Iterator[JobQueue]:
    """No REDIS_URL: jobs in the request's process, a scheduler pass every 0.2 s."""
    queue = app.extensions["rq"]
    assert queue.in_process
    queue.scheduler = InProcessScheduler(app, _periodic_jobs(app), 0.2)
    app.config["SMS_RETRY_SECONDS"] = 1.0
    try:
        yield queue
    finally:
        queue.scheduler.stop()


def open_by_api(client: FlaskClient) -> None:
    token = make_token(make_user("sup@example.org", Role.SUPERVISOR))
    response = client.post(
        "/api/tickets", json=TICKET, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_in_process_a_failed_send_is_retried_by_the_scheduler(
    client: FlaskClient, sms: FakeGateway, in_process: JobQueue
):
    sms.fail_with.extend([twilio_error(503, 20503), twilio_error(429, 20429)])
    started = time.monotonic()
    open_by_api(client)  # the in-process send meets the 503
    first = the_message()
    assert (first.status, first.attempts, sms.sent) == ("queued", 1, [])

    wait_until(
        lambda: the_message().message_sid is not None,
        "the retried SMS",
        state=lambda: vars(the_message()) | {"runs": in_process.scheduler.runs},
    )
    cost = time.monotonic() - started
    time.sleep(0.5)  # room for a third send, were there one
    message = the_message()
    assert len(sms.sent) == 1
    assert message.attempts == 3  # 503, 429, then sent
    # Back-off of 0.5-1 s, then 1-2 s, each found by a pass 0.2 s apart.
    assert 1.4 < cost < 6, cost
    assert [action for action, _ in sms_events(message)] == ["sms_queued", "sms_sent"]


def test_in_process_a_quiet_hour_text_goes_when_due(
    client: FlaskClient,
    sms: FakeGateway,
    in_process: JobQueue,
    daytime: pytest.MonkeyPatch,
):
    morning = utcnow() + timedelta(seconds=1.5)
    daytime.setattr(Line, "sms_allowed_at", lambda self, at: max(at, morning))
    open_by_api(client)
    message = the_message()
    assert message.send_after == morning
    assert sms.sent == []

    wait_until(lambda: the_message().message_sid is not None, "the morning SMS")
    late = (utcnow() - morning).total_seconds()
    assert 0 <= late < 1.5, late  # a pass every 0.2 s (30 s by default)
    assert len(sms.sent) == 1


def test_the_scheduler_starts_once_per_process_on_first_use(
    app: Flask, in_process: JobQueue
):
    scheduler = in_process.scheduler
    assert scheduler._thread is None  # nothing at start-up
    app.test_client().get("/login")
    thread = scheduler._thread
    assert thread is not None
    assert thread.daemon
    assert thread.is_alive()
    app.test_client().get("/login")
    assert scheduler._thread is thread
    wait_until(lambda: scheduler.runs >= 2, "two passes")
