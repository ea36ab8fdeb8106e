"""Messaging webhooks: a text comes in, a message's delivery status changes."""

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException

from app.dbguard import is_database_outage
from app.extensions import db
from app.lines import current_lines
from app.models import Caller, Message, Ticket
from app.services.followups import OUTBOX, commit_and_dispatch
from app.services.inbound import REPLY_BY_SMS, handle_text
from app.spool import is_replay, keep_failed_request, save_request
from app.webhooks import form_text, twilio_signed, twiml

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__, url_prefix="/sms")

OPTED_OUT = "21610"


@bp.post("/incoming")
@twilio_signed
def incoming() -> Response:
    line = current_lines().for_number(form_text("To", 64).removeprefix("whatsapp:"))
    sid = form_text("MessageSid", 64)
    if is_replay():
        db.session.info[REPLY_BY_SMS] = True  # Twilio waits for no TwiML now
    try:
        reply = handle_text(request.form, line, current_app.config["DEFAULT_REGION"])
        commit_and_dispatch()
    except (IntegrityError, PendingRollbackError):
        # Twilio delivered the text twice at once and the other delivery wrote
        # it first (messages.message_sid is unique): that one answers the caller.
        # (PendingRollbackError: a savepoint inside caught the violation first.)
        db.session.rollback()
        db.session.info.pop(OUTBOX, None)
        if not sid or not db.session.scalar(
            select(Message.id).filter_by(message_sid=sid)
        ):
            raise
        log.info("inbound %s delivered twice at once: answered by the other", sid)
        reply = None
    response = MessagingResponse()
    if reply and not is_replay():
        response.message(reply)
    return twiml(response)


@bp.post("/status")
@twilio_signed
def status() -> tuple[str, int]:
    """Delivery status: late, repeated or out of order, it only moves forward."""
    sid = form_text("MessageSid", 64)
    if not sid:
        return "MessageSid is required", 400
    message = db.session.scalar(select(Message).filter_by(message_sid=sid))
    if message is None:
        log.info("status for unknown message %s ignored", sid)
        return "", 204
    new_status = form_text("MessageStatus", 16) or form_text("SmsStatus", 16)
    code = form_text("ErrorCode", 16)
    if message.advance_status(new_status):
        if code:
            message.error_code = code
        if message.ticket_id is not None:
            ticket = db.session.get(Ticket, message.ticket_id)
            detail = {"message_id": message.id, "status": message.status}
            ticket.record(
                "sms_status", "twilio", **detail, **({"code": code} if code else {})
            )
    if code == OPTED_OUT and message.caller_id is not None:
        db.session.get(Caller, message.caller_id).sms_opt_out = True
    db.session.commit()
    return "", 204


@bp.errorhandler(Exception)
def keep_for_later(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """A text or a status must not be lost to a database outage: spooled.

    An inbound text gets an empty TwiML answer (200), so Twilio neither retries
    nor tells the caller about an error; the reply goes by SMS on replay. Any
    other failure is kept in spool/failed/ and answered 500.
    """
    if isinstance(error, HTTPException):
        return error
    log.exception("SMS webhook %s failed", request.path)
    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback failed too")
    if not is_database_outage(error):
        keep_failed_request(error)
        return "failed; kept for a person to look at", 500
    save_request(error)
    if request.endpoint == "sms.incoming":
        return twiml(MessagingResponse())
    return "", 204
