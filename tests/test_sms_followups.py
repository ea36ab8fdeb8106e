"""SMS follow-ups: templates, GSM-7, the outbox, retries, quiet hours, channels."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import claim_lease, mark_failed, send_message
from app.lines import load_lines
from app.models import Message, Role
from app.models.types import utcnow
from app.services import followups
from app.services.followups import _addresses
from app.sms_text import TEMPLATES, load_sms_texts, segments, to_gsm7
from config import ROOT
from tests.conftest import CALLER, HOTLINE, LINE, twilio_error
from tests.factories import make_caller, make_ticket, make_token, make_user

TEXTS = load_sms_texts(ROOT / "config" / "sms.yaml")
VALUES = {
    "reference": "1234-5674",
    "status": "en cours de traitement",
    "date": "22 novembre 2026",
    "note": "Le virement a été fait le 20 novembre.",
    "line": "+2290121300000",
}


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_in_one_gsm7_segment(template, lang, caplog):
    text = TEXTS.render(template, lang, **VALUES)
    assert segments(text) == ("GSM-7", 1), text
    assert "{" not in text
    assert "segments" not in caplog.text


def test_transliteration_keeps_gsm7_accents_and_replaces_the_others():
    assert to_gsm7("Êtes-vous sûr ? Reçu à l'hôpital, élève, où, naïf") == (
        "Etes-vous sur ? Recu à l'hopital, élève, où, naif"
    )
    assert to_gsm7("l\u2019œuvre \u00abn\u00b0 5\u00bb \u2013 fin\u2026") == (
        'l\'oeuvre "no 5" - fin...'
    )
    assert segments("Reçu")[0] == "UCS-2"
    assert segments(to_gsm7("Reçu"))[0] == "GSM-7"


def test_segment_counts_follow_the_network_rules():
    assert segments("a" * 160) == ("GSM-7", 1)
    assert segments("a" * 161) == ("GSM-7", 2)
    assert segments("€" * 80) == ("GSM-7", 1)  # extension characters count twice
    assert segments("ê" * 70) == ("UCS-2", 1)
    assert segments("ê" * 71) == ("UCS-2", 2)


def test_a_line_may_keep_accents(tmp_path):
    text = TEXTS.render("satisfaction", "fr", accents=True, **VALUES)
    assert text.startswith("Êtes-vous")
    assert segments(text)[0] == "UCS-2"


def test_long_message_is_logged_as_several_segments(caplog):
    TEXTS.render("resolved", "fr", **{**VALUES, "note": "x" * 200})
    assert "needs 2 GSM-7 segments" in caplog.text


@pytest.fixture
def supervisor_auth(app):
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


def test_each_ticket_event_sends_its_template_in_the_callers_language(
    client, sms, supervisor_auth, runner, monkeypatch
):
    now = [datetime.now(UTC)]
    # Progress texts wait a few minutes for the next change: the clock moves on.
    for name in ("app.services.followups.utcnow", "app.jobs.utcnow"):
        monkeypatch.setattr(name, lambda: now[0])
    make_user("agent@example.org")
    ticket = make_ticket(make_caller(), line=LINE, language="en")
    path = f"/api/tickets/{ticket.reference}"
    client.patch(path, json={"assignee": "agent@example.org"}, headers=supervisor_auth)
    now[0] += timedelta(minutes=5)
    runner.invoke(args=["sms", "flush"])
    client.patch(path, json={"status": "in_progress"}, headers=supervisor_auth)
    now[0] += timedelta(minutes=5)
    runner.invoke(args=["sms", "flush"])
    client.patch(
        path,
        json={"status": "resolved", "resolution": "Paid."},
        headers=supervisor_auth,
    )
    bodies = [message["body"] for message in sms.sent]
    assert bodies[0].startswith(
        f"Listening centre: your request {ticket.display_reference} has been passed"
    )
    assert bodies[1].endswith("is being handled.")
    assert "is resolved. Paid." in bodies[2]
    assert bodies[3].startswith("Are you satisfied")
    rows = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert [row.template for row in rows] == [
        "assigned",
        "status_changed",
        "resolved",
        "satisfaction",
    ]
    history = client.get(path, headers=supervisor_auth).get_json()
    assert [m["status"] for m in history["messages"]] == ["sending"] * 4


def test_a_retryable_error_is_an_attempt_the_row_schedules_with_back_off(app, sms):
    app.config["SMS_RETRY_SECONDS"] = 10
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    db.session.commit()
    for attempt, error in enumerate(
        (twilio_error(429, 20429), twilio_error(503, 503)), start=1
    ):
        sms.fail_with.append(error)
        started = utcnow()
        send_message(message.id)  # never raises: the row owns its retries
        db.session.refresh(message)
        assert (message.status, message.message_sid) == ("queued", None)
        assert message.attempts == attempt
        assert str(error.status) in message.last_error
        wait = (message.next_attempt_at - started).total_seconds()
        assert 10 * 2 ** (attempt - 1) * 0.5 - 1 <= wait <= 10 * 2 ** (attempt - 1)
        send_message(message.id)  # not due yet: nothing goes
        assert sms.sent == []
        message.next_attempt_at = utcnow()
        db.session.commit()
    send_message(message.id)
    db.session.refresh(message)
    assert message.message_sid is not None
    assert (message.attempts, message.last_error) == (3, None)
    assert len(sms.sent) == 1


def test_a_lost_answer_makes_the_next_attempt_ask_twilio_first(app, sms):
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    db.session.commit()
    sms.fail_with.append(ConnectionError("reset"))
    send_message(message.id)
    db.session.refresh(message)
    # It may have left: still `sending`, its claim already stale, due later.
    assert message.status == "sending"
    assert message.next_attempt_at > utcnow()
    message.next_attempt_at = utcnow()
    sms.fail_with.append(twilio_error(503, 20503))  # the listing fails: wait
    db.session.commit()
    send_message(message.id)
    db.session.refresh(message)
    assert (message.status, message.attempts) == ("sending", 1)
    assert "could not ask Twilio" in message.last_error
    assert sms.sent == []
    message.next_attempt_at = utcnow()
    db.session.commit()
    send_message(message.id)  # Twilio says it never came: sent now, once
    assert len(sms.sent) == 1


def test_attempts_run_out_and_the_ticket_says_so(app, sms):
    app.config["SMS_MAX_ATTEMPTS"] = 2
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    db.session.commit()
    sms.fail_with.extend([twilio_error(500, 20500), twilio_error(500, 20500)])
    send_message(message.id)
    message.next_attempt_at = utcnow()
    db.session.commit()
    send_message(message.id)
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("failed", "retries_exhausted")
    assert message.attempts == 2
    failed = ticket.events[-1]
    assert failed.action == "sms_failed"
    assert failed.detail["attempts"] == 2
    assert sms.sent == []


@pytest.mark.parametrize(("status", "code"), [(400, 21211), (400, 21610), (403, 21408)])
def test_permanent_error_fails_once_without_retry(app, sms, status, code):
    caller = make_caller()
    ticket = make_ticket(caller, line=LINE)
    message = followups.acknowledge(ticket)
    db.session.commit()
    sms.fail_with.append(twilio_error(status, code))
    send_message(message.id)  # does not raise: RQ must not retry
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("failed", str(code))
    assert ticket.events[-1].action == "sms_failed"
    assert caller.sms_opt_out is (code == 21610)


def test_a_sent_or_claimed_message_is_never_sent_twice(app, sms):
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    db.session.commit()
    send_message(message.id)
    send_message(message.id)  # a duplicate job or a flush after success
    assert len(sms.sent) == 1
    other = followups.notify(ticket, "assigned")
    other.send_after = None
    other.status, other.claimed_at = "sending", datetime.now(UTC)
    db.session.commit()
    send_message(other.id)  # another job holds it
    assert len(sms.sent) == 1
    other.claimed_at = datetime.now(UTC) - timedelta(minutes=11)
    db.session.commit()
    send_message(other.id)  # that job died before Twilio had it: sent now
    assert len(sms.sent) == 2
    same = followups.acknowledge(ticket)  # the first text's body, its own row
    same.status, same.claimed_at = "sending", datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    send_message(same.id)  # Twilio's match is the first row's: this one goes
    assert len(sms.sent) == 3
    again = followups.notify(ticket, "resolved", note="done")
    again.status, again.claimed_at = "sending", datetime.now(UTC) - timedelta(hours=1)
    again.send_after = None
    db.session.commit()
    # Its job died after Twilio took it, before the SID was written.
    sms.sent.append({"to": again.to_number, "body": again.body, "from": None})
    send_message(again.id)  # found at Twilio: recorded, not sent again
    db.session.refresh(again)
    assert len(sms.sent) == 4
    assert again.message_sid == "SM" + f"{4:032x}"
    assert again.status == "sent"
    assert ticket.events[-1].detail.get("found") is True


def test_a_job_that_broke_leaves_an_attempt_whose_successor_asks_first(app):
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    message.status, message.claimed_at = "sending", utcnow()
    db.session.commit()

    class Job:
        args = (message.id,)

    mark_failed(Job, None, TimeoutError, TimeoutError(), None)
    db.session.refresh(message)
    assert (message.status, message.attempts) == ("sending", 1)
    assert message.claimed_at <= utcnow() - claim_lease()
    assert message.next_attempt_at > utcnow()
    app.config["SMS_MAX_ATTEMPTS"] = 2
    message.claimed_at = utcnow()
    db.session.commit()
    mark_failed(Job, None, TimeoutError, TimeoutError(), None)
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("failed", "retries_exhausted")
    assert ticket.events[-1].action == "sms_failed"


def test_opted_out_caller_gets_nothing(client, sms, supervisor_auth):
    caller = make_caller()
    caller.sms_opt_out = True
    db.session.commit()
    response = client.post(
        "/api/tickets",
        json={"phone": CALLER, "channel": "counter", "category": "payment"},
        headers=supervisor_auth,
    )
    assert response.status_code == 201
    assert response.get_json()["messages"] == []
    assert sms.sent == []


def test_quiet_hours_wait_till_morning_then_flush_sends(app, sms, daytime, runner):
    daytime.undo()
    line = load_lines(ROOT / "config" / "lines.yaml").by_number[HOTLINE]
    night = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # 23:30 in Porto-Novo
    assert line.sms_allowed_at(night) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert line.sms_allowed_at(datetime(2026, 11, 23, 12, 0, tzinfo=UTC)).hour == 12
    ticket = make_ticket(make_caller(), line=HOTLINE)
    message = followups.acknowledge(ticket)
    message.send_after = datetime.now(UTC) + timedelta(hours=1)  # quiet for an hour
    followups.commit_and_dispatch()
    assert sms.sent == []
    assert runner.invoke(args=["sms", "flush"]).output.startswith("handed 0")
    message.send_after = datetime.now(UTC) - timedelta(minutes=1)  # morning came
    db.session.commit()
    assert runner.invoke(args=["sms", "flush"]).output.startswith("handed 1")
    assert len(sms.sent) == 1


def test_night_ticket_gets_a_send_after_at_the_end_of_quiet_hours(
    app, daytime, monkeypatch
):
    daytime.undo()
    monkeypatch.setattr(
        "app.services.followups.utcnow",
        lambda: datetime(2026, 11, 22, 22, 30, tzinfo=UTC),
    )
    message = followups.acknowledge(make_ticket(make_caller(), line=HOTLINE))
    assert message.send_after == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    green = followups.acknowledge(make_ticket(make_caller("+2290167000000"), line=LINE))
    assert green.send_after is None  # the green number has no quiet hours


def test_whatsapp_callers_are_answered_on_whatsapp_where_the_line_allows(app, sms):
    caller = make_caller()
    caller.uses_whatsapp = True
    db.session.commit()
    followups.acknowledge(make_ticket(caller, line=LINE))  # the green number allows it
    followups.acknowledge(make_ticket(caller, line=HOTLINE))  # this one does not
    followups.commit_and_dispatch()
    assert [(m["to"], m["from"]) for m in sms.sent] == [
        (f"whatsapp:{CALLER}", f"whatsapp:{LINE}"),
        (CALLER, HOTLINE),
    ]


def test_messaging_service_sid_is_used_when_a_line_has_one(tmp_path):
    path = tmp_path / "lines.yaml"
    service = "MG" + "a" * 32
    path.write_text(
        f"lines:\n  - {{number: '{LINE}', name: A, messaging_service_sid: {service}}}\n"
    )
    line = load_lines(path).lines[0]
    assert _addresses(line, CALLER, whatsapp=False) == ("sms", CALLER, service)
    assert _addresses(line, CALLER, whatsapp=True)[1] == f"whatsapp:{CALLER}"
