"""SMS follow-ups through a real `flask worker` process, Redis and twilio-python.

The test process plays the call and enqueues the job, as a web process does; a
worker started with `flask --app wsgi worker` sends it to the Twilio stand-in.
Both share a SQLite file that `flask db upgrade` created.
"""

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException

from app import create_app
from app.extensions import db
from app.models import Message, Ticket
from app.simulator import CallSimulator, InProcessTransport, parse_inputs
from app.telephony import TwilioGateway
from config import ROOT, TestingConfig
from tests import twilio_standin
from tests.conftest import CALLER, LINE, service_required
from tests.test_migrations import FLASK, flask_env, run_flask
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

twilio_api = twilio_standin.twilio_api  # the fixture, used here by name

REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/0")
CLAIM_KEY = "ecoute-tests:claimed-by"
WAIT_SECONDS = 20
# The worker decides an SMS's retries (the outbox row owns them): a second,
# then two, then four (jittered), four attempts in all.
RETRY_SETTINGS = {"SMS_RETRY_SECONDS": "1", "SMS_MAX_ATTEMPTS": "4"}
STOP_SECONDS = 10
UNSUBSCRIBED = {
    "code": 21610,
    "message": "Attempt to send to unsubscribed recipient",
    "more_info": "https://www.twilio.com/docs/errors/21610",
    "status": 400,
}


def redis_db_url(index: int) -> str:
    return urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{index}"))


@contextmanager
def private_redis_db() -> Iterator[str]:
    """The URL of an empty Redis database, claimed for this test and flushed after.

    The worker's queue is always "default", so tests running alongside others are
    kept apart by database number, never by flushing someone else's.
    """
    token = secrets.token_hex(8)
    for index in secrets.SystemRandom().sample(range(1, 16), 15):
        client = Redis.from_url(redis_db_url(index), socket_connect_timeout=2)
        try:
            if client.set(CLAIM_KEY, token, nx=True) and client.dbsize() == 1:
                break
            if client.get(CLAIM_KEY) == token.encode():
                client.delete(CLAIM_KEY)  # claimed a database someone else uses
        except RedisError:
            client.close()
            service_required("Redis")
        client.close()
    else:
        pytest.fail("no empty Redis database among 1-15 to run the worker on")
    try:
        yield redis_db_url(index)
    finally:
        client.flushdb()
        client.close()


def stop_worker(process: subprocess.Popen) -> str | None:
    """SIGTERM (RQ's warm shutdown), then SIGKILL; what was left behind, if anything."""
    problem = None
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        problem = "the worker ignored SIGTERM"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)
    # Its scheduler and work horses are in its process group: none may survive it.
    deadline = time.monotonic() + STOP_SECONDS
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return problem
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            return "processes of the worker outlived it"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("migrated")
    path = folder / "ecoute.sqlite3"
    run_flask("db", "upgrade", env=flask_env(folder, DATABASE_URL=f"sqlite:///{path}"))
    return path


@pytest.fixture
def database(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A SQLite file from `flask db upgrade`, shared by the test and the worker."""
    path = tmp_path / "ecoute.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis_db() as url:
        yield url


@pytest.fixture
def worker(
    tmp_path: Path, redis_url: str, database: str, twilio_api: TwilioStandIn
) -> Iterator[Callable[[], str]]:
    """A running `flask --app wsgi worker`; yields a function reading its log."""
    instance = tmp_path / "worker-instance"
    env = flask_env(
        instance,
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=twilio_api.url,
        **RETRY_SETTINGS,
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FLASK, "--app", "wsgi", "worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def read_log() -> str:
        alive = "running" if process.poll() is None else f"exited {process.returncode}"
        return f"worker {alive}; its log:\n{log_path.read_text(errors='replace')}"

    try:
        yield read_log
    finally:
        problem = stop_worker(process)
    assert problem is None, f"{problem}\n{read_log()}"
    assert process.returncode == 0, read_log()


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    database: str,
    twilio_api: TwilioStandIn,
) -> Iterator[Flask]:
    """The web side: the worker's settings, and retries a second apart."""
    with web_app(
        monkeypatch,
        tmp_path / "web-instance",
        SQLALCHEMY_DATABASE_URI=database,
        REDIS_URL=redis_url,
        TWILIO_API_BASE_URL=twilio_api.url,
    ) as app:
        yield app


@contextmanager
def web_app(
    monkeypatch: pytest.MonkeyPatch,
    instance: Path,
    queue: str = "notify",
    **settings: object,
) -> Iterator[Flask]:
    """The web side on the shared database and Redis, in an app context.

    Shared by every real-worker test: the Twilio stand-in's account, retries a
    second apart, and the RQ connection closed at the end.
    """
    monkeypatch.setattr("app.INSTANCE", instance)  # not ./instance
    config = type(
        "WorkerTestingConfig",
        (TestingConfig,),
        {
            "SQLALCHEMY_ENGINE_OPTIONS": {},
            "PUBLIC_BASE_URL": None,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "JOB_RETRY_INTERVALS": (1, 1, 1),
            "SMS_RETRY_SECONDS": 1.0,
            "SMS_MAX_ATTEMPTS": 4,
            **settings,
        },
    )
    app = create_app(config)
    rq_queue = app.extensions["rq"].queues.get(queue)
    assert rq_queue is not None, "REDIS_URL set: jobs must go through Redis"
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()
            rq_queue.connection.close()


def play_complaint(app: Flask) -> str:
    """A caller files a complaint by phone; the reference they heard."""
    heard = CallSimulator(
        InProcessTransport(app),
        AUTH_TOKEN,
        "http://localhost",
        "0197000000",
        LINE,
        parse_inputs("1,2", ()),
        account_sid=ACCOUNT_SID,
        echo=lambda line: None,
    ).run()
    assert heard.reference is not None
    return heard.reference


def the_message() -> Message:
    db.session.rollback()  # end the read transaction: see the worker's commits
    return db.session.scalars(select(Message)).one()


def wait_for(done: Callable[[], bool], what: str, read_log: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS}s for {what}\n{read_log()}")
        time.sleep(0.1)


def job_settled(app: Flask) -> bool:
    """The send jobs have ended for good: nothing queued, running or scheduled
    (each retry is a job of its own, scheduled by the one that failed)."""
    queue: Queue = app.extensions["rq"].queues["notify"]
    return (
        queue.count == 0
        and queue.started_job_registry.count == 0
        and queue.scheduled_job_registry.count == 0
        and queue.finished_job_registry.count >= 1
    )


def assert_sms_request(received, reference: str) -> None:
    assert received.account_sid == ACCOUNT_SID
    assert (received.username, received.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert received.form["To"] == CALLER
    assert received.form["From"] == LINE
    assert reference in received.form["Body"]
    assert "StatusCallback" not in received.form  # no PUBLIC_BASE_URL


@pytest.mark.redis
def test_worker_sends_the_acknowledgment_sms_through_twilio(app, worker, twilio_api):
    reference = play_complaint(app)

    wait_for(lambda: the_message().message_sid is not None, "the SMS", worker)
    wait_for(lambda: job_settled(app), "the job to finish", worker)

    message = the_message()
    assert message.status == "sending"  # Twilio queued it; callbacks say the rest
    assert message.message_sid.startswith("SM")
    assert len(message.message_sid) == 34
    [received] = twilio_api.received
    assert_sms_request(received, reference)
    assert received.form["Body"] == message.body
    assert twilio_api.refused == []
    ticket = db.session.get(Ticket, message.ticket_id)
    assert ticket.display_reference == reference
    assert [e.detail for e in ticket.events if e.action == "sms_sent"] == [
        {"message_id": message.id, "sid": message.message_sid}
    ]


@pytest.mark.redis
def test_worker_retries_after_a_twilio_server_error(app, worker, twilio_api):
    twilio_api.fail_next(500, times=1)
    reference = play_complaint(app)

    wait_for(lambda: the_message().message_sid is not None, "the retried SMS", worker)
    wait_for(lambda: job_settled(app), "the job to finish", worker)

    assert the_message().status == "sending"
    first, second = twilio_api.received  # exactly two requests: no third
    assert first.form == second.form
    assert_sms_request(second, reference)


@pytest.mark.redis
def test_worker_gives_up_on_a_permanent_twilio_error(app, worker, twilio_api):
    twilio_api.fail_next(400, UNSUBSCRIBED, times=3)
    play_complaint(app)

    wait_for(lambda: the_message().status == "failed", "the SMS to fail", worker)
    wait_for(lambda: job_settled(app), "the job to finish", worker)

    message = the_message()
    assert (message.error_code, message.message_sid) == ("21610", None)
    assert len(twilio_api.received) == 1  # no retry of a refusal
    ticket = db.session.get(Ticket, message.ticket_id)
    assert [e.detail for e in ticket.events if e.action == "sms_failed"] == [
        {"message_id": message.id, "code": "21610", "attempts": 1}
    ]


def test_standin_refuses_requests_without_basic_auth(twilio_api):
    url = f"{twilio_api.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    unsigned = requests.post(url, data={"To": CALLER, "Body": "x"}, timeout=5)
    wrong = requests.post(
        url, data={"To": CALLER}, auth=(ACCOUNT_SID, "not-the-token"), timeout=5
    )

    assert (unsigned.status_code, unsigned.json()["code"]) == (401, 20003)
    assert wrong.status_code == 401
    assert twilio_api.requests == []
    assert len(twilio_api.refused) == 2


def test_twilio_client_reads_the_standin_answers(twilio_api):
    gateway = TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, twilio_api.url)
    twilio_api.fail_next(400, UNSUBSCRIBED)
    try:
        with pytest.raises(TwilioRestException) as refused:
            gateway.send_sms(CALLER, "refused", LINE)
        sent = gateway.send_sms(CALLER, "bonjour", LINE, "https://example.org/cb")
    finally:
        gateway.client.http_client.session.close()

    assert (refused.value.status, refused.value.code) == (400, 21610)
    assert sent.sid.startswith("SM")
    assert sent.status == "queued"
    assert twilio_api.requests[1] == {
        "To": CALLER,
        "From": LINE,
        "Body": "bonjour",
        "StatusCallback": "https://example.org/cb",
    }
