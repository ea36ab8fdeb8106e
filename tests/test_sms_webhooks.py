"""The messaging webhooks: inbound texts and delivery statuses, signed like Twilio's."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Caller, Message, Ticket
from app.services import followups
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, sid
from tests.twiml import parse

OTHER = "+2290167000000"


def text(twilio_post, body: str, from_: str = CALLER, **extra: str):
    response = twilio_post(
        "/sms/incoming",
        MessageSid=extra.pop("MessageSid", sid("SM")),
        AccountSid="AC" + "0" * 32,
        From=from_,
        To=LINE,
        Body=body,
        NumMedia="0",
        **extra,
    )
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    return " ".join((m.text or "") for m in parse(response.data).iter("Message"))


# Unsigned or forged texts and statuses: tests/test_webhook_signatures.py.


def test_reference_from_the_phone_that_filed_it_gets_the_status(twilio_post):
    ticket = make_ticket(make_caller(), line=LINE, status="in_progress")
    reply = text(
        twilio_post, f"Bonjour, où en est mon dossier {ticket.display_reference} ?"
    )
    assert ticket.display_reference in reply
    assert "en cours de traitement" in reply
    assert ticket.events[-1].action == "sms_status_request"
    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert (inbound.ticket_id, inbound.status) == (ticket.id, "received")


def test_reference_from_another_phone_is_answered_as_an_unknown_one(twilio_post):
    ticket = make_ticket(make_caller(), line=LINE, status="in_progress")
    unknown = "12345674"  # a valid reference nobody filed
    stranger = text(twilio_post, ticket.reference, from_=OTHER)
    wrong = text(twilio_post, unknown, from_=OTHER)
    # The same answer as for a reference that does not exist: a new request.
    assert "en cours" not in stranger  # no status for a stranger
    new = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()[1:]
    assert stranger.replace(new[0].display_reference, "R") == wrong.replace(
        new[1].display_reference, "R"
    )
    assert ticket.events[-1].action != "sms_status_request"
    messages = db.session.scalars(select(Message).filter_by(direction="inbound"))
    assert ticket.id not in {message.ticket_id for message in messages}


def test_mistyped_reference_is_not_read_as_one(twilio_post):
    ticket = make_ticket(make_caller(), line=LINE)
    typo = ticket.reference[:7] + str((int(ticket.reference[7]) + 1) % 10)
    reply = text(twilio_post, f"dossier {typo}")
    assert "enregistré sous le no" in reply  # filed as a new request instead
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 2


@pytest.mark.parametrize(("stop", "start"), [("STOP", "START"), ("Arrêt", "début")])
def test_stop_and_start_opt_the_number_out_and_in(twilio_post, sms, stop, start):
    caller = make_caller()
    ticket = make_ticket(caller, line=LINE)
    assert "DEBUT" in text(twilio_post, stop)
    assert caller.sms_opt_out is True
    followups.acknowledge(ticket)
    followups.commit_and_dispatch()
    assert sms.sent == []  # nothing goes to a number that said STOP
    assert "ARRET" in text(twilio_post, start)
    assert caller.sms_opt_out is False


def test_twilio_opt_out_type_is_honoured(twilio_post):
    caller = make_caller()
    text(twilio_post, "non merci", OptOutType="STOP")
    assert caller.sms_opt_out is True


def test_rating_after_the_satisfaction_question_is_recorded(twilio_post):
    caller = make_caller()
    ticket = make_ticket(caller, line=LINE, status="resolved")
    ticket.record("satisfaction_asked", "system")
    db.session.commit()
    assert "Merci pour votre avis" in text(twilio_post, " 4 ")
    [rating] = [e for e in ticket.events if e.action == "rating"]
    assert rating.detail == {"score": 4}
    # A second digit is no longer a rating: it is a new request.
    assert "enregistré" in text(twilio_post, "5")
    assert [e.action for e in ticket.events].count("rating") == 1


def test_free_text_becomes_an_sms_ticket_with_its_reference(twilio_post, sms):
    reply = text(twilio_post, "Ma pension n'est pas arrivée ce mois-ci 🙁")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.channel, ticket.kind, ticket.phone) == ("sms", "request", CALLER)
    assert ticket.description.endswith("🙁")
    assert ticket.display_reference in reply
    assert sms.sent == []  # the reply itself carries the reference
    assert ticket.events[0].actor == "caller"


def test_the_same_inbound_text_twice_files_one_ticket(twilio_post):
    message_sid = sid("SM")
    first = text(twilio_post, "Bonjour", MessageSid=message_sid)
    second = text(twilio_post, "Bonjour", MessageSid=message_sid)
    assert first
    assert second == ""
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_whatsapp_text_marks_the_caller_and_is_answered(twilio_post):
    reply = text(twilio_post, "Bonjour", from_=f"whatsapp:{CALLER}")
    assert reply
    assert db.session.scalars(select(Caller)).one().uses_whatsapp is True


@pytest.mark.parametrize("sender", ["", "anonymous", "12"])
def test_text_without_a_usable_number_is_kept_but_not_answered(twilio_post, sender):
    assert text(twilio_post, "hello", from_=sender) == ""
    assert db.session.scalars(select(Message)).one().from_number == sender
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_huge_and_odd_bodies(twilio_post):
    text(twilio_post, "x" * 5000)
    text(twilio_post, "")
    tickets = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert len(tickets[0].description) == 1600
    assert tickets[1].description is None


# --- delivery statuses -------------------------------------------------------------


@pytest.fixture
def sent_message(app, sms):
    ticket = make_ticket(make_caller(), line=LINE)
    message = followups.acknowledge(ticket)
    followups.commit_and_dispatch()
    db.session.refresh(message)
    return message


def status(twilio_post, message_sid: str, value: str, **extra: str):
    response = twilio_post(
        "/sms/status",
        MessageSid=message_sid,
        MessageStatus=value,
        SmsStatus=value,
        AccountSid="AC" + "0" * 32,
        From=LINE,
        To=CALLER,
        **extra,
    )
    assert response.status_code == 204
    return response


def test_statuses_out_of_order_and_repeated_only_move_forward(
    twilio_post, sent_message
):
    for value in ("delivered", "sent", "sending", "delivered", "queued"):
        status(twilio_post, sent_message.message_sid, value)
    db.session.refresh(sent_message)
    assert sent_message.status == "delivered"
    history = [e.detail["status"] for e in sent_message_events(sent_message)]
    assert history == ["delivered"]


def sent_message_events(message):
    ticket = db.session.get(Ticket, message.ticket_id)
    return [e for e in ticket.events if e.action == "sms_status"]


def test_undelivered_keeps_the_error_code_in_the_history(twilio_post, sent_message):
    status(twilio_post, sent_message.message_sid, "sent")
    status(twilio_post, sent_message.message_sid, "undelivered", ErrorCode="30003")
    status(twilio_post, sent_message.message_sid, "delivered")  # too late to change
    db.session.refresh(sent_message)
    assert (sent_message.status, sent_message.error_code) == ("undelivered", "30003")
    assert sent_message_events(sent_message)[-1].detail["code"] == "30003"


def test_21610_in_a_status_callback_opts_the_caller_out(twilio_post, sent_message):
    status(twilio_post, sent_message.message_sid, "failed", ErrorCode="21610")
    assert db.session.scalars(select(Caller)).one().sms_opt_out is True


def test_unknown_sid_and_missing_sid(twilio_post):
    status(twilio_post, sid("SM"), "delivered")
    assert twilio_post("/sms/status", MessageStatus="sent").status_code == 400


# CONTRACT §8.4: the citizen's voice after the answer.


def resolved_and_asked(caller) -> Ticket:
    ticket = make_ticket(caller, line=LINE, status="resolved")
    ticket.record("satisfaction_asked", "system")
    db.session.commit()
    return ticket


@pytest.mark.parametrize(
    ("score", "status", "appeal"),
    [
        ("1", "reopened", True),
        ("2", "reopened", True),
        ("3", "resolved", False),
        ("4", "closed", False),
        ("5", "closed", False),
    ],
)
def test_a_rating_reopens_as_an_appeal_or_closes(twilio_post, score, status, appeal):
    ticket = resolved_and_asked(make_caller())
    text(twilio_post, score)
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert (ticket.status, ticket.appeal) == (status, appeal)
    if appeal:
        assert ticket.sla_plan == "appeal"


def test_recours_from_the_filing_phone_reopens_as_an_appeal(twilio_post):
    ticket = resolved_and_asked(make_caller())
    reply = text(twilio_post, f"RECOURS {ticket.display_reference}")
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert (ticket.status, ticket.appeal) == ("reopened", True)
    assert "rouvert" in reply
    assert ticket.events[-2].detail == {
        "old": "resolved",
        "new": "reopened",
        "reason": "appeal by text",
    }


def test_recours_from_another_phone_changes_nothing(twilio_post):
    ticket = resolved_and_asked(make_caller())
    make_caller(OTHER)
    text(twilio_post, f"RECOURS {ticket.display_reference}", from_=OTHER)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"


def test_recours_on_a_closed_ticket_changes_nothing(twilio_post):
    ticket = make_ticket(make_caller(), line=LINE, status="closed")
    text(twilio_post, f"APPEAL {ticket.display_reference}")
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "closed"


def test_a_message_about_a_waiting_ticket_wakes_it(twilio_post):
    ticket = make_ticket(make_caller(), line=LINE, status="waiting")
    text(twilio_post, f"Voici mon bulletin pour le dossier {ticket.display_reference}")
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == "in_progress"
    message = db.session.scalars(
        select(Message).where(Message.direction == "inbound")
    ).one()
    assert message.ticket_id == ticket.id  # in the ticket's history
