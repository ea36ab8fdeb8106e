"""What a caller reads: one acknowledgment after a call with an agent, one text for
several changes, nothing after the satisfaction question, numbers as people write them.

Driven through the real entry points (signed voice and SMS webhooks, the JSON
API, `flask sms flush`); the clock of the outbox is moved instead of waiting.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role, Ticket
from app.queue import InProcessScheduler, JobQueue, _periodic_jobs
from app.services.presence import set_status
from app.sms_text import sms_texts
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.twiml import parse

ACK = "Centre d'écoute: votre demande est enregistrée sous le no {}. Gardez ce numéro pour la suivre."  # noqa: E501
IN_PROGRESS = "Centre d'écoute: votre dossier {} est en cours de traitement."
ASSIGNED = "Centre d'écoute: votre dossier {} est transmis au service compétent."
RESOLVED = "Centre d'écoute: votre dossier {} est résolu. Le virement est parti."
SATISFACTION = (
    "Etes-vous satisfait du traitement du dossier {} ? "
    "Répondez de 1 (pas du tout) à 5 (très satisfait)."
)


class Clock:
    """The outbox's clock (what is due, what a job may claim), moved forward."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        for name in ("app.services.followups.utcnow", "app.jobs.utcnow"):
            monkeypatch.setattr(name, self.now)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def forward(self, minutes: float) -> None:
        self.offset += timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def staff(app) -> dict[str, str]:
    make_user("agent@example.org", Role.AGENT)
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(chief)}"}


@pytest.fixture
def patch(client, staff):
    def change(ticket: Ticket, **fields) -> dict:
        response = client.patch(
            f"/api/tickets/{ticket.reference}", json=fields, headers=staff
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return change


def flush(runner) -> None:
    assert runner.invoke(args=["sms", "flush"]).exit_code == 0


def bodies(sms) -> list[str]:
    return [message["body"] for message in sms.sent]


def outbox() -> list[tuple[str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(select(Message).order_by(Message.id))
    return [(row.template, row.status) for row in rows]


# --- a call an agent answers ----------------------------------------------------


def call_answered_by_an_agent(twilio_post) -> tuple[dict[str, str], dict[str, str]]:
    """The caller presses 0, the agent answers: (the caller's call, the agent's leg)."""
    agent = make_user("awa@example.org", Role.AGENT)
    set_status(agent, "available")
    db.session.commit()
    call = {"CallSid": sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **call, CallStatus="ringing")
    twilio_post("/voice/menu?lang=fr&attempt=1", **call, Digits="0")
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": call["CallSid"],
        "To": f"client:{agent.identity}",
    }
    twilio_post("/voice/agent-status", **leg, CallStatus="in-progress")
    return call, leg


def test_a_call_an_agent_takes_is_acknowledged_once_when_it_ends(
    twilio_post, sms, patch, clock, runner
):
    call, leg = call_answered_by_an_agent(twilio_post)
    twilio_post("/voice/agent-status", **leg, CallStatus="in-progress")  # again
    ticket = db.session.scalars(select(Ticket)).one()
    reference = ticket.display_reference
    patch(ticket, status="in_progress", category="payment")  # while they talk
    flush(runner)
    assert sms.sent == []  # nothing while the agent is talking
    assert outbox() == [("acknowledgment", "held"), ("status_changed", "held")]

    twilio_post("/voice/agent-status", **leg, CallStatus="completed")
    twilio_post("/voice/status", **call, CallStatus="completed", CallDuration="95")
    assert bodies(sms) == [ACK.format(reference)]
    assert sms.sent[0]["to"] == CALLER

    twilio_post("/voice/status", **call, CallStatus="completed")  # Twilio again
    flush(runner)
    assert bodies(sms) == [ACK.format(reference)]  # never twice

    clock.forward(4)  # the progress text made during the call waited its turn
    flush(runner)
    assert bodies(sms) == [ACK.format(reference), IN_PROGRESS.format(reference)]


def test_a_lost_end_of_call_still_releases_the_acknowledgment(
    twilio_post, sms, clock, runner
):
    call_answered_by_an_agent(twilio_post)
    reference = db.session.scalars(select(Ticket)).one().display_reference
    clock.forward(60)
    flush(runner)
    assert sms.sent == []  # the call may well still be going on
    clock.forward(4 * 60)  # longer than Twilio lets a call last
    flush(runner)
    assert bodies(sms) == [ACK.format(reference)]


def test_an_end_reported_before_the_answer_still_texts_once(twilio_post, sms):
    agent = make_user("awa@example.org", Role.AGENT)
    set_status(agent, "available")
    db.session.commit()
    call = {"CallSid": sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **call, CallStatus="ringing")
    twilio_post("/voice/menu?lang=fr&attempt=1", **call, Digits="0")
    twilio_post("/voice/status", **call, CallStatus="completed")
    leg = {"CallSid": sid("CA"), "ParentCallSid": call["CallSid"]}
    twilio_post(
        "/voice/agent-status",
        **leg,
        To=f"client:{agent.identity}",
        CallStatus="in-progress",
    )  # late
    references = [t.display_reference for t in db.session.scalars(select(Ticket))]
    assert len(references) == 1
    assert bodies(sms) == [ACK.format(references[0])]


# --- changes made by staff --------------------------------------------------------


def test_several_changes_within_minutes_make_one_text(sms, patch, clock, runner):
    ticket = make_ticket(make_caller(), line=LINE)
    reference = ticket.display_reference
    patch(ticket, assignee="agent@example.org")
    clock.forward(1)
    patch(ticket, category="payment")  # no text of its own
    clock.forward(1)
    patch(ticket, status="in_progress", note="Dossier reçu du Trésor.")
    flush(runner)
    assert sms.sent == []
    assert outbox() == [("status_changed", "queued")]  # one row, rewritten

    clock.forward(2)  # three minutes after the last change, not the first
    flush(runner)
    assert sms.sent == []
    clock.forward(1.5)
    flush(runner)
    flush(runner)  # a duplicate flush, a late job: the claim lets one through
    assert bodies(sms) == [IN_PROGRESS.format(reference)]

    patch(ticket, status="assigned")  # later news is a new text
    clock.forward(4)
    flush(runner)
    assert bodies(sms) == [IN_PROGRESS.format(reference), ASSIGNED.format(reference)]


def test_a_ticket_never_quiet_still_gets_its_text_within_the_cap(
    sms, patch, clock, runner
):
    ticket = make_ticket(make_caller(), line=LINE)
    first_text_at = None
    for minute in range(0, 24, 2):  # a change every two minutes
        patch(ticket, status="in_progress" if minute % 4 else "assigned")
        clock.forward(2)
        flush(runner)
        if sms.sent and first_text_at is None:
            first_text_at = minute + 2
    # Held five windows (15 minutes) after the first change at most.
    assert first_text_at == 16
    assert bodies(sms) == [IN_PROGRESS.format(ticket.display_reference)]  # the last
    assert outbox() == [("status_changed", "sending"), ("status_changed", "queued")]


def test_the_resolution_goes_at_once_and_replaces_a_waiting_progress_text(
    sms, patch, clock, runner
):
    ticket = make_ticket(make_caller(), line=LINE)
    reference = ticket.display_reference
    patch(ticket, status="in_progress")
    patch(ticket, status="resolved", resolution="Le virement est parti.")
    assert bodies(sms) == [RESOLVED.format(reference), SATISFACTION.format(reference)]
    clock.forward(10)
    flush(runner)
    assert len(sms.sent) == 2
    assert outbox() == [
        ("status_changed", "superseded"),
        ("resolved", "sending"),
        ("satisfaction", "sending"),
    ]
    events = [e.action for e in db.session.get(Ticket, ticket.id).events]
    assert "sms_superseded" in events


def test_closing_a_resolved_ticket_sends_nothing_more(sms, patch, clock, runner):
    ticket = make_ticket(make_caller(), line=LINE)
    reference = ticket.display_reference
    patch(ticket, status="resolved", resolution="Le virement est parti.")
    patch(ticket, status="closed")
    clock.forward(10)
    flush(runner)
    assert bodies(sms) == [RESOLVED.format(reference), SATISFACTION.format(reference)]
    assert [template for template, _ in outbox()] == ["resolved", "satisfaction"]


def test_closing_an_unresolved_ticket_still_says_so(sms, patch, clock, runner):
    ticket = make_ticket(make_caller(), line=LINE)
    patch(ticket, status="closed")
    clock.forward(4)
    flush(runner)
    assert bodies(sms) == [
        f"Centre d'écoute: votre dossier {ticket.display_reference} est cloturé."
    ]


def test_the_embedded_default_sends_the_merged_text_from_its_scheduler(
    app, sms, patch, monkeypatch
):
    """No REDIS_URL: jobs in process, a text for later sent by the process's
    scheduler thread once due."""
    queue = JobQueue(None, (1,), 30)
    queue.scheduler = InProcessScheduler(app, _periodic_jobs(app), 0.2)
    monkeypatch.setitem(app.extensions, "rq", queue)
    app.config["SMS_DEBOUNCE_SECONDS"] = 1
    ticket = make_ticket(make_caller(), line=LINE)
    patch(ticket, assignee="agent@example.org")
    patch(ticket, status="in_progress")
    assert sms.sent == []
    deadline = time.monotonic() + 10
    while not sms.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # room for a second text, were there one
    queue.scheduler.stop()
    assert bodies(sms) == [IN_PROGRESS.format(ticket.display_reference)]


# --- numbers as callers write them ---------------------------------------------------


def test_the_line_is_written_in_its_national_form(twilio_post, sms):
    ticket = make_ticket(make_caller(), line=LINE)
    response = twilio_post(
        "/sms/incoming",
        MessageSid=sid("SM"),
        From="+2290196000000",  # not the phone that filed it
        To=LINE,
        Body=f"Où en est {ticket.display_reference} ?",
    )
    [reply] = [m.text for m in parse(response.data).iter("Message")]
    assert reply.endswith(" Suivi: 01 21 30 00 00.")


def test_numbers_of_another_country_keep_their_prefix(app):
    render = sms_texts().render
    values = {"reference": "1234-5674"}
    assert "Suivi: 01 21 30 00 00." in render(
        "new_ticket", "fr", region="BJ", line="+2290121300000", **values
    )
    assert "Suivi: +33 1 42 68 53 00." in render(
        "new_ticket", "fr", region="BJ", line="+33142685300", **values
    )
