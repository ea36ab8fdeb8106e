"""`flask seed-demo`: a living centre, seeded once, whose recordings play."""

import time
import wave
from datetime import datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import func, select

from app import demo
from app.extensions import db
from app.models import (
    Call,
    Caller,
    FocalPoint,
    Message,
    Recording,
    Service,
    SlaAlert,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from app.models.types import utcnow
from tests.factories import make_token
from tests.test_migrations import flask_env, postgres_schema, run_flask


@pytest.fixture
def seeded(runner):
    started = time.monotonic()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    # ~10 s on a laptop, however slow the shared test machine is.
    assert time.monotonic() - started < 30
    return result.output


def counts() -> dict[str, int]:
    tables = (
        User, Service, FocalPoint, Caller, Ticket, TicketEvent, Message, Call,
        Recording, SlaAlert,
    )  # fmt: skip
    return {
        table.__name__: db.session.scalar(select(func.count()).select_from(table))
        for table in tables
    }


def _every_status_channel_and_priority_is_there(seeded):
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) >= 30
    assert {t.status for t in tickets} == {s.value for s in TicketStatus}
    assert {t.channel for t in tickets} == set(demo.CHANNELS)
    assert {t.priority for t in tickets} == {"low", "normal", "high", "urgent"}
    assert len({t.category for t in tickets}) >= 5
    assert any(t.appeal for t in tickets)
    assert "demo: 35 tickets" in seeded


def _histories_were_made_by_the_service_functions(seeded):
    actions = db.session.scalars(select(TicketEvent.action)).all()
    for action in ("created", "status", "assigned", "service", "note", "resolution"):
        assert action in actions
    assert "rating" in actions  # texted by the callers
    notes = db.session.scalars(
        select(TicketEvent.detail).where(TicketEvent.action == "note")
    ).all()
    assert {note.get("visibility") for note in notes} >= {"internal", "public"}
    # The SMS the stories wrote, and the callers' answers.
    assert db.session.scalar(select(func.count()).where(Message.direction == "inbound"))


def _some_are_overdue_and_escalated(seeded):
    now = utcnow()
    tickets = db.session.scalars(select(Ticket)).all()
    late = [
        t
        for t in tickets
        if t.status not in ("waiting", "resolved", "closed")
        and (
            (
                t.take_charge_met is None
                and t.take_charge_due
                and t.take_charge_due < now
            )
            or (t.resolve_met is None and t.resolve_due and t.resolve_due < now)
        )
    ]
    assert late
    assert any(t.escalation_level > 0 for t in tickets)
    assert db.session.scalar(select(func.count()).select_from(SlaAlert))
    # The stories happened on their own days, not all just now.
    assert min(t.created_at for t in tickets) < now - timedelta(days=20)
    assert max(t.created_at for t in tickets) > now - timedelta(hours=3)


def _services_focal_points_and_people(seeded):
    for key in ("pensions", "salaires", "accueil"):
        service = db.session.scalar(select(Service).filter_by(key=key))
        heads = db.session.scalars(
            select(FocalPoint).filter_by(service_id=service.id, head=True)
        ).all()
        assert len(heads) == 1
    agent = db.session.scalar(select(User).filter_by(email="agent@ecoute.local"))
    assert {s.key for s in agent.services} == {"pensions", "accueil"}
    # One person, two numbers: the second points at the profile.
    first, second = demo.PEOPLE[0].phones
    root = db.session.scalar(select(Caller).filter_by(phone_e164=first))
    other = db.session.scalar(select(Caller).filter_by(phone_e164=second))
    assert (root.name, root.matricule) == (demo.PEOPLE[0].name, "1234567A")
    assert other.person_id == root.id


def test_the_demo_is_a_working_centre(seeded):
    """One seeding, looked at from every side (each seeding takes seconds)."""
    _every_status_channel_and_priority_is_there(seeded)
    _histories_were_made_by_the_service_functions(seeded)
    _some_are_overdue_and_escalated(seeded)
    _services_focal_points_and_people(seeded)


def test_every_figure_of_the_statistics_has_something_to_count(client, seeded):
    """The demo's month on the dashboard is alive: each kind of call is there
    (the oldest story began 30 days ago, some hours before this hour)."""
    supervisor = db.session.scalar(
        select(User).filter_by(email="superviseur@ecoute.local")
    )
    headers = {"Authorization": f"Bearer {make_token(supervisor)}"}
    today = datetime.now(ZoneInfo(client.application.config["CENTRE_TIMEZONE"]))
    period = {
        "from": (today - timedelta(days=31)).date().isoformat(),
        "to": today.date().isoformat(),
    }
    answer = client.get("/api/stats", query_string=period, headers=headers)
    assert answer.status_code == 200, answer.json
    calls, tickets = answer.json["calls"], answer.json["tickets"]
    for outcome in ("answered", "abandoned", "short_abandoned", "self_service"):
        assert calls[outcome] > 0, outcome
    assert calls["voicemails"] > 0
    assert 0 < calls["abandonment_rate"] < 1
    assert 0 < calls["service_level"] < 1
    assert calls["asa_seconds"] > 0
    assert calls["aht_seconds"] > 0
    assert tickets["created"] == 35
    assert tickets["resolved"] > 0
    assert tickets["take_charge_met_rate"] is not None
    assert tickets["resolve_met_rate"] is not None
    assert answer.json["satisfaction"]["csat"] is not None


def test_seeding_twice_adds_nothing(runner, seeded):
    before = counts()
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "agent@ecoute.local" in again.output
    assert counts() == before


def test_a_recording_plays_through_the_api(client, seeded):
    supervisor = db.session.scalar(
        select(User).filter_by(email="superviseur@ecoute.local")
    )
    headers = {"Authorization": f"Bearer {make_token(supervisor)}"}
    recordings = db.session.scalars(select(Recording)).all()
    assert recordings
    assert all(r.ticket_id for r in recordings)
    for recording in recordings:
        with client.get(
            f"/api/recordings/{recording.id}/audio", headers=headers
        ) as audio:
            assert audio.status_code == 200
            assert audio.mimetype == "audio/wav"
            data = audio.data
        with wave.open(BytesIO(data)) as wav:
            assert wav.getnframes() / wav.getframerate() >= 1
    with client.get(
        f"/api/recordings/{recordings[0].id}/audio",
        headers={**headers, "Range": "bytes=0-99"},
    ) as part:
        assert part.status_code == 206
        assert len(part.data) == 100
    # The agent who took a call may listen to it too.
    agent = db.session.scalar(select(User).filter_by(email="agent@ecoute.local"))
    taken = db.session.scalars(
        select(Recording).join(Call).where(Call.agent_id == agent.id)
    ).all()
    assert taken
    headers = {"Authorization": f"Bearer {make_token(agent)}"}
    with client.get(f"/api/recordings/{taken[0].id}/audio", headers=headers) as audio:
        assert audio.status_code == 200


def test_without_espeak_a_tone_is_made(monkeypatch):
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)
    with wave.open(BytesIO(demo.spoken_wav("Bonjour"))) as wav:
        assert wav.getnchannels() == 1
        assert wav.getnframes() / wav.getframerate() == pytest.approx(3.0)


def test_espeak_speaks_when_installed():
    if demo.shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed here: the tone is used")
    audio = demo.spoken_wav("Bonjour, ceci est un essai.")
    with wave.open(BytesIO(audio)) as wav:
        assert wav.getnframes() > 0


@pytest.mark.postgres
def test_the_real_command_seeds_postgresql_once(tmp_path):
    """`flask seed-demo` as `make run` runs it, on a migrated PostgreSQL schema."""
    with postgres_schema() as url:
        env = flask_env(
            tmp_path / "instance",
            DATABASE_URL=url,
            RECORDINGS_DIR=str(tmp_path / "recordings"),
        )
        run_flask("db", "upgrade", env=env)
        first = run_flask("seed-demo", env=env)
        assert "demo: 35 tickets" in first.stdout
        again = run_flask("seed-demo", env=env)
        assert "demo:" not in again.stdout
        assert "agent@ecoute.local" in again.stdout
        with psycopg.connect(url) as connection:
            statuses = connection.execute(
                "SELECT DISTINCT status FROM tickets"
            ).fetchall()
            stored = connection.execute(
                "SELECT count(*) FROM recordings WHERE media_status = 'stored'"
            ).fetchone()[0]
        assert {row[0] for row in statuses} == {s.value for s in TicketStatus}
        assert stored == 5
        assert len(list((tmp_path / "recordings").glob("*.wav"))) == 5
