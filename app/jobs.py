"""RQ job functions: module-level, typed, given ids, reloading their rows."""

import logging

from flask import current_app
from twilio.base.exceptions import TwilioRestException

from app.extensions import db
from app.models import Message, Ticket
from app.models.types import utcnow

log = logging.getLogger(__name__)


def _is_retryable(error: TwilioRestException) -> bool:
    return error.status == 429 or error.status >= 500


def _status_callback_url() -> str | None:
    # Twilio needs an absolute URL, so status callbacks need PUBLIC_BASE_URL.
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base.rstrip('/')}/sms/status" if base else None


def send_message(message_id: int) -> None:
    """Send one queued SMS; Twilio's 429/5xx and network errors raise so RQ retries."""
    message = db.session.get(Message, message_id)
    if message is None or message.status != "queued":
        return  # gone, or already handed to Twilio by an earlier try
    gateway = current_app.extensions["twilio"]
    ticket = db.session.get(Ticket, message.ticket_id) if message.ticket_id else None
    try:
        sent = gateway.send_sms(
            message.to_number, message.body, message.from_number, _status_callback_url()
        )
    except TwilioRestException as error:
        if _is_retryable(error):
            raise
        message.status = "failed"
        message.error_code = str(error.code)
        if ticket is not None:
            ticket.record(
                "sms_failed", "system", message_id=message.id, code=error.code
            )
        message.updated_at = utcnow()
        db.session.commit()
        log.warning("SMS %s refused by Twilio (code %s)", message.id, error.code)
        return
    message.message_sid = sent.sid
    message.status = sent.status
    message.updated_at = utcnow()
    if ticket is not None:
        ticket.record("sms_sent", "system", message_id=message.id, status=sent.status)
    db.session.commit()
