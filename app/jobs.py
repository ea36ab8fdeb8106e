"""RQ job functions: module-level, typed, given ids, reloading their rows."""

import logging
from datetime import timedelta

from flask import current_app
from requests.exceptions import RequestException
from sqlalchemy import or_, update
from twilio.base.exceptions import TwilioRestException

from app.extensions import db
from app.models import Caller, Message, Ticket
from app.models.types import utcnow

log = logging.getLogger(__name__)

# A job that took a message and died leaves it "sending" with no SID; after this
# long the flush hands it to another job. If it died after Twilio accepted the
# message but before the commit, the caller gets it twice: delivery is at least
# once, never zero.
CLAIM_LEASE = timedelta(minutes=10)
OPTED_OUT = 21610  # Twilio: the recipient replied STOP; never retried


def _is_retryable(error: TwilioRestException) -> bool:
    return error.status == 429 or error.status >= 500


def _status_callback_url() -> str | None:
    # Twilio needs an absolute URL, so status callbacks need PUBLIC_BASE_URL.
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base.rstrip('/')}/sms/status" if base else None


def _claim(message_id: int) -> bool:
    """Take the message for this job; False if it is sent, taken or not due yet.

    One UPDATE decides, so a retry, a flush and a duplicate job never send twice.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.message_sid.is_(None),
            or_(Message.send_after.is_(None), Message.send_after <= now),
            or_(
                Message.status == "queued",
                (Message.status == "sending")
                & (Message.claimed_at <= now - CLAIM_LEASE),
            ),
        )
        .values(status="sending", claimed_at=now, updated_at=now)
    )
    db.session.commit()
    return claimed.rowcount == 1


def _release(message: Message) -> None:
    """Give the message back to the queue before RQ retries the job."""
    message.status = "queued"
    message.claimed_at = None
    message.updated_at = utcnow()
    db.session.commit()


def _fail(message: Message, code: str) -> None:
    message.status = "failed"
    message.error_code = code
    message.updated_at = utcnow()
    if message.ticket_id is not None:
        ticket = db.session.get(Ticket, message.ticket_id)
        ticket.record("sms_failed", "system", message_id=message.id, code=code)
    db.session.commit()


def send_message(message_id: int) -> None:
    """Send one queued message; 429, 5xx and network errors raise so RQ retries."""
    if not _claim(message_id):
        return
    message = db.session.get(Message, message_id)
    caller = db.session.get(Caller, message.caller_id) if message.caller_id else None
    if caller is not None and caller.sms_opt_out:
        _fail(message, "opted_out")
        return
    gateway = current_app.extensions["twilio"]
    try:
        sent = gateway.send_sms(
            message.to_number, message.body, message.from_number, _status_callback_url()
        )
    except TwilioRestException as error:
        if _is_retryable(error):
            _release(message)
            raise
        if error.code == OPTED_OUT and caller is not None:
            caller.sms_opt_out = True
        log.warning("message %s refused by Twilio (code %s)", message.id, error.code)
        _fail(message, str(error.code))
        return
    except (RequestException, OSError):
        _release(message)
        raise
    message.message_sid = sent.sid
    message.status = sent.status if sent.status in ("sent", "logged") else "sending"
    message.updated_at = utcnow()
    if message.ticket_id is not None:
        ticket = db.session.get(Ticket, message.ticket_id)
        ticket.record("sms_sent", "system", message_id=message.id, sid=sent.sid)
    db.session.commit()


def mark_failed(job, connection, error_type, error, traceback) -> None:
    """RQ failure callback: after the last retry the failure goes on the ticket."""
    if job.retries_left:
        return  # RQ will try again
    # The job's own transaction may have died with it (a time-out mid-query).
    db.session.rollback()
    message = db.session.get(Message, job.args[0])
    if (
        message is not None
        and message.message_sid is None
        and message.status != "failed"
    ):
        _fail(message, "retries_exhausted")
