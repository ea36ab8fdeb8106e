"""One e-mail into the centre (CONTRACT §9.3): a new request, or a reply added
to the request whose reference its subject carries. Taken exactly once.

Exactly once: the message's receipt (`email:<Message-ID>`) is inserted first,
in the transaction that files it; a second reading of the same message (the
next run, another process, the same mail delivered twice) finds the key taken
and stops there. Auto-replies and bounces get a receipt and nothing else, so
they are not read again either.

A message whose filing fails (something in it our code did not expect) keeps
its receipt with no ticket and is logged with its Message-ID: it stays in the
mailbox for a person to read, and never blocks the messages after it. A
database error is not such a failure: it ends the run before the receipt is
committed, and the next run takes the message again.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db
from app.lines import current_lines
from app.menus import menu_for
from app.models import (
    Attachment,
    ChannelReceipt,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from app.services import followups
from app.services.attachments import attachments_dir
from app.services.inbound import RATINGS, rate, references_in
from app.services.tickets import move, open_ticket
from inbox.parse import IncomingMail, parse_mail, raw_receipt_key

log = logging.getLogger(__name__)

# The category of a request nobody sorted yet, when the menus have it.
UNSORTED = "other"


@dataclass(frozen=True)
class Outcome:
    """What became of one message: new, threaded, ignored, known or failed."""

    kind: str
    ticket: Ticket | None = None


def take_message(raw: bytes) -> Outcome:
    """File one raw message (RFC 5322 bytes) and commit; see the module's doc."""
    try:
        mail: IncomingMail | None = parse_mail(raw)
        key = mail.receipt_key
    except Exception:
        log.exception("an e-mail could not be read (kept in the mailbox)")
        mail, key = None, raw_receipt_key(raw)
    if _receipt_exists(key):
        return Outcome("known")
    receipt = ChannelReceipt(key=key)
    try:
        with db.session.begin_nested():
            db.session.add(receipt)
    except IntegrityError:
        return Outcome("known")  # another process took it a moment ago
    outcome = Outcome("failed")
    # The attachments written to disk for this message: removed again if its
    # rows are not committed, so no citizen's file is left that nothing names
    # (the personal-data commands find files through their rows).
    written: list[Path] = []
    try:
        if mail is not None:
            with db.session.begin_nested():
                outcome = _file(mail, written)
        if outcome.ticket is not None:
            receipt.ticket_id = outcome.ticket.id
        followups.commit_and_dispatch()
    except SQLAlchemyError:
        _remove(written)
        raise  # the database is in trouble: nothing is committed, next run
    except Exception:
        _remove(written)
        log.exception("e-mail %s could not be filed (kept in the mailbox)", key)
        followups.commit_and_dispatch()  # its receipt: never read again
    return outcome


def _remove(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)


def _receipt_exists(key: str) -> bool:
    return db.session.scalar(select(ChannelReceipt.id).filter_by(key=key)) is not None


def _file(mail: IncomingMail, written: list[Path]) -> Outcome:
    if mail.automatic or not mail.sender:
        # An auto-reply to our acknowledgment would otherwise file a request,
        # whose acknowledgment would draw another auto-reply...
        return Outcome("ignored")
    ticket = _ticket_of_reply(mail)
    if ticket is not None:
        _add_reply(ticket, mail, written)
        return Outcome("threaded", ticket)
    return Outcome("new", _new_request(mail, written))


def _ticket_of_reply(mail: IncomingMail) -> Ticket | None:
    """The sender's ticket whose reference the subject carries. To anyone else
    a reference is as unknown as a wrong one: their mail is a new request."""
    for reference in references_in(mail.subject):
        ticket = db.session.scalar(select(Ticket).filter_by(reference=reference))
        if ticket is not None and mail.sender in _addresses_of(ticket):
            return ticket
    return None


def _addresses_of(ticket: Ticket) -> set[str]:
    found = {ticket.contact_email, ticket.caller.email if ticket.caller else None}
    return {address.strip().lower() for address in found if address}


def _inbound(ticket: Ticket, mail: IncomingMail) -> Message:
    """The e-mail in the ticket's history, as an inbound text is."""
    message = Message(
        ticket_id=ticket.id,
        caller_id=ticket.caller_id,
        direction="inbound",
        channel="email",
        to_number=current_app.config["MAIL_FROM"],
        from_number=mail.sender[:64],
        subject=mail.subject or None,
        body=mail.text,
        status="received",
    )
    db.session.add(message)
    db.session.flush()
    return message


def _add_reply(ticket: Ticket, mail: IncomingMail, written: list[Path]) -> None:
    message = _inbound(ticket, mail)
    ticket.record("email_received", "caller", message_id=message.id)
    words = mail.text.split()
    if len(words) == 1 and words[0] in RATINGS and _awaits_rating(ticket):
        rate(ticket, int(words[0]))
    elif ticket.status == TicketStatus.WAITING:
        # The detail the centre waited for, as an SMS reply does (app.services.inbound).
        move(ticket, TicketStatus.IN_PROGRESS, "caller", reason="the caller wrote")
    _keep_files(ticket, mail, written)


def _awaits_rating(ticket: Ticket) -> bool:
    """Asked how satisfied they are (followups.resolved) and not rated since."""

    def last(action: str) -> int:
        return db.session.scalar(
            select(func.coalesce(func.max(TicketEvent.id), 0)).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.action == action
            )
        )

    return last("satisfaction_asked") > last("rating")


def _new_request(mail: IncomingMail, written: list[Path]) -> Ticket:
    line = current_lines().lines[0]
    ticket = open_ticket(
        None,
        "email",
        _unsorted_category(),
        mail.text or mail.subject or None,
        line.number,
        line.language,
        "caller",
        acknowledge=False,
    )
    # Before the acknowledgment: it is what tells notify() to write, not text.
    ticket.contact_email = mail.sender[:254]
    _inbound(ticket, mail)
    _keep_files(ticket, mail, written)
    followups.acknowledge(ticket)
    return ticket


def _unsorted_category() -> str:
    """ "other" when the first line's menu has it, else that menu's last
    category (menus list the catch-all last): always one staff can filter on."""
    line = current_lines().lines[0]
    keys = [key for key, _labels in menu_for(line).categories_for(line)]
    return UNSORTED if UNSORTED in keys else keys[-1]


def _keep_files(ticket: Ticket, mail: IncomingMail, written: list[Path]) -> None:
    """Each file within MAIL_ATTACHMENT_MAX_BYTES, under a name we make (the
    sender's name is only shown); a larger one is noted in the history."""
    limit = current_app.config["MAIL_ATTACHMENT_MAX_BYTES"]
    folder = attachments_dir()
    for file in mail.files:
        if len(file.data) > limit:
            ticket.record(
                "attachment_skipped",
                "system",
                filename=file.filename,
                size_bytes=len(file.data),
                limit_bytes=limit,
            )
            continue
        key = secrets.token_hex(16)
        folder.mkdir(parents=True, exist_ok=True)
        written.append(folder / key)
        (folder / key).write_bytes(file.data)
        db.session.add(
            Attachment(
                ticket_id=ticket.id,
                filename=file.filename,
                content_type=file.content_type,
                size_bytes=len(file.data),
                storage_key=key,
                sha256=hashlib.sha256(file.data).hexdigest(),
                source="email",
            )
        )
