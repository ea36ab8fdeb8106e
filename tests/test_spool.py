"""The spool: only a database outage is kept for replay; anything else is put aside.

In-process on SQLite: dropping the tables is the outage (OperationalError, as a
stopped server gives); a view that raises something else is a bug.
"""

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Ticket
from app.spool import MAX_ATTEMPTS, failed_dir, spool_dir
from app.telephony import CallParties
from tests.conftest import CALLER, LINE
from tests.factories import sid
from tests.twiml import parse, verbs


def spooled(app) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(spool_dir(app).glob("*.json"))]


def put_aside(app) -> list[dict]:
    folder = failed_dir(app)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def status_form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": sid("CA"),
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": LINE,
        "CallStatus": "completed",
        "CallDuration": "20",
        **extra,
    }


def test_a_callback_failing_for_a_bug_is_put_aside_not_spooled(
    app, twilio_post, monkeypatch
):
    def broken(*args, **kwargs):
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr("ivr.views.end_at_once", broken)
    response = twilio_post("/voice/status", **status_form())
    assert response.status_code == 500
    assert spooled(app) == []  # no replay would ever fix it
    [entry] = put_aside(app)
    assert entry["path"] == "/voice/status"
    assert "ValueError: a bug, not an outage" in entry["reason"]


def test_an_outage_is_spooled_with_its_reason(app, twilio_post):
    db.session.remove()
    db.drop_all()
    response = twilio_post("/voice/status", **status_form())
    assert response.status_code == 204
    [entry] = spooled(app)
    assert "OperationalError" in entry["reason"]
    assert entry["attempts"] == 0
    assert put_aside(app) == []


def test_replay_moves_an_entry_failing_for_a_bug_to_failed_once(
    app, twilio_post, runner, monkeypatch
):
    db.session.remove()
    db.drop_all()
    twilio_post("/voice/status", **status_form())
    twilio_post("/voice/status", **status_form())
    db.create_all()
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise KeyError("bad data")

    monkeypatch.setattr("ivr.views.end_at_once", broken)
    result = runner.invoke(args=["spool", "replay"])
    assert result.exit_code == 1
    assert "replayed 0 callback(s), 0 still failing" in result.output
    assert "2 moved to failed/" in result.output
    assert spooled(app) == []
    assert [e["attempts"] for e in put_aside(app)] == [1, 1]
    assert all("KeyError" in e["reason"] for e in put_aside(app))
    again = runner.invoke(args=["spool", "replay"])
    assert "replayed 0 callback(s), 0 still failing" in again.output
    assert again.exit_code == 0
    assert len(calls) == 2  # never retried


def test_replay_stops_at_the_first_outage_and_gives_up_after_max_attempts(
    app, twilio_post, runner
):
    db.session.remove()
    db.drop_all()
    for _ in range(3):
        twilio_post("/voice/status", **status_form())
    result = runner.invoke(args=["spool", "replay"])
    assert "3 still failing (database unavailable)" in result.output
    # Only the first was tried: the database is down for all of them.
    assert sorted(e["attempts"] for e in spooled(app)) == [0, 0, 1]
    for _ in range(MAX_ATTEMPTS - 1):
        runner.invoke(args=["spool", "replay"])
    assert len(put_aside(app)) == 1
    assert len(spooled(app)) == 2


def text_form(message_sid: str, body: str = "Mon salaire n'est pas arrivé"):
    return {
        "MessageSid": message_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": LINE,
        "Body": body,
        "NumMedia": "0",
    }


def test_a_text_during_an_outage_is_answered_empty_then_handled_on_replay(
    app, twilio_post, runner, sms
):
    db.session.remove()
    db.drop_all()
    message_sid = sid("SM")
    response = twilio_post("/sms/incoming", **text_form(message_sid))
    assert response.status_code == 200
    assert verbs(parse(response.data)) == []  # no reply now, no Twilio retry
    status = twilio_post("/sms/status", MessageSid=sid("SM"), MessageStatus="delivered")
    assert status.status_code == 204
    assert sorted(e["path"] for e in spooled(app)) == ["/sms/incoming", "/sms/status"]
    db.create_all()
    result = runner.invoke(args=["spool", "replay"])
    assert "replayed 2 callback(s), 0 still failing" in result.output
    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert inbound.message_sid == message_sid
    ticket = db.session.scalars(select(Ticket)).one()
    assert inbound.ticket_id == ticket.id
    # The reply TwiML would have carried goes by SMS, once.
    assert [m["to"] for m in sms.sent] == [CALLER]
    assert ticket.display_reference in sms.sent[0]["body"]
    runner.invoke(args=["spool", "replay"])
    assert count(Message) == 2
    assert len(sms.sent) == 1


@pytest.mark.parametrize("deliveries", [2])
def test_a_text_delivered_again_is_answered_once(app, twilio_post, deliveries):
    message_sid = sid("SM")
    replies = [
        twilio_post("/sms/incoming", **text_form(message_sid))
        for _ in range(deliveries)
    ]
    assert [r.status_code for r in replies] == [200] * deliveries
    assert count(Ticket) == 1
    assert count(Message) == 2  # the text and its reply


def test_a_voicemail_heard_of_first_by_its_recording_gets_its_caller_from_twilio(
    app, twilio_post, monkeypatch, sms
):
    """The fallback's voicemail: no webhook brought the caller's number."""
    asked = []

    def call_parties(call_sid: str) -> CallParties:
        asked.append(call_sid)
        return CallParties(CALLER, LINE)

    monkeypatch.setattr(sms, "call_parties", call_parties, raising=False)
    call_sid, recording_sid = sid("CA"), sid("RE")
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording_sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
    }
    callback = "/voice/recording?lang=fr&purpose=callback"
    assert twilio_post(callback, **form).status_code == 204
    assert asked == [call_sid]
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.caller.phone_e164 == CALLER
    assert [m["to"] for m in sms.sent] == [CALLER]
    assert ticket.display_reference in sms.sent[0]["body"]
    # The same callback again: nothing more is asked or sent.
    assert twilio_post(callback, **form).status_code == 204
    assert len(sms.sent) == 1
    assert count(Ticket) == 1


def test_a_call_twilio_does_not_know_leaves_the_ticket_without_a_caller(
    app, twilio_post, monkeypatch, sms
):
    monkeypatch.setattr(sms, "call_parties", lambda call_sid: None, raising=False)
    recording_sid = sid("RE")
    response = twilio_post(
        "/voice/recording?lang=fr&purpose=callback",
        AccountSid="AC" + "0" * 32,
        CallSid=sid("CA"),
        RecordingSid=recording_sid,
        RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording_sid}",
        RecordingStatus="completed",
        RecordingDuration="12",
    )
    assert response.status_code == 204
    assert db.session.scalars(select(Ticket)).one().caller_id is None
    assert sms.sent == []
