"""Follow-ups to callers, written to the outbox in the ticket's own transaction.

A message row is committed with the ticket change that caused it, then handed
to a job; if Redis is down the row simply stays queued, and the periodic flush
(or `flask sms flush`) hands it over later. Nothing is lost between the two.

What a caller receives should read as one conversation, not as a log of saves:
- the acknowledgment of a ticket opened while an agent talks to the caller is
  held until the call ends (and everything else about that ticket with it);
- a progress text (assigned, status) waits a few minutes for the next change,
  which rewrites it in place, so several saves make one SMS;
- the acknowledgment and the resolution go at once, and the resolution makes a
  progress text still waiting pointless.
Holding, rewriting and superseding are conditional UPDATEs on a row that is
still unclaimed (`queued` or `held`, no SID), the same row the send job claims
with its own conditional UPDATE (`app.jobs._claim`): whichever commits first
wins, so a text is either rewritten before it goes or goes as it was, never
both, and never twice.

The row also owns its attempts (`app.jobs`): a failed send writes when the next
is due, and the flush hands over only due rows; a text whose job died while it
was `sending` is handed over once its claim is stale, and that job asks Twilio
whether it left before sending it again.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

import phonenumbers
from flask import current_app
from sqlalchemy import and_, inspect, or_, select, update

from app.email_text import Email, email_texts
from app.extensions import db
from app.jobs import claim_lease, schedule_send
from app.lines import Line, current_lines
from app.models import Call, Message, Ticket
from app.models.calls import FINAL_STATUSES
from app.models.types import utcnow
from app.phone import as_written
from app.sms_text import sms_texts

OUTBOX = "outbox"
HELD = "held"
UNSENT = (HELD, "queued")
# Progress texts: they wait SMS_DEBOUNCE_SECONDS for the next change.
PROGRESS = ("assigned", "status_changed")
# However busy the ticket, a progress text goes within this many windows.
DEBOUNCE_CAP = 5
# A text held for a call goes at the latest after this long (Twilio ends calls
# at four hours), should the status callback of the call's end never come.
HOLD_LIMIT = timedelta(hours=4)
# How much of a note or a resolution goes into the citizen's text.
NOTE_IN_TEXT = 300


def _addresses(line: Line, phone: str, whatsapp: bool) -> tuple[str, str, str]:
    """(channel, to, from) for one caller on one line."""
    if whatsapp:
        return "whatsapp", f"whatsapp:{phone}", f"whatsapp:{line.number}"
    return "sms", phone, line.messaging_service_sid or line.number


def _unsent(ticket: Ticket, templates: Iterable[str] | None = None):
    query = select(Message).where(
        Message.ticket_id == ticket.id,
        Message.audience == "citizen",
        Message.direction == "outbound",
        Message.status.in_(UNSENT),
        Message.message_sid.is_(None),
    )
    if templates is not None:
        query = query.where(Message.template.in_(templates))
    return query.order_by(Message.id)


def _take_unsent(message: Message, **values: object) -> bool:
    """Change a message nobody has claimed yet; False if a job took it first."""
    changed = db.session.execute(
        update(Message)
        .where(
            Message.id == message.id,
            Message.status == message.status,
            Message.message_sid.is_(None),
        )
        .values(updated_at=utcnow(), **values)
    )
    return changed.rowcount == 1


def _region(line: Line) -> str | None:
    return phonenumbers.region_code_for_number(phonenumbers.parse(line.number))


def _debounce_window() -> timedelta:
    return timedelta(seconds=current_app.config["SMS_DEBOUNCE_SECONDS"])


def citizen_text(ticket: Ticket, template: str, **values: str) -> str:
    """The text the ticket's caller receives for `template`, exactly as sent:
    their language, their line's alphabet, numbers written as they know them.
    The staff pages preview it with the same function."""
    line = current_lines().for_number(ticket.line)
    texts = sms_texts()
    return texts.render(
        template,
        ticket.language,
        accents=line.sms_accents,
        region=_region(line),
        reference=ticket.display_reference,
        status=texts.status(ticket.language, ticket.status),
        line=line.number,
        **values,
    )


def citizen_email(ticket: Ticket, template: str, **values: str) -> Email:
    """The e-mail (config/emails.yaml) the ticket's writer receives for `template`."""
    line = current_lines().for_number(ticket.line)
    return email_texts().render(
        template,
        ticket.language,
        reference=ticket.display_reference,
        status=sms_texts().status(ticket.language, ticket.status),
        line=as_written(line.number, _region(line)),
        **values,
    )


def can_text(ticket: Ticket) -> bool:
    """Whether the ticket's caller can be texted: a number, and no STOP."""
    return ticket.caller is not None and not ticket.caller.sms_opt_out


def email_address(ticket: Ticket) -> str | None:
    """Where a request filed with no phone number (CONTRACT §9.3, §9.1) is
    followed up: the e-mail address that filed it. A caller with a number is
    texted, and one who said STOP gets no e-mail instead. An erased address
    (app.services.privacy: "erased-<n>-<k>", no "@") gets nothing, as an
    erased number gets no text."""
    if ticket.caller is not None or not ticket.contact_email:
        return None
    return ticket.contact_email if "@" in ticket.contact_email else None


def notify(
    ticket: Ticket, template: str, hold: bool = False, **values: str
) -> Message | None:
    """Queue one follow-up for the ticket's caller, unless they cannot get one.

    A text to the caller's phone, or an e-mail when the request came with an
    address and no number. A progress message rewrites the one still waiting,
    if any, rather than adding a second; `hold` keeps it (and what follows)
    until the call ends.
    """
    caller = ticket.caller
    line = current_lines().for_number(ticket.line)
    now = utcnow()
    subject = None
    if can_text(ticket):
        body = citizen_text(ticket, template, **values)
        allowed = line.sms_allowed_at(now)
        channel, to, from_ = _addresses(
            line, caller.phone_e164, line.whatsapp and caller.uses_whatsapp
        )
    elif (address := email_address(ticket)) is not None:
        email = citizen_email(ticket, template, **values)
        body, subject = email.body, email.subject
        allowed = now  # an e-mail wakes nobody: no quiet hours
        channel, to, from_ = "email", address, current_app.config["MAIL_FROM"][:64]
    else:
        return None  # withheld number, or the caller said STOP
    queued = "email_queued" if channel == "email" else "sms_queued"
    rewritten = "email_rewritten" if channel == "email" else "sms_rewritten"
    send_after = allowed if allowed > now else None
    if template in PROGRESS:
        window = _debounce_window()
        waiting = db.session.scalars(_unsent(ticket, PROGRESS)).first()
        if waiting is not None:
            due = min(now + window, waiting.created_at + window * DEBOUNCE_CAP)
            due = max(due, allowed)
            if _take_unsent(
                waiting, body=body, subject=subject, template=template, send_after=due
            ):
                ticket.record(
                    rewritten, "system", message_id=waiting.id, template=template
                )
                db.session.info.setdefault(OUTBOX, []).append(waiting)
                return waiting
        send_after = max(now + window, allowed)
    # A ticket's first text (its acknowledgment) has nothing held before it.
    held = hold or (
        template != "acknowledgment"
        and db.session.scalar(_unsent(ticket).where(Message.status == HELD).limit(1))
        is not None
    )
    message = Message(
        ticket_id=ticket.id,
        caller_id=caller.id if caller is not None else None,
        direction="outbound",
        channel=channel,
        to_number=to,
        from_number=from_,
        body=body,
        subject=subject,
        template=template,
        status=HELD if held else "queued",
        send_after=send_after,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    ticket.record(queued, "system", message_id=message.id, template=template)
    if not held:
        db.session.info.setdefault(OUTBOX, []).append(message)
    return message


def acknowledge(ticket: Ticket, hold: bool = False) -> Message | None:
    return notify(ticket, "acknowledgment", hold=hold)


def assigned(ticket: Ticket) -> Message | None:
    return notify(ticket, "assigned")


def status_changed(ticket: Ticket) -> Message | None:
    return notify(ticket, "status_changed")


def resolved(ticket: Ticket, note: str) -> None:
    """The answer goes at once; a progress text still waiting would only confuse."""
    for waiting in db.session.scalars(_unsent(ticket, PROGRESS)).all():
        if _take_unsent(waiting, status="superseded"):
            ticket.record("sms_superseded", "system", message_id=waiting.id)
    notify(ticket, "resolved", note=note[:NOTE_IN_TEXT])
    if notify(ticket, "satisfaction") is not None:
        ticket.record("satisfaction_asked", "system")


def _release(message_ids: Iterable[int]) -> int:
    """Held texts become queued and are handed over at the commit, oldest first."""
    released = 0
    for message_id in message_ids:
        message = db.session.get(Message, message_id)
        held = message is not None and message.status == HELD
        if held and _take_unsent(message, status="queued"):
            db.session.info.setdefault(OUTBOX, []).append(message)
            released += 1
    return released


def call_ended(call: Call) -> int:
    """The call is over: what was held for it goes now (the acknowledgment first)."""
    held = (
        select(Message.id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.origin_call_id == call.id, Message.status == HELD)
        .order_by(Message.id)
    )
    return _release(db.session.scalars(held).all())


def dispatch(message_id: int, send_after: datetime | None = None) -> bool:
    """Hand one queued message to a job (for later, in quiet hours)."""
    return schedule_send(message_id, send_after)


def commit_and_dispatch() -> None:
    """Commit, then hand every message written in this transaction to the jobs.

    The outbox holds the messages themselves, not their ids: the session keeps
    only weak references to clean rows, and reading one again after its flush
    would cost a SELECT. What a job needs is read before the commit, which
    expires them.
    """
    outgoing = [
        (message.id, message.send_after)
        for message in dict.fromkeys(db.session.info.pop(OUTBOX, []))
        # One written before a rollback is gone (transient): nothing to send.
        if inspect(message).persistent and message.status == "queued"
    ]
    db.session.commit()
    lost = [
        message_id
        for message_id, send_after in outgoing
        if not dispatch(message_id, send_after) and send_after is None
    ]
    if lost:
        # Redis is down: due now, so the first flush once it is back sends them
        # (rather than after its `older_than` grace for rows being dispatched).
        db.session.execute(
            update(Message)
            .where(Message.id.in_(lost), Message.next_attempt_at.is_(None))
            .values(next_attempt_at=utcnow())
        )
        db.session.commit()


def flush_outbox(older_than: timedelta = timedelta(seconds=30)) -> int:
    """Hand over every message still waiting: Redis was down, or quiet hours ended.

    Messages younger than `older_than` are left to the dispatch of their own
    request; returns how many were handed over. Texts held for a call whose end
    was never reported (a lost status callback) are released first.
    """
    now = utcnow()
    if _release(db.session.scalars(stale_holds(now)).all()):
        commit_and_dispatch()
    ids = list(db.session.scalars(due_messages(now, older_than)))
    return sum(1 for message_id in ids if dispatch(message_id))


def stale_holds(now: datetime):
    """Texts held for a call that is over, or was never known to end (by the
    partial index on held messages: a handful among millions)."""
    return (
        select(Message.id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .outerjoin(Call, Call.id == Ticket.origin_call_id)
        .where(
            Message.status == HELD,
            or_(
                Call.id.is_(None),
                Call.status.in_(FINAL_STATUSES),
                Message.created_at <= now - HOLD_LIMIT,
            ),
        )
        .order_by(Message.id)
    )


def due_messages(now: datetime, older_than: timedelta):
    """The ids of unsent texts whose turn has come, by the outbox's partial indexes.

    Never tried (no next attempt yet): older than `older_than`, so the dispatch
    of the request that wrote it goes first, or once its `send_after` came (in
    process, nothing else sends it). Tried before: once its next attempt is
    due. `sending`: only when the job holding it is presumed dead.
    """
    unsent = and_(
        Message.direction == "outbound",
        Message.message_sid.is_(None),
        Message.status.in_(("queued", "sending")),
    )
    queued_turn = or_(
        Message.next_attempt_at <= now,
        and_(
            Message.next_attempt_at.is_(None),
            or_(
                Message.send_after.is_not(None),
                Message.created_at <= now - older_than,
            ),
        ),
    )
    orphaned = and_(
        Message.claimed_at <= now - claim_lease(),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )
    return (
        select(Message.id)
        .where(
            unsent,
            or_(Message.send_after.is_(None), Message.send_after <= now),
            or_(
                and_(Message.status == "queued", queued_turn),
                and_(Message.status == "sending", orphaned),
            ),
        )
        .order_by(Message.id)
    )
