"""SMS follow-ups end to end: real `flask worker` and `flask cron` processes, Redis,
twilio-python, and either Prism (Twilio's own OpenAPI description) or the stand-in.

The test process plays the web side (the API, the voice webhooks, `sms flush`);
the worker, the cron scheduler and the flush run as `flask --app wsgi` subprocesses
on the same migrated SQLite file. What test_rq_worker.py provides (the shared
database, a claimed Redis database, the worker with the stand-in, the waits) is
reused from there rather than copied.
"""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from rq.job import Job

from app.extensions import db
from app.lines import current_lines
from app.menus import menu_for
from app.models import Message, Ticket
from app.models.types import utcnow
from app.services.callers import caller_for
from app.services.followups import OUTBOX, flush_outbox
from app.services.tickets import open_ticket
from app.simulator import CallSimulator, InProcessTransport, parse_inputs
from config import ROOT
from tests import prism, test_rq_worker, twilio_standin
from tests import redis_server as private_redis
from tests.conftest import CALLER, LINE
from tests.factories import make_token, make_user
from tests.test_migrations import FLASK, flask_env, run_flask
from tests.test_rq_worker import (
    assert_sms_request,
    job_settled,
    play_complaint,
    stop_worker,
    the_message,
    wait_for,
    web_app,
)
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

# Fixtures used here by name: the worker and web app of test_rq_worker (stand-in,
# retries a second apart) with what they stand on, Prism and a private Redis.
migrated_sqlite = test_rq_worker.migrated_sqlite
database = test_rq_worker.database
redis_url = test_rq_worker.redis_url
worker = test_rq_worker.worker
app = test_rq_worker.app
twilio_api = twilio_standin.twilio_api
prism_url = prism.prism_url
redis_server = private_redis.redis_server

pytestmark = pytest.mark.redis

PUBLIC_BASE_URL = "https://ecoute.example.org"
TOO_MANY_REQUESTS = {
    "code": 20429,
    "message": "Too Many Requests",
    "more_info": "https://www.twilio.com/docs/errors/20429",
    "status": 429,
}
RETRIES = 3  # SMS_MAX_ATTEMPTS 4 of test_rq_worker's worker: the first and 3
TICKET = {"phone": "0197000000", "channel": "counter", "category": "payment"}


def worker_env(
    instance: Path, database: str, redis_url: str, api_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a worker, cron or flush subprocess (PUBLIC_BASE_URL empty)."""
    return flask_env(
        instance,
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=api_url,
        **{**test_rq_worker.RETRY_SETTINGS, **settings},
    )


@contextmanager
def flask_process(
    args: list[str], env: dict[str, str], log_path: Path
) -> Iterator[Callable[[], str]]:
    """A long-running `flask --app wsgi ARGS`; yields a function reading its log.

    Stopped by SIGTERM (then SIGKILL) with its whole process group, and it must
    have exited 0: RQ's worker and cron scheduler both shut down on SIGTERM.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FLASK, "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def read_log() -> str:
        alive = "running" if process.poll() is None else f"exited {process.returncode}"
        text = log_path.read_text(errors="replace")
        return f"flask {' '.join(args)} {alive}; its log:\n{text}"

    try:
        yield read_log
    finally:
        problem = stop_worker(process)
    assert problem is None, f"{problem}\n{read_log()}"
    assert process.returncode == 0, read_log()


def file_by_api(app: Flask) -> str:
    """A counter agent files a ticket through the API; its reference."""
    token = make_token(make_user())
    response = app.test_client().post(
        "/api/tickets", json=TICKET, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def file_by_phone(app: Flask) -> str:
    """A caller files a complaint by phone; the reference heard, never an apology."""
    said: list[str] = []
    heard = CallSimulator(
        InProcessTransport(app),
        AUTH_TOKEN,
        "http://localhost",
        "0197000000",
        LINE,
        parse_inputs("1,2", ()),
        account_sid=ACCOUNT_SID,
        echo=said.append,
    ).run()
    menu = menu_for(current_lines().for_number(LINE))
    apologies = {menu.say(lang, "technical_problem") for lang in ("fr", "en")}
    assert not apologies & set(heard.lines), said
    assert not [line for line in said if "the app answered HTTP" in line], said
    assert heard.reference is not None, said
    return heard.reference


def ticket_events(message: Message) -> list[tuple[str, dict]]:
    ticket = db.session.get(Ticket, message.ticket_id)
    return [(event.action, event.detail) for event in ticket.events]


def queue_drained(app: Flask) -> bool:
    """Nothing queued, running or scheduled on "notify" (finished or failed alike)."""
    queue: Queue = app.extensions["rq"].queues["notify"]
    return (
        queue.count == 0
        and queue.started_job_registry.count == 0
        and queue.scheduled_job_registry.count == 0
    )


def record_arrivals(
    standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch
) -> list[float]:
    """The monotonic time each request reaches the stand-in, in order."""
    arrivals: list[float] = []
    answer = standin._answer

    def timed(*args: Any) -> tuple[int, dict]:
        arrivals.append(time.monotonic())
        return answer(*args)

    monkeypatch.setattr(standin, "_answer", timed)
    return arrivals


# Through Prism: Twilio's real API shape, and an absolute StatusCallback.


@pytest.fixture
def prism_app(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database: str,
    redis_url: str,
    prism_url: str,
) -> Iterator[Flask]:
    with web_app(
        monkeypatch,
        tmp_path / "web-instance",
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        TWILIO_API_BASE_URL=prism_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    ) as app:
        yield app


def test_worker_sends_an_api_ticket_acknowledgment_through_prism(
    prism_app: Flask, tmp_path: Path, database: str, redis_url: str, prism_url: str
) -> None:
    env = worker_env(
        tmp_path / "worker-instance",
        database,
        redis_url,
        prism_url,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    )
    with flask_process(["worker"], env, tmp_path / "worker.log") as read_log:
        reference = file_by_api(prism_app)
        wait_for(lambda: the_message().status != "queued", "the job", read_log)
        wait_for(lambda: job_settled(prism_app), "the job to finish", read_log)

    message = the_message()
    # Prism's example answers "queued", which the app records as "sending"; a
    # request outside Twilio's contract would get a 422, a refusal: "failed".
    assert (message.status, message.error_code) == ("sending", None)
    assert message.message_sid.startswith("SM")
    assert len(message.message_sid) == 34
    events = ticket_events(message)
    assert [action for action, _ in events if action.startswith("sms_")] == [
        "sms_queued",
        "sms_sent",
    ]
    assert ("sms_sent", {"message_id": message.id, "sid": message.message_sid}) in (
        events
    )
    assert reference in message.body


# Redis stopped during a ticket change: the row waits; `sms flush` hands it over.


@pytest.fixture
def outage_app(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database: str,
    redis_server: private_redis.RedisServer,
    twilio_api: TwilioStandIn,
) -> Iterator[Flask]:
    with web_app(
        monkeypatch,
        tmp_path / "web-instance",
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_server.url,
        TWILIO_API_BASE_URL=twilio_api.url,
    ) as app:
        yield app


@pytest.mark.parametrize(
    "file_ticket", [file_by_api, file_by_phone], ids=["api", "voice"]
)
def test_a_message_written_while_redis_is_down_is_sent_after_a_flush(
    file_ticket: Callable[[Flask], str],
    outage_app: Flask,
    redis_server: private_redis.RedisServer,
    twilio_api: TwilioStandIn,
    tmp_path: Path,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis_server.stop()
    reference = file_ticket(outage_app)  # 201, or the reference read out

    message = the_message()
    assert (message.status, message.message_sid) == ("queued", None)
    # The voice call's recording fetch was not handed over either; that is
    # `flask recordings fetch`'s business, not this test's.
    lost = [r.getMessage() for r in caplog.records if r.name == "app.queue"]
    assert "could not enqueue send_message: Redis unreachable" in lost
    assert len([text for text in lost if "send_message" in text]) == 1

    redis_server.start()  # empty: no job survived, the row is all there is
    assert queue_drained(outage_app)
    assert outage_app.extensions["rq"].queues["notify"].finished_job_registry.count == 0
    env = worker_env(
        tmp_path / "worker-instance", database, redis_server.url, twilio_api.url
    )
    with flask_process(["worker"], env, tmp_path / "worker.log") as read_log:
        flushed = run_flask("sms", "flush", env=env)
        assert flushed.stdout.strip() == "handed 1 waiting message(s) to the jobs"
        wait_for(lambda: the_message().message_sid is not None, "the SMS", read_log)
        wait_for(lambda: job_settled(outage_app), "the job to finish", read_log)

    [received] = twilio_api.received  # exactly one request for the one message
    assert_sms_request(received, reference)
    message = the_message()
    assert received.form["Body"] == message.body
    assert message.status == "sending"
    assert [a for a, _ in ticket_events(message) if a.startswith("sms_")] == [
        "sms_queued",
        "sms_sent",
    ]


# Retries through RQ's Retry, against the stand-in.


def test_worker_backs_off_on_429_and_sends_on_the_third_attempt(
    app: Flask,
    worker: Callable[[], str],
    twilio_api: TwilioStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrivals = record_arrivals(twilio_api, monkeypatch)
    twilio_api.fail_next(429, TOO_MANY_REQUESTS, times=2)
    reference = play_complaint(app)

    wait_for(lambda: the_message().message_sid is not None, "the SMS", worker)
    wait_for(lambda: job_settled(app), "the job to finish", worker)

    first, second, third = twilio_api.received  # exactly three attempts
    assert first.form == second.form == third.form
    assert_sms_request(third, reference)
    message = the_message()
    assert message.status == "sending"
    assert [a for a, _ in ticket_events(message) if a.startswith("sms_")] == [
        "sms_queued",
        "sms_sent",
    ]
    # Each retry waited in RQ's scheduled registry for its back-off (0.5-1 s,
    # then 1-2 s), written on the row: two of them span more than 1.5 s.
    queue: Queue = app.extensions["rq"].queues["notify"]
    assert queue.finished_job_registry.count == 3  # one job per attempt
    assert message.attempts == 3
    assert arrivals[2] - arrivals[0] > 1.4  # minus the clocks' granularity


def test_worker_marks_the_message_failed_once_retries_are_exhausted(
    app: Flask, worker: Callable[[], str], twilio_api: TwilioStandIn
) -> None:
    twilio_api.fail_next(500, times=RETRIES + 3)
    play_complaint(app)

    wait_for(lambda: the_message().status == "failed", "the SMS to fail", worker)
    wait_for(lambda: queue_drained(app), "the job to end", worker)

    assert len(twilio_api.received) == RETRIES + 1  # the first attempt and 3 retries
    message = the_message()
    assert (message.error_code, message.message_sid) == ("retries_exhausted", None)
    sms_events = [(a, d) for a, d in ticket_events(message) if a.startswith("sms_")]
    assert sms_events == [
        ("sms_queued", {"message_id": message.id, "template": "acknowledgment"}),
        (
            "sms_failed",
            {"message_id": message.id, "code": "retries_exhausted", "attempts": 4},
        ),
    ]
    assert "500" in message.last_error
    queue: Queue = app.extensions["rq"].queues["notify"]
    assert queue.failed_job_registry.count == 0  # no job broke: the row decided
    assert flush_outbox(older_than=timedelta(0)) == 0  # a failed message stays so


# The cron scheduler: a message whose enqueue was lost is handed over by itself.


def lost_message() -> Message:
    """A ticket committed with its message by a web process that died before its
    dispatch, five minutes ago."""
    open_ticket(
        caller_for(CALLER), "counter", "payment", None, LINE, "fr", "agent@example.org"
    )
    [message] = db.session.info.pop(OUTBOX)
    message.created_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    return message


def test_cron_flushes_a_message_whose_enqueue_was_lost(
    app: Flask,
    worker: Callable[[], str],
    twilio_api: TwilioStandIn,
    tmp_path: Path,
    database: str,
    redis_url: str,
) -> None:
    lost_message()
    queue: Queue = app.extensions["rq"].queues["notify"]
    assert queue.count == 0

    env = worker_env(tmp_path / "cron-instance", database, redis_url, twilio_api.url)
    with flask_process(
        ["cron", "--interval", "1"], env, tmp_path / "cron.log"
    ) as cron_log:

        def logs() -> str:
            return f"{worker()}\n{cron_log()}"

        wait_for(lambda: the_message().message_sid is not None, "the SMS", logs)
    wait_for(lambda: queue_drained(app), "the jobs to finish", worker)

    # Each flush the cron enqueued while the row waited dispatched it again:
    # the claim let exactly one job send it.
    [received] = twilio_api.received
    message = the_message()
    assert received.form["Body"] == message.body
    assert message.status == "sending"
    finished = Job.fetch_many(
        queue.finished_job_registry.get_job_ids(), connection=queue.connection
    )
    names = {job.func_name for job in finished if job is not None}
    assert names == {
        "app.services.followups.flush_outbox",
        "app.jobs.send_message",
    }
    assert queue.failed_job_registry.count == 0
