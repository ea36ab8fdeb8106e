"""What a caller's text asks for: STOP/START, a ticket's status, a rating, or help."""

import re
from collections.abc import Iterator, Mapping

from babel.dates import format_date
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.lines import Line
from app.menus import normalise
from app.models import Caller, Message, Ticket, TicketEvent, TicketStatus
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.services.callers import caller_for
from app.services.followups import OUTBOX
from app.services.tickets import move, open_ticket
from app.sms_text import sms_texts

# Twilio's own opt-out words, with the French ones callers here use.
STOP_WORDS = {
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "arret",
    "arreter",
}
START_WORDS = {"start", "unstop", "debut", "reprendre"}
# "RECOURS 1234-5678": the caller objects to the answer (CONTRACT §8.4).
APPEAL_WORDS = {"recours", "appeal"}
REFERENCE = re.compile(r"(?<!\d)(\d{4})[\s\-.]?(\d{4})(?!\d)")
# A satisfaction rating: one digit alone in the reply (CONTRACT §8.4).
RATINGS = {"1", "2", "3", "4", "5"}
MAX_BODY = 1600  # ten segments: anything longer is cut, not refused
# Set in session.info when no TwiML will carry the reply (a spool replay).
REPLY_BY_SMS = "reply_by_sms"


def _language(caller: Caller, line: Line) -> str:
    return caller.language or line.language


def _reply(
    caller: Caller,
    line: Line,
    template: str,
    ticket: Ticket | None = None,
    **values: str,
) -> str:
    """Render a reply and keep it in the history (TwiML sends it: no SID of ours).

    A text replayed from the spool has no TwiML answer any more: its reply is
    queued in the outbox then, and sent as any follow-up is.
    """
    texts = sms_texts()
    lang = ticket.language if ticket else _language(caller, line)
    if ticket is not None:
        values.setdefault("reference", ticket.display_reference)
        values.setdefault("status", texts.status(lang, ticket.status))
    body = texts.render(
        template, lang, accents=line.sms_accents, line=line.number, **values
    )
    by_sms = db.session.info.get(REPLY_BY_SMS, False)
    message = Message(
        ticket_id=ticket.id if ticket else None,
        caller_id=caller.id,
        direction="outbound",
        to_number=caller.phone_e164,
        from_number=line.number,
        body=body,
        template=template,
        status="queued" if by_sms else "sent",
    )
    db.session.add(message)
    if by_sms:
        db.session.flush()
        db.session.info.setdefault(OUTBOX, []).append(message)
    return body


def references_in(text: str) -> Iterator[str]:
    """Each valid reference written in a text (a wrong check digit is skipped),
    in the order written: an SMS's body, an e-mail's subject (inbox/intake.py)."""
    for first, second in REFERENCE.findall(text):
        try:
            yield parse_reference(first + second)
        except InvalidReference:
            continue


def _awaiting_rating(caller: Caller) -> Ticket | None:
    """The caller's latest ticket asked for a rating, unless it has had one since.

    Only the most recently updated of the tickets that asked counts: a digit is
    not a rating of an older ticket. One query, whatever the histories hold.
    """
    asked, rated = aliased(TicketEvent), aliased(TicketEvent)
    last_asked = (
        select(func.max(asked.id))
        .where(asked.ticket_id == Ticket.id, asked.action == "satisfaction_asked")
        .scalar_subquery()
    )
    rated_since = (
        select(rated.id)
        .where(
            rated.ticket_id == Ticket.id,
            rated.action == "rating",
            rated.id > last_asked,
        )
        .exists()
    )
    row = db.session.execute(
        select(Ticket, rated_since)
        .where(Ticket.caller_id == caller.id, last_asked.is_not(None))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(1)
    ).first()
    if row is None or row[1]:
        return None
    return row[0]


def rate(ticket: Ticket, score: int) -> None:
    """Record the citizen's rating, by text or by e-mail (inbox/intake.py).
    CONTRACT §8.4: 1 or 2 is an objection (an appeal), 4 or 5 an acceptance."""
    ticket.record("rating", "caller", score=score)
    if ticket.status != TicketStatus.RESOLVED:
        return
    if score <= 2:
        move(ticket, TicketStatus.REOPENED, "caller", reason="rating", score=score)
    elif score >= 4:
        move(ticket, TicketStatus.CLOSED, "caller", reason="rating", score=score)


def handle_text(form: Mapping[str, str], line: Line, region: str) -> str | None:
    """Record an inbound message and return the reply to send, if any."""
    sid = (form.get("MessageSid") or "")[:64]
    if sid and db.session.scalar(select(Message.id).filter_by(message_sid=sid)):
        return None  # Twilio delivered it twice: answered already
    sender = (form.get("From") or "")[:64]
    whatsapp = sender.startswith("whatsapp:")
    caller = caller_for(to_e164(sender.removeprefix("whatsapp:"), region))
    body = (form.get("Body") or "")[:MAX_BODY]
    inbound = Message(
        message_sid=sid or None,
        caller_id=caller.id if caller else None,
        direction="inbound",
        channel="whatsapp" if whatsapp else "sms",
        to_number=(form.get("To") or "")[:64],
        from_number=sender,
        body=body,
        status="received",
    )
    db.session.add(inbound)
    if caller is None:
        return None  # no number to answer or to file a ticket under
    if whatsapp:
        caller.uses_whatsapp = True
    words = normalise(body).split()
    opt_out = (form.get("OptOutType") or "").upper()
    if opt_out == "STOP" or (words and words[0] in STOP_WORDS and len(words) <= 2):
        caller.sms_opt_out = True
        return _reply(caller, line, "opted_out")
    if opt_out == "START" or (words and words[0] in START_WORDS and len(words) <= 2):
        caller.sms_opt_out = False
        return _reply(caller, line, "opted_in")
    for reference in references_in(body):
        ticket = db.session.scalar(select(Ticket).filter_by(reference=reference))
        if ticket is None or ticket.caller_id != caller.id:
            # Only the phone that filed it hears the status; to any other, the
            # reference is as unknown as a wrong one (voice does the same).
            continue
        inbound.ticket_id = ticket.id
        if words and words[0] in APPEAL_WORDS and ticket.status != TicketStatus.CLOSED:
            # CONTRACT §8.4: the caller objects before it is closed.
            move(ticket, TicketStatus.REOPENED, "caller", reason="appeal by text")
        elif ticket.status == TicketStatus.WAITING:
            move(ticket, TicketStatus.IN_PROGRESS, "caller", reason="the caller wrote")
        ticket.record("sms_status_request", "caller", message_sid=sid)
        day = format_date(
            ticket.updated_at.astimezone(line.timezone), "long", locale=ticket.language
        )
        return _reply(caller, line, "status_reply", ticket, date=day)
    if len(words) == 1 and words[0] in RATINGS:
        ticket = _awaiting_rating(caller)
        if ticket is not None:
            inbound.ticket_id = ticket.id
            rate(ticket, int(words[0]))
            return _reply(caller, line, "rating_thanks", ticket)
    ticket = open_ticket(
        caller,
        "sms",
        None,
        body.strip() or None,
        line.number,
        _language(caller, line),
        "caller",
        acknowledge=False,
    )
    inbound.ticket_id = ticket.id
    return _reply(caller, line, "new_ticket", ticket)
