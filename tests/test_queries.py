"""Queries that hold at a million tickets: statement counts that do not grow with
the rows, bounded histories, one-query lookups, purge chosen by the database."""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.lines import Lines
from app.models import Call, Message, Recording, Role, Service, Ticket
from app.services import work_queue
from app.services.callers import HISTORY_LIMIT, history_for
from app.services.inbound import _awaiting_rating
from recordings.retention import expired
from tests.conftest import CALLER, HOTLINE, LINE
from tests.factories import (
    PASSWORD,
    make_caller,
    make_ticket,
    make_token,
    make_user,
    sid,
)


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def fill(count: int, service_of_agent: Service | None = None) -> None:
    """`count` tickets, each with its own caller, assignee and service (the worst
    case for lazy loading: nothing is found in the session twice)."""
    for number in range(count):
        caller = make_caller(f"+22901970{number:05d}")
        service = service_of_agent or Service(key=f"s{number}", name=f"S {number}")
        db.session.add(service)
        assignee = make_user(f"agent{number}@example.org", Role.AGENT)
        make_ticket(caller, line=LINE, assignee_id=assignee.id, service=service)
    # The request starts from nothing, as a real one does.
    db.session.expunge_all()


@pytest.fixture
def staff(app) -> dict[str, str]:
    """Bearer headers of a supervisor and of an agent of the "pensions" service."""
    pensions = Service(key="pensions", name="Pensions")
    db.session.add(pensions)
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    return {
        "supervisor": make_token(supervisor),
        "agent": make_token(agent),
        "pensions": pensions.id,
    }


# At most: the token, its user, the page (the agent's visibility is a subquery).
API_STATEMENTS = 3


@pytest.mark.parametrize("who", ["supervisor", "agent"])
@pytest.mark.parametrize("count", [1, 100])
def test_the_ticket_list_costs_the_same_few_queries_for_1_or_100_rows(
    client, staff, who, count
):
    fill(count, db.session.get(Service, staff["pensions"]) if who == "agent" else None)
    with counting() as statements:
        response = client.get(
            "/api/tickets?limit=100",
            headers={"Authorization": f"Bearer {staff[who]}"},
        )
    body = response.get_json()
    assert response.status_code == 200
    assert len(body["tickets"]) == count
    assert all(t["phone"] and t["assignee"] and t["service"] for t in body["tickets"])
    assert len(statements) <= API_STATEMENTS, statements


@pytest.mark.parametrize("count", [1, 100])
def test_the_work_queue_costs_the_same_few_queries_for_1_or_100_rows(
    app, client, count
):
    make_user("chef@example.org", Role.SUPERVISOR)
    fill(count)
    login = client.post(
        "/login", data={"email": "chef@example.org", "password": PASSWORD}
    )
    assert login.status_code == 302
    with counting() as statements:
        page = client.get("/").get_data(as_text=True)
    assert page.count("+22901970") == min(count, work_queue.PAGE_SIZE)
    # The signed-in user, the form's services and people, the page, its counts.
    assert len(statements) <= 5, statements


@pytest.mark.parametrize("count", [1, 20])
def test_a_tickets_detail_does_not_load_each_recordings_call_apart(
    client, staff, count
):
    ticket = make_ticket(make_caller())
    for _ in range(count):
        call = Call(call_sid=sid("CA"), line=LINE)
        db.session.add(
            Recording(recording_sid=sid("RE"), call=call, ticket_id=ticket.id)
        )
    db.session.commit()
    reference = ticket.display_reference
    db.session.expunge_all()
    with counting() as statements:
        response = client.get(
            f"/api/tickets/{reference}",
            headers={"Authorization": f"Bearer {staff['supervisor']}"},
        )
    assert all(r["call_sid"] for r in response.get_json()["recordings"])
    # Token, user, ticket, its caller, events, calls, recordings, messages.
    assert len(statements) <= 8, statements


# --- the screen-pop --------------------------------------------------------------


def test_history_shows_the_newest_of_each_kind_in_a_constant_number_of_queries(
    app, staff
):
    caller = make_caller(CALLER)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    extra = 7
    for number in range(HISTORY_LIMIT + extra):
        moment = start + timedelta(hours=number)
        service = Service(key=f"s{number}", name=f"S {number}")
        assignee = make_user(f"agent{number}@example.org", Role.AGENT)
        make_ticket(caller, created_at=moment, service=service, assignee_id=assignee.id)
        call = Call(call_sid=sid("CA"), caller=caller, line=LINE, started_at=moment)
        text = Message(
            caller_id=caller.id, to_number=CALLER, body=f"n{number}", created_at=moment
        )
        db.session.add_all([call, text])
    db.session.commit()
    db.session.expunge_all()
    with counting() as statements:
        history = history_for(CALLER)
    # The caller; tickets with their links; calls; messages.
    assert len(statements) == 4, statements
    for kind, stamp in (
        ("tickets", "created_at"),
        ("calls", "started_at"),
        ("messages", "created_at"),
    ):
        shown = [item[stamp] for item in history[kind]]
        assert len(shown) == HISTORY_LIMIT, kind
        assert shown == sorted(shown, reverse=True), kind
        newest = start + timedelta(hours=HISTORY_LIMIT + extra - 1)
        assert shown[0] == newest.isoformat(), kind
    assert history["messages"][-1]["body"] == f"n{extra}"


def test_history_api_is_bounded_too(client, staff):
    caller = make_caller(CALLER)
    for _ in range(HISTORY_LIMIT + 1):
        make_ticket(caller)
    response = client.get(
        f"/api/callers/{CALLER}/history",
        headers={"Authorization": f"Bearer {staff['supervisor']}"},
    )
    assert len(response.get_json()["tickets"]) == HISTORY_LIMIT


# --- the satisfaction rating -------------------------------------------------------


def ticket_with(caller, *actions: str, hours_ago: int = 0) -> Ticket:
    ticket = make_ticket(caller)
    for action in actions:
        ticket.record(action, "system")
    ticket.updated_at = datetime.now(UTC) - timedelta(hours=hours_ago)
    db.session.commit()
    return ticket


def awaiting(caller) -> Ticket | None:
    db.session.expire_all()  # nothing of the histories already in the session
    assert caller.id
    with counting() as statements:
        found = _awaiting_rating(caller)
    assert len(statements) == 1, statements
    return found


def test_awaiting_a_rating_is_the_latest_ticket_that_asked_and_was_not_rated(app):
    caller = make_caller(CALLER)
    assert awaiting(caller) is None  # no ticket at all
    ticket_with(caller, "noted", hours_ago=1)
    assert awaiting(caller) is None  # none asked
    asked = ticket_with(caller, "resolved", "satisfaction_asked", hours_ago=3)
    assert awaiting(caller).id == asked.id  # a newer ticket that never asked
    asked.record("rating", "caller")
    db.session.commit()
    assert awaiting(caller) is None
    asked.record("satisfaction_asked", "system")  # reopened, resolved, asked again
    db.session.commit()
    assert awaiting(caller).id == asked.id


def test_a_rated_latest_ticket_hides_an_older_unrated_one(app):
    # As before: a digit is never taken as the rating of an older ticket.
    caller = make_caller(CALLER)
    ticket_with(caller, "satisfaction_asked", hours_ago=5)
    ticket_with(caller, "satisfaction_asked", "rating", hours_ago=1)
    assert awaiting(caller) is None
    other = make_caller("+2290167000000")
    ticket_with(other, "satisfaction_asked", "rating")
    assert awaiting(other) is None


def test_the_rating_looks_only_at_the_callers_own_tickets(app):
    caller = make_caller(CALLER)
    ticket_with(make_caller("+2290167000000"), "satisfaction_asked")
    assert awaiting(caller) is None


# --- the retention purge ------------------------------------------------------------


def stored_recording(line: str | None, days_old: int) -> Recording:
    call = None
    if line is not None:
        call = Call(call_sid=sid("CA"), line=line)
        db.session.add(call)
    recording = Recording(
        recording_sid=sid("RE"),
        call=call,
        media_status="stored",
        created_at=datetime.now(UTC) - timedelta(days=days_old),
    )
    db.session.add(recording)
    db.session.commit()
    return recording


def test_the_purge_selects_by_line_retention_in_one_query(app, monkeypatch):
    lines = app.extensions["lines"]
    hotline = dataclasses.replace(lines.by_number[HOTLINE], retention_days=10)
    forever = dataclasses.replace(lines.by_number[LINE], retention_days=0)
    by_number = {**lines.by_number, LINE: forever, HOTLINE: hotline}
    monkeypatch.setitem(
        app.extensions, "lines", Lines(tuple(by_number.values()), by_number)
    )
    app.config["RECORDINGS_RETENTION_DAYS"] = 30
    old_hotline = stored_recording(HOTLINE, 11)
    stored_recording(HOTLINE, 9)
    stored_recording(LINE, 4000)  # this line keeps forever
    old_elsewhere = stored_recording("+2290100000000", 31)  # unknown: the default
    stored_recording("+2290100000000", 29)
    no_call = stored_recording(None, 31)
    pending = stored_recording(None, 400)
    pending.media_status = "pending"
    db.session.commit()
    with counting() as statements:
        found = expired(app)
    assert len(statements) == 1
    # Oldest first.
    assert [item.recording.id for item in found] == [
        old_elsewhere.id,
        no_call.id,
        old_hotline.id,
    ]
    assert [(item.line, item.age_days) for item in found] == [
        ("+2290100000000", 31),
        (None, 31),
        (HOTLINE, 11),
    ]


def test_the_purge_reads_its_selection_in_batches(app, monkeypatch):
    monkeypatch.setattr("recordings.retention.BATCH", 2)
    app.config["RECORDINGS_RETENTION_DAYS"] = 30
    old = [stored_recording(None, days) for days in (35, 40, 31, 50, 33)]
    stored_recording(None, 10)
    with counting() as statements:
        found = expired(app)
    assert len(statements) == 3  # 2 + 2 + 1
    oldest_first = sorted(old, key=lambda recording: recording.created_at)
    assert [item.recording.id for item in found] == [r.id for r in oldest_first]
