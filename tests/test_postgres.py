"""The app on PostgreSQL, with the schema `flask db upgrade` builds.

SQLite serialises writers, so the races the webhooks guard against (two deliveries
of one callback inserting the same row) only really happen here.
"""

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from app.models import Call, Caller, Message, Recording, Ticket, TicketEvent
from app.simulator import CallSimulator, InProcessTransport, parse_inputs
from app.spool import spool_dir
from config import TestingConfig
from ivr.menu import spoken_reference
from tests.conftest import CALLER, LINE, TOKEN, FakeGateway, sign
from tests.test_migrations import flask_env, postgres_schema, run_flask

pytestmark = pytest.mark.postgres

# A zone far from UTC (+12:45/+13:45): a timestamp not converted back to UTC shows.
SESSION_TIMEZONE = "Pacific/Chatham"
ACCOUNT = "AC" + "0" * 32
VOICEMAIL = "/voice/voicemail?lang=fr&purpose=complaint&category=delay"
RECORDING_CALLBACK = "/voice/recording?lang=fr&purpose=complaint&category=delay"
THREADS = 8


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A schema of its own on the test database, migrated by `flask db upgrade`."""
    with postgres_schema(timezone=SESSION_TIMEZONE) as url:
        instance = tmp_path_factory.mktemp("instance")
        run_flask("db", "upgrade", env=flask_env(instance, DATABASE_URL=url))
        yield url


@pytest.fixture
def app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_url: str
) -> Iterator[Flask]:
    # The instance folder (and the callback spool in it) under tmp, not ./instance.
    monkeypatch.setattr("app.INSTANCE", tmp_path / "instance")
    config = type(
        "PostgresTestingConfig",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": postgres_url, "REDIS_URL": None},
    )
    app = create_app(config)
    # No Redis: the SMS job runs in the request, through the fake gateway.
    app.extensions["twilio"] = FakeGateway()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            # Every table emptied for the next test; the schema itself stays.
            tables = ", ".join(table.name for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.engine.dispose()


def signed_post(client: FlaskClient, path: str, form: dict[str, str]) -> TestResponse:
    signature = sign("http://localhost" + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def post(client: FlaskClient) -> Callable[[str, dict[str, str]], TestResponse]:
    """Like conftest's twilio_post, with the form as a dict."""
    return lambda path, form: signed_post(client, path, form)


def call_form(call_sid: str, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": CALLER,
        "To": LINE,
        "Direction": "inbound",
        **extra,
    }


def recording_form(call_sid: str, recording_sid: str) -> dict[str, str]:
    # Recording status callbacks carry no From or To.
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
        f"/Recordings/{recording_sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }


def voicemail_action(call_sid: str, recording_sid: str, **extra: str) -> dict[str, str]:
    """The <Record> action's form: the caller pressed # after their message."""
    return call_form(
        call_sid,
        CallStatus="in-progress",
        RecordingSid=recording_sid,
        RecordingUrl=recording_form(call_sid, recording_sid)["RecordingUrl"],
        Digits="#",
        **extra,
    )


def reach_voicemail(post, call_sid: str) -> None:
    """Ring, press 1 (complaint) then 2 (delay): the caller hears the beep."""
    for path, extra in (
        ("/voice/incoming", {"CallStatus": "ringing"}),
        ("/voice/menu?lang=fr&attempt=1", {"CallStatus": "in-progress", "Digits": "1"}),
        (
            "/voice/category?lang=fr&attempt=1",
            {"CallStatus": "in-progress", "Digits": "2"},
        ),
    ):
        response = post(path, call_form(call_sid, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
    assert "<Record" in response.get_data(as_text=True)


def spooled(app: Flask) -> list[str]:
    """Callbacks the app kept on disk for `spool replay` instead of handling them.

    The spool is for a database outage: a callback that lands there while the
    database is up was lost to an error, whatever status code Twilio was given.
    """
    folder = spool_dir(app)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def actions(ticket: Ticket) -> list[str]:
    return [event.action for event in ticket.events]


def test_schema_is_the_migrated_one_in_its_own_schema(app):
    # Guards the other tests: they must run on the migrations' schema, isolated.
    with db.engine.connect() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert schema.startswith("ecoute_test_")
    assert version


def test_complaint_call_files_ticket_call_recording_and_sms(app, sms):
    heard = CallSimulator(
        InProcessTransport(app),
        TOKEN,
        "http://localhost",
        "0197000000",
        LINE,
        parse_inputs("1,2", ()),
        echo=lambda line: None,
    ).run()

    assert heard.reference is not None
    db.session.expire_all()
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.display_reference == heard.reference
    assert (ticket.kind, ticket.category, ticket.channel) == (
        "complaint",
        "delay",
        "phone",
    )
    assert (ticket.phone, ticket.line, ticket.status) == (CALLER, LINE, "new")
    call = db.session.scalars(select(Call)).one()
    assert call.call_sid == heard.call_sid
    assert (call.status, call.duration, call.intent) == ("completed", 42, "complaint")
    assert call.ended_at is not None
    assert ticket.origin_call_id == call.id
    assert ticket.calls == [call]
    recording = db.session.scalars(select(Recording)).one()
    assert (recording.ticket_id, recording.call_id) == (ticket.id, call.id)
    assert (recording.status, recording.duration) == ("completed", 12)
    assert recording.media_url.startswith("https://api.twilio.com/")
    message = db.session.scalars(select(Message)).one()
    assert (message.ticket_id, message.to_number, message.from_number) == (
        ticket.id,
        CALLER,
        LINE,
    )
    assert heard.reference in message.body
    # Twilio took it ("queued" on its side): ours waits for the status callback.
    assert message.status == "sending"
    assert message.message_sid == f"SM{1:032x}"  # what the fake gateway answered
    assert [sent["to"] for sent in sms.sent] == [CALLER]
    assert actions(ticket).count("created") == 1
    assert actions(ticket).count("recording") == 1
    assert {"sms_queued", "sms_sent"} <= set(actions(ticket))


def test_repeated_voicemail_action_and_recording_callback_keep_one_of_each(
    app, post, sms
):
    call_sid, recording_sid = sid("CA"), sid("RE")
    reach_voicemail(post, call_sid)
    action = voicemail_action(call_sid, recording_sid, RecordingDuration="12")
    answers = [post(VOICEMAIL, action) for _ in range(2)]
    callbacks = [
        post(RECORDING_CALLBACK, recording_form(call_sid, recording_sid))
        for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [200, 200]
    assert [c.status_code for c in callbacks] == [204, 204]
    assert spooled(app) == []
    db.session.expire_all()
    ticket = db.session.scalars(select(Ticket)).one()
    spoken = spoken_reference(ticket.reference)
    assert all(spoken in a.get_data(as_text=True) for a in answers)
    recording = db.session.scalars(select(Recording)).one()
    assert recording.recording_sid == recording_sid
    assert (recording.ticket_id, recording.status) == (ticket.id, "completed")
    assert count(Call) == 1
    assert count(Message) == 1
    assert len(sms.sent) == 1
    assert actions(ticket).count("created") == 1
    assert actions(ticket).count("recording") == 1


def deliver_concurrently(
    app: Flask, path: str, form: dict[str, str], threads: int
) -> list[int | BaseException]:
    """POST the same signed form from `threads` threads at once; their outcomes."""
    start = threading.Barrier(threads)
    outcomes: list[int | BaseException] = [RuntimeError("did not run")] * threads

    def deliver(index: int) -> None:
        try:
            with app.app_context():
                client = app.test_client()
                start.wait(timeout=10)
                outcomes[index] = signed_post(client, path, form).status_code
        except BaseException as error:  # reported by the test, not lost in a thread
            outcomes[index] = error

    workers = [
        threading.Thread(target=deliver, args=(i,), name=f"delivery-{i}")
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers), "a delivery hung"
    return outcomes


@pytest.mark.parametrize(
    "call_known",
    [True, False],
    ids=["after-voicemail-prompt", "callback-before-any-webhook"],
)
def test_concurrent_duplicate_recording_callbacks_file_one_ticket_and_recording(
    app, post, sms, call_known
):
    # Known call: the deliveries race to insert the recording, then the ticket.
    # Unknown call (the callback beat every webhook): they race to insert the call.
    call_sid, recording_sid = sid("CA"), sid("RE")
    if call_known:
        reach_voicemail(post, call_sid)

    collisions: list[str] = []

    def count_collisions(context) -> None:
        if isinstance(context.sqlalchemy_exception, IntegrityError):
            collisions.append(context.statement.split()[2])

    event.listen(db.engine, "handle_error", count_collisions)
    try:
        outcomes = deliver_concurrently(
            app, RECORDING_CALLBACK, recording_form(call_sid, recording_sid), THREADS
        )
    finally:
        event.remove(db.engine, "handle_error", count_collisions)

    assert outcomes == [204] * THREADS
    assert spooled(app) == []  # every delivery was handled, none put aside
    # The deliveries did overlap: the losers hit the unique index and recovered.
    assert collisions, "no delivery collided: the race was not exercised"
    db.session.expire_all()
    call = db.session.scalars(select(Call)).one()
    assert call.call_sid == call_sid
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.origin_call_id, ticket.kind, ticket.category) == (
        call.id,
        "complaint",
        "delay",
    )
    recording = db.session.scalars(select(Recording)).one()
    assert (recording.ticket_id, recording.call_id) == (ticket.id, call.id)
    assert actions(ticket).count("created") == 1
    assert actions(ticket).count("recording") == 1
    assert count(Caller) == (1 if call_known else 0)
    # Only a known caller gets the SMS, and only once.
    assert count(Message) == len(sms.sent) == (1 if call_known else 0)


def test_status_callbacks_out_of_order_leave_the_call_completed(app, post):
    call_sid = sid("CA")
    completed = post(
        "/voice/status", call_form(call_sid, CallStatus="completed", CallDuration="42")
    )
    db.session.expire_all()
    ended_at = db.session.scalars(select(Call)).one().ended_at
    late = [
        post("/voice/status", call_form(call_sid, CallStatus=status))
        for status in ("ringing", "in-progress")
    ]

    assert [r.status_code for r in (completed, *late)] == [204, 204, 204]
    assert spooled(app) == []
    db.session.expire_all()
    call = db.session.scalars(select(Call)).one()
    assert (call.status, call.duration) == ("completed", 42)
    assert ended_at is not None
    assert call.ended_at == ended_at
    assert count(Ticket) == 0  # nothing asked for: a hang-up files no ticket


def test_timestamps_come_back_timezone_aware_utc(app, post, sms):
    before = datetime.now(UTC)
    call_sid = sid("CA")
    reach_voicemail(post, call_sid)
    post(RECORDING_CALLBACK, recording_form(call_sid, recording_sid := sid("RE")))
    after = datetime.now(UTC)
    db.session.remove()

    with db.engine.connect() as connection:
        column_type = connection.scalar(
            text(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
                " AND table_name = 'calls' AND column_name = 'started_at'"
            )
        )
        raw = connection.scalar(text("SELECT started_at FROM calls"))
    assert column_type == "timestamp with time zone"
    # The driver answers in the session's zone, far from UTC...
    assert raw.utcoffset() >= timedelta(hours=12)
    call = db.session.scalars(select(Call)).one()
    ticket = db.session.scalars(select(Ticket)).one()
    recording = db.session.scalars(
        select(Recording).filter_by(recording_sid=recording_sid)
    ).one()
    ticket_event = db.session.scalars(select(TicketEvent)).first()
    message = db.session.scalars(select(Message)).one()
    stamps = [
        call.started_at,
        ticket.created_at,
        ticket.updated_at,
        recording.created_at,
        ticket_event.at,
        message.created_at,
    ]
    # ...and the models give the same instant back in UTC.
    assert call.started_at == raw
    for stamp in stamps:
        assert stamp.tzinfo is UTC
        assert before - timedelta(seconds=1) <= stamp <= after + timedelta(seconds=1)


@pytest.mark.parametrize("first", ["action", "callback"], ids=lambda f: f"{f}-first")
def test_voicemail_action_racing_its_recording_callback_both_succeed(app, post, first):
    """Twilio posts the <Record> action and the recording callback close together.

    Both insert the recording and, the first time, the ticket. Here `first` runs
    until just before its second insert; the other starts then and runs until it
    waits on `first`'s uncommitted rows; then `first` goes on. Whatever the order,
    the caller must hear the reference and the callback must be applied.
    """
    call_sid, recording_sid = sid("CA"), sid("RE")
    reach_voicemail(post, call_sid)
    form = recording_form(call_sid, recording_sid)
    action_form = voicemail_action(call_sid, recording_sid, RecordingDuration="12")
    deliveries = {
        "action": (VOICEMAIL, action_form),
        "callback": (RECORDING_CALLBACK, form),
    }
    second = "callback" if first == "action" else "action"
    first_paused, resume_first, second_inserting = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    inserts: dict[str, list[str]] = {name: [] for name in deliveries}

    def choreograph(conn, cursor, statement, parameters, context, executemany):
        name = threading.current_thread().name
        if name not in inserts or not statement.startswith("INSERT INTO "):
            return
        table = statement.split()[2]
        if table not in ("tickets", "recordings"):
            return
        inserts[name].append(table)
        if name == first and len(inserts[name]) == 2:
            first_paused.set()
            resume_first.wait(timeout=10)
        elif name == second:
            second_inserting.set()

    outcomes: dict[str, TestResponse | BaseException] = {}

    def deliver(name: str) -> None:
        try:
            with app.app_context():
                client = app.test_client()
                if name == second:
                    first_paused.wait(timeout=10)
                outcomes[name] = signed_post(client, *deliveries[name])
        except BaseException as error:  # reported below, not lost in the thread
            outcomes[name] = error

    threads = [threading.Thread(target=deliver, args=(n,), name=n) for n in deliveries]
    event.listen(db.engine, "before_cursor_execute", choreograph)
    try:
        for thread in threads:
            thread.start()
        assert first_paused.wait(timeout=10), f"{first} never reached its 2nd insert"
        second_inserting.wait(timeout=5)
        time.sleep(0.3)  # let the second insert reach PostgreSQL and wait there
    finally:
        resume_first.set()
        for thread in threads:
            thread.join(timeout=30)
        event.remove(db.engine, "before_cursor_execute", choreograph)

    action, callback = outcomes["action"], outcomes["callback"]
    assert isinstance(callback, TestResponse), callback
    assert callback.status_code == 204
    assert spooled(app) == [], "the recording callback failed and was spooled"
    assert isinstance(action, TestResponse), action
    db.session.expire_all()
    ticket = db.session.scalars(select(Ticket)).one()
    assert spoken_reference(ticket.reference) in action.get_data(as_text=True)
    recording = db.session.scalars(select(Recording)).one()
    assert (recording.ticket_id, recording.status) == (ticket.id, "completed")
    assert actions(ticket).count("recording") == 1


def test_a_new_number_calling_on_several_lines_at_once_is_one_caller(app):
    """The first calls of a number, at the same instant: one caller, every call
    linked to it (a statement may not see the caller another one just added)."""
    forms = [call_form(sid("CA"), CallStatus="ringing") for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    outcomes: list[int | BaseException] = []

    def deliver(form: dict[str, str]) -> None:
        try:
            with app.app_context():
                client = app.test_client()
                start.wait(timeout=10)
                outcomes.append(
                    signed_post(client, "/voice/incoming", form).status_code
                )
        except BaseException as error:
            outcomes.append(error)

    workers = [threading.Thread(target=deliver, args=(f,)) for f in forms]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == [200] * THREADS
    db.session.expire_all()
    caller = db.session.scalars(select(Caller)).one()
    calls = db.session.scalars(select(Call)).all()
    assert len(calls) == THREADS
    assert {call.caller_id for call in calls} == {caller.id}


def test_the_connection_pool_is_sized_by_the_settings(app):
    assert db.engine.pool.size() == app.config["DATABASE_POOL_SIZE"] == 10
    assert db.engine.pool._max_overflow == app.config["DATABASE_MAX_OVERFLOW"]


def test_ticket_pages_and_the_purge_follow_their_keysets_on_postgres(app, client):
    # Cursors carry UTC instants; this session's zone is far from UTC.
    from recordings import retention
    from tests.factories import make_caller, make_ticket, make_token, make_user

    auth = {"Authorization": f"Bearer {make_token(make_user())}"}
    caller = make_caller(CALLER)
    instant = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    tickets = [make_ticket(caller, created_at=instant) for _ in range(3)]
    tickets.append(make_ticket(caller, created_at=instant - timedelta(seconds=1)))
    same_instant = sorted(tickets[:3], key=lambda t: t.id, reverse=True)
    expected = [t.display_reference for t in [*same_instant, tickets[3]]]
    seen, cursor = [], None
    for _ in range(4):
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/tickets?{query}", headers=auth).get_json()
        seen += [t["reference"] for t in body["tickets"]]
        cursor = body["next"]
    assert (seen, cursor) == (expected, None)

    app.config["RECORDINGS_RETENTION_DAYS"] = 30
    old = datetime.now(UTC) - timedelta(days=40)
    for number in range(5):
        db.session.add(
            Recording(
                recording_sid=sid("RE"),
                media_status="stored",
                created_at=old + timedelta(hours=number // 2),
            )
        )
    db.session.commit()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(retention, "BATCH", 2)
        found = retention.expired(app)
    assert len({item.recording.id for item in found}) == 5


def test_hang_up_after_the_category_files_it_in_that_category(app, post, sms):
    """The category is written in one statement on PostgreSQL; the hang-up's
    ticket must still find it."""
    call_sid = sid("CA")
    reach_voicemail(post, call_sid)
    response = post("/voice/status", call_form(call_sid, CallStatus="completed"))
    assert response.status_code == 204
    db.session.expire_all()
    call = db.session.scalars(select(Call)).one()
    assert (call.intent, call.intent_category) == ("complaint", "delay")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.category) == ("complaint", "delay")
    assert len(sms.sent) == 1


def test_a_callback_wish_never_replaces_a_complaint(app, post):
    call_sid = sid("CA")
    reach_voicemail(post, call_sid)
    # Out of hours the closed menu's message is a callback; the call stays a
    # complaint (the more specific wish).
    post("/voice/closed?lang=fr&attempt=3", call_form(call_sid, Digits="7"))
    db.session.expire_all()
    call = db.session.scalars(select(Call)).one()
    assert (call.intent, call.intent_category) == ("complaint", "delay")


def test_the_usual_end_of_a_complaint_call_takes_one_statement_each(
    app, post, sms, monkeypatch
):
    """The recording callback and the final status of a voicemail call are one
    UPDATE each on PostgreSQL: they must still leave what the longer path left,
    fetch the media once however often Twilio repeats, and end the call once."""
    fetches: list[int] = []
    monkeypatch.setattr("recordings.views.schedule_fetch", fetches.append)
    call_sid, recording_sid = sid("CA"), sid("RE")
    reach_voicemail(post, call_sid)
    assert post(VOICEMAIL, voicemail_action(call_sid, recording_sid)).status_code == 200
    statements: list[str] = []
    event.listen(
        db.engine,
        "before_cursor_execute",
        lambda *args: statements.append(args[2].split()[0]),
    )
    callbacks = [
        post(RECORDING_CALLBACK, recording_form(call_sid, recording_sid))
        for _ in range(2)
    ]
    ended = post(
        "/voice/status", call_form(call_sid, CallStatus="completed", CallDuration="31")
    )
    db.session.expire_all()
    ended_at = db.session.scalars(select(Call)).one().ended_at
    late = post(
        "/voice/status", call_form(call_sid, CallStatus="completed", CallDuration="31")
    )

    assert [r.status_code for r in (*callbacks, ended, late)] == [204] * 4
    assert statements[0] == "UPDATE"  # the first callback: one statement, no BEGIN
    db.session.expire_all()
    recording = db.session.scalars(select(Recording)).one()
    assert fetches == [recording.id]
    assert (recording.status, recording.media_status) == ("completed", "pending")
    assert (recording.duration, recording.channels, recording.source) == (
        12,
        1,
        "RecordVerb",
    )
    assert (
        recording.media_url == recording_form(call_sid, recording_sid)["RecordingUrl"]
    )
    call = db.session.scalars(select(Call)).one()
    assert (call.status, call.duration) == ("completed", 31)
    assert call.ended_at == ended_at is not None  # a repeated end changes nothing
    ticket = db.session.scalars(select(Ticket)).one()
    assert actions(ticket).count("recording") == 1
    assert len(sms.sent) == 1
