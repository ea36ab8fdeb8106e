"""Sent once, never twice, never never: SMS and recordings through faults.

In process (no REDIS_URL): the process's scheduler thread retries a failed send
when its row says so, and sends a quiet-hour text once due. With RQ (real `flask
worker` processes, Redis, the Twilio stand-in): a work horse killed after Twilio
took a text, Twilio answering 500 and 429 for a while, Redis stopped and started
under the worker, a worker killed mid-download. Each test says what the fault
costs: the seconds until the text goes.
"""

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.lines import Line
from app.models import Message, Recording, Role, Ticket
from app.models.types import utcnow
from app.queue import InProcessScheduler, JobQueue, _periodic_jobs
from app.services.followups import due_messages, stale_holds
from config import ROOT, TestingConfig
from recordings.jobs import fetch_recording
from tests import redis_server as private_redis
from tests import test_rq_worker, test_sms_worker, twilio_standin
from tests.conftest import FakeGateway, twilio_error
from tests.factories import make_token, make_user, sid
from tests.media_standin import ACCOUNT, make_wav
from tests.media_standin import TOKEN as MEDIA_TOKEN
from tests.test_migrations import FLASK, flask_env, postgres_schema, run_flask
from tests.test_recordings_media import post_recording
from tests.twilio_standin import TwilioStandIn

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
    app.config["RECORDINGS_DIR"] = str(tmp_path / "recordings")
    app.extensions["twilio"] = FakeGateway()
    app.extensions["rq"].scheduler = None  # the tests that want one make it
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
    print(f"\nfault costs: 503 then 429 in process, sent after {cost:.1f} s")
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
    print(f"\nfault costs: quiet-hour text sent {late:.1f} s after it was due")
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


# --- with Redis: real `flask worker` and `flask cron` processes -------------------

# Fixtures used by name: a migrated SQLite file shared with the processes, the
# Twilio stand-in, a private redis-server that can be stopped, the web side on it.
migrated_sqlite = test_rq_worker.migrated_sqlite
database = test_rq_worker.database
twilio_api = twilio_standin.twilio_api
redis_server = private_redis.redis_server
outage_app = test_sms_worker.outage_app

TOO_MANY_REQUESTS = test_sms_worker.TOO_MANY_REQUESTS


def file_ticket(app: Flask) -> None:
    """A supervisor files a ticket through the API (its acknowledgment follows)."""
    client = app.test_client()
    if "TEST_TOKEN" not in app.config:
        user = make_user("sup@example.org", Role.SUPERVISOR)
        app.config["TEST_TOKEN"] = make_token(user)
    token = app.config["TEST_TOKEN"]
    response = client.post(
        "/api/tickets", json=TICKET, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def message_by_id(message_id: int) -> Message:
    db.session.rollback()  # see what the worker committed
    return db.session.get(Message, message_id)


def newest_message() -> Message:
    db.session.rollback()
    return db.session.scalars(select(Message).order_by(Message.id.desc())).first()


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A `flask --app wsgi ARGS` in its own process group, to be killed -9."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [FLASK, "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def env_for(
    tmp_path: Path,
    database: str,
    redis_server: private_redis.RedisServer,
    twilio_api: TwilioStandIn,
) -> Callable[..., dict[str, str]]:
    """The environment of a worker or cron process, retries a second apart."""

    def env(name: str, **settings: str) -> dict[str, str]:
        return test_sms_worker.worker_env(
            tmp_path / f"{name}-instance",
            database,
            redis_server.url,
            twilio_api.url,
            **settings,
        )

    return env


@pytest.mark.redis
def test_a_work_horse_killed_after_twilio_took_the_text_sends_it_once(
    outage_app: Flask,
    twilio_api: TwilioStandIn,
    env_for: Callable[..., dict[str, str]],
    tmp_path: Path,
):
    settings = {"SMS_CLAIM_LEASE_SECONDS": "3"}
    first = spawn(["worker"], env_for("a", **settings), tmp_path / "a.log")
    try:
        twilio_api.hold_next()
        file_ticket(outage_app)
        assert twilio_api.accepted_held.wait(WAIT_SECONDS), (
            tmp_path / "a.log"
        ).read_text()
        kill_group(first)  # Twilio has it; the worker never heard
    finally:
        if first.poll() is None:
            kill_group(first)
    killed = time.monotonic()
    twilio_api.release()
    message = newest_message()
    assert (message.status, message.message_sid) == ("sending", None)

    with (
        test_sms_worker.flask_process(
            ["worker"], env_for("b", **settings), tmp_path / "b.log"
        ) as worker_log,
        test_sms_worker.flask_process(
            ["cron", "--interval", "1"], env_for("cron", **settings), tmp_path / "c.log"
        ) as cron_log,
    ):
        wait_until(
            lambda: message_by_id(message.id).message_sid is not None,
            "the text to be found at Twilio",
            state=lambda: f"{worker_log()}\n{cron_log()}",
        )
        cost = time.monotonic() - killed

    message = message_by_id(message.id)
    [created] = twilio_api.created
    assert len(twilio_api.received) == 1  # one POST: sent exactly once
    assert message.message_sid == created["sid"]
    assert twilio_api.listings, "Twilio was asked before anything was sent again"
    assert twilio_api.listings[0]["To"] == message.to_number
    events = sms_events(message)
    assert ("sms_sent", {"message_id": message.id, "sid": created["sid"]}) not in (
        events
    )
    assert (
        "sms_sent",
        {"message_id": message.id, "sid": created["sid"], "found": True},
    ) in events
    # The claim's lease (3 s here, 600 s by default) and a cron pass (1 s, 60 s).
    assert 3 <= cost < 12, cost
    print(f"\nfault costs: work horse killed, text recorded {cost:.1f} s after")


@pytest.mark.redis
def test_twilio_500_then_429_backs_off_records_attempts_and_sends_once(
    outage_app: Flask,
    twilio_api: TwilioStandIn,
    env_for: Callable[..., dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    arrivals = test_sms_worker.record_arrivals(twilio_api, monkeypatch)
    twilio_api.fail_next(500, times=2)
    twilio_api.fail_next(429, TOO_MANY_REQUESTS, times=2)
    twilio_api.retry_after("3")
    env = env_for("worker", SMS_MAX_ATTEMPTS="6")
    with test_sms_worker.flask_process(["worker"], env, tmp_path / "w.log") as log:
        started = time.monotonic()
        file_ticket(outage_app)
        message = newest_message()
        wait_until(
            lambda: message_by_id(message.id).message_sid is not None,
            "the text once Twilio recovers",
            seconds=40,
            state=log,
        )
        cost = time.monotonic() - started

    message = message_by_id(message.id)
    assert len(twilio_api.received) == 5
    assert len(twilio_api.created) == 1  # sent once
    assert message.attempts == 5
    assert message.last_error is None
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # Doubling from 1 s (jittered: half to all), then Twilio's Retry-After (3 s).
    assert gaps[0] >= 0.45, gaps
    assert gaps[1] >= 0.95, gaps
    assert gaps[2] >= 2.95, gaps
    assert gaps[3] >= 2.95, gaps
    assert [action for action, _ in sms_events(message)] == ["sms_queued", "sms_sent"]
    assert cost < 30, cost
    print(f"\nfault costs: 500, 500, 429, 429 (Retry-After 3), sent after {cost:.1f} s")


@pytest.mark.redis
def test_worker_and_cron_survive_redis_going_away_and_coming_back(
    outage_app: Flask,
    twilio_api: TwilioStandIn,
    redis_server: private_redis.RedisServer,
    env_for: Callable[..., dict[str, str]],
    tmp_path: Path,
):
    with (
        test_sms_worker.flask_process(
            ["worker"], env_for("worker"), tmp_path / "w.log"
        ) as worker_log,
        test_sms_worker.flask_process(
            ["cron", "--interval", "1"], env_for("cron"), tmp_path / "c.log"
        ) as cron_log,
    ):

        def logs() -> str:
            return f"{worker_log()}\n{cron_log()}"

        file_ticket(outage_app)
        before = newest_message()
        wait_until(
            lambda: message_by_id(before.id).message_sid is not None, "", state=logs
        )

        redis_server.stop()
        file_ticket(outage_app)  # during the outage: 201 all the same
        during = newest_message()
        assert (during.status, during.message_sid) == ("queued", None)
        time.sleep(3)  # the worker, its scheduler and cron all meet the outage
        redis_server.start()
        back = time.monotonic()
        wait_until(
            lambda: message_by_id(during.id).message_sid is not None,
            "the text written during the outage",
            state=logs,
        )
        outage_cost = time.monotonic() - back

        twilio_api.fail_next(500)  # its retry is scheduled: RQ's scheduler moves it
        file_ticket(outage_app)
        after = newest_message()
        enqueued = time.monotonic()
        wait_until(
            lambda: message_by_id(after.id).message_sid is not None,
            "a text enqueued after the outage, and its retry",
            state=logs,
        )
        retry_cost = time.monotonic() - enqueued

    assert len(twilio_api.created) == 3  # each text once
    assert len(twilio_api.received) == 4  # and one 500
    assert message_by_id(after.id).attempts == 2
    assert outage_cost < 15, outage_cost
    assert retry_cost < 10, retry_cost
    print(
        f"\nfault costs: Redis back, the text written meanwhile went {outage_cost:.1f}"
        f" s after; a new text and its retry took {retry_cost:.1f} s"
    )


# --- recordings: one download, one stored file ----------------------------------


def fetch_from(app: Flask, media) -> None:
    """The account the fetch job signs in with, the stand-in as Twilio's API host."""
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=MEDIA_TOKEN,
        TWILIO_API_BASE_URL=media.url,  # media is fetched from the API's host only
    )
    app.config.pop("TWILIO_LOCAL_TOKEN", None)


def test_two_fetches_of_one_recording_in_parallel_download_once(
    app: Flask, client: FlaskClient, media
):
    fetch_from(app, media)
    recording_sid, audio = sid("RE"), make_wav(3)
    media.serve(recording_sid, audio)
    media.not_found_first = 1  # the callback's own fetch meets a 404: given back
    recording = post_recording(client, recording_sid, media)
    assert recording.media_status == "pending"
    media.delay_per_chunk = 0.1  # both jobs start while the first downloads

    def fetch() -> None:
        with app.app_context():
            fetch_recording(recording.id)

    jobs = [threading.Thread(target=fetch) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=30)

    db.session.rollback()
    recording = db.session.get(Recording, recording.id)
    assert recording.media_status == "stored", recording.fetch_error
    assert len(media.requests) == 2  # the 404, then one download: not two
    stored = list(Path(app.config["RECORDINGS_DIR"]).iterdir())
    assert [path.name for path in stored] == [f"{recording_sid}.wav"]


def test_a_late_absent_does_not_undo_a_completed_recording(
    app: Flask, client: FlaskClient, media
):
    fetch_from(app, media)
    recording_sid = sid("RE")
    media.serve(recording_sid, make_wav(3))
    recording = post_recording(client, recording_sid, media)
    assert (recording.status, recording.media_status) == ("completed", "stored")
    recording = post_recording(client, recording_sid, media, status="absent")
    assert (recording.status, recording.media_status) == ("completed", "stored")


# --- the flush's selections on PostgreSQL: indexes, not scans ---------------------


@pytest.fixture
def postgres_app(tmp_path: Path) -> Iterator[Flask]:
    """The app on a schema `flask db upgrade` built, 200 000 messages sent long
    ago and a few waiting (queued, due, retried, orphaned, held), analysed."""
    with postgres_schema() as url:
        run_flask("db", "upgrade", env=flask_env(tmp_path, DATABASE_URL=url))
        config = type(
            "PostgresConfig",
            (TestingConfig,),
            {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}},
        )
        app = create_app(config)
        with app.app_context():
            db.session.execute(
                text(
                    "INSERT INTO messages (message_sid, direction, to_number, body,"
                    " status, channel, attempts, created_at, updated_at)"
                    " SELECT 'SM' || n, 'outbound', '+2290197000000', 'text',"
                    " 'delivered', 'sms', 1, now() - interval '30 days',"
                    " now() - interval '30 days'"
                    " FROM generate_series(1, 200000) AS n"
                )
            )
            db.session.execute(
                text(
                    "INSERT INTO messages (direction, to_number, body, status,"
                    " channel, attempts, next_attempt_at, claimed_at, created_at,"
                    " updated_at) VALUES"
                    " ('outbound', '+1', 'a', 'queued', 'sms', 0, NULL, NULL,"
                    "  now() - interval '1 hour', now()),"
                    " ('outbound', '+1', 'b', 'queued', 'sms', 2,"
                    "  now() + interval '1 hour', NULL, now(), now()),"
                    " ('outbound', '+1', 'c', 'sending', 'sms', 1, NULL,"
                    "  now() - interval '1 hour', now(), now()),"
                    " ('outbound', '+1', 'd', 'held', 'sms', 0, NULL, NULL,"
                    "  now(), now())"
                )
            )
            db.session.commit()
            db.session.execute(text("ANALYZE messages"))
            db.session.commit()
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def plan_of(query) -> str:
    compiled = query.compile(
        dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    rows = db.session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}"))
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
def test_the_flush_finds_due_and_held_rows_by_partial_indexes(postgres_app: Flask):
    now = utcnow()
    due = plan_of(due_messages(now, timedelta(seconds=30)))
    held = plan_of(stale_holds(now))
    assert "Seq Scan on messages" not in due, due
    assert "ix_messages_outbox" in due, due
    assert "Seq Scan on messages" not in held, held
    assert "ix_messages_held" in held, held
    ids = db.session.scalars(due_messages(now, timedelta(seconds=30))).all()
    bodies = db.session.scalars(
        select(Message.body).where(Message.id.in_(ids)).order_by(Message.body)
    ).all()
    assert bodies == ["a", "c"]  # not the one retried in an hour
    print(f"\n{due}\n{held}")  # the plans and their times, shown with -s
