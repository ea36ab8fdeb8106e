"""Notices to staff about one request (CONTRACT §8.3): a focal point's link,
reminders and escalations, by SMS and/or e-mail.

They go through the same outbox as the citizen's texts (written in the ticket's
transaction, retried, never lost when Redis is down) but as `audience="staff"`:
they never show in the caller's history, and a caller's STOP does not stop them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from app.extensions import db
from app.lines import current_lines
from app.menus import category_choices
from app.models import Message, Ticket
from app.models.types import utcnow
from app.notice_texts import notice_texts
from app.services.followups import OUTBOX
from app.sms_text import to_gsm7


@dataclass(frozen=True)
class Recipient:
    """Someone on the staff side: a focal point, a person in charge, a supervisor."""

    name: str
    phone: str | None = None  # E.164
    email: str | None = None


def notify_staff(
    ticket: Ticket, event: str, recipients: Iterable[Recipient], **values: str
) -> list[Message]:
    """Queue the event's notice to each recipient: by SMS to a phone, by e-mail
    to an address (both when they have both). Returns the messages queued."""
    lang = current_app.config["STAFF_LANGUAGE"]
    texts = notice_texts()
    notice = texts.notice(event, lang)
    line = current_lines().for_number(ticket.line)
    now = utcnow()
    queued = []
    for person in recipients:
        fields = _fields(ticket, lang, **({"name": person.name} | values))
        if person.phone:
            body = " ".join(notice.sms.format(**fields).split())
            queued.append(
                _queue(
                    ticket,
                    event,
                    now,
                    channel="sms",
                    to_number=person.phone,
                    from_number=line.messaging_service_sid or line.number,
                    body=body if line.sms_accents else to_gsm7(body),
                )
            )
        if person.email:
            queued.append(
                _queue(
                    ticket,
                    event,
                    now,
                    channel="email",
                    to_number=person.email,
                    from_number=current_app.config["MAIL_FROM"],
                    subject=notice.subject.format(**fields)[:200],
                    body=notice.body.format(**fields),
                )
            )
    db.session.flush()  # the outbox dispatches rows that exist
    return queued


def local_time(instant: datetime | None) -> str:
    """An instant as the centre reads it (CENTRE_TIMEZONE)."""
    if instant is None:
        return "-"
    zone = ZoneInfo(current_app.config["CENTRE_TIMEZONE"])
    return instant.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _fields(ticket: Ticket, lang: str, **values: str) -> dict[str, str]:
    texts = notice_texts()
    service = ticket.service.name if ticket.service else texts.word("no_service", lang)
    fields = {
        "reference": ticket.display_reference,
        "category": _category_label(ticket.category, lang)
        or texts.word("no_category", lang),
        "service": service,
        "due": local_time(ticket.take_charge_due),
        "deadline": "",
        "link": "",
        "name": "",
    }
    fields.update(values)
    return fields


def _category_label(key: str | None, lang: str) -> str | None:
    if key is None:
        return None
    return dict(category_choices(lang)).get(key, key)


def _queue(ticket: Ticket, event: str, now: datetime, **columns: str) -> Message:
    message = Message(
        ticket_id=ticket.id,
        direction="outbound",
        audience="staff",
        template=event,
        status="queued",
        created_at=now,
        updated_at=now,
        **columns,
    )
    db.session.add(message)
    db.session.info.setdefault(OUTBOX, []).append(message)
    return message
