"""A whole call through the signed webhooks, as simulate-call plays it."""

from collections import deque

from sqlalchemy import select

from app.extensions import db
from app.models import Call, Recording, Ticket
from app.simulator import CallSimulator, InProcessTransport, parse_inputs
from tests.conftest import CALLER, LINE, TOKEN


def play(app, presses: str, says: tuple[str, ...] = (), from_: str = "0197000000"):
    simulator = CallSimulator(
        InProcessTransport(app),
        TOKEN,
        "http://localhost",
        from_,
        LINE,
        parse_inputs(presses, says),
        echo=lambda line: None,
    )
    return simulator.run()


def test_complaint_call_ends_with_reference_ticket_recording_and_sms(app, sms):
    heard = play(app, "1,2")
    assert heard.reference is not None
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.display_reference == heard.reference
    assert ticket.kind == "complaint"
    assert ticket.category == "delay"
    assert ticket.phone == CALLER
    assert ticket.line == LINE
    recording = db.session.scalars(select(Recording)).one()
    assert recording.ticket_id == ticket.id
    assert recording.status == "completed"
    call = db.session.scalars(select(Call)).one()
    assert call.status == "completed"
    assert [m["to"] for m in sms.sent] == [CALLER]
    assert heard.reference in sms.sent[0]["body"]


def test_parse_inputs_puts_speech_first_and_reads_silence():
    assert parse_inputs("1,-,2#", ("plainte",)) == deque(
        [("speech", "plainte"), ("dtmf", "1"), ("silence", ""), ("dtmf", "2")]
    )
