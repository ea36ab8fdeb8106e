"""Messaging webhooks: a text comes in, a message's delivery status changes."""

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from app.extensions import db
from app.lines import current_lines
from app.models import Caller, Message, Ticket
from app.services.followups import commit_and_dispatch
from app.services.inbound import handle_text
from app.webhooks import form_text, twilio_signed, twiml

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__, url_prefix="/sms")

OPTED_OUT = "21610"


@bp.post("/incoming")
@twilio_signed
def incoming() -> Response:
    line = current_lines().for_number(form_text("To", 64).removeprefix("whatsapp:"))
    reply = handle_text(request.form, line, current_app.config["DEFAULT_REGION"])
    commit_and_dispatch()
    response = MessagingResponse()
    if reply:
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
