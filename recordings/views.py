"""The recording status callback: keyed by RecordingSid, attached through the call."""

from flask import Blueprint, current_app, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.lines import current_lines
from app.menus import menu_for
from app.models import Call, Ticket
from app.services.calls import call_for
from app.services.followups import commit_and_dispatch
from app.services.recordings import attach, note_absent, recording_for
from app.services.tickets import ticket_for_call
from app.spool import save_request
from app.webhooks import form_text, twilio_signed

bp = Blueprint("recordings", __name__)

PURPOSES = ("complaint", "callback")


@bp.post("/voice/recording")
@twilio_signed
def callback() -> tuple[str, int]:
    if not form_text("RecordingSid", 64) or not form_text("CallSid", 64):
        return "RecordingSid and CallSid are required", 400
    # Recording callbacks carry no To: the line is the call's, if we know it.
    known = db.session.scalar(select(Call).filter_by(call_sid=form_text("CallSid", 64)))
    line = current_lines().for_number(known.line if known else None)
    call = known or call_for(
        request.form, line.number, current_app.config["DEFAULT_REGION"]
    )
    purpose = request.args.get("purpose")
    recording = recording_for(
        request.form, call, "voicemail" if purpose in PURPOSES else "call"
    )
    ticket = db.session.scalar(select(Ticket).filter_by(origin_call_id=call.id))
    if ticket is None and purpose in PURPOSES:
        # The voicemail action never came (hang-up, fault): file the ticket here.
        menu = menu_for(line)
        category = request.args.get("category")
        keys = {key for key, _ in menu.categories_for(line)}
        lang = menu.language(request.args.get("lang"), line.language)
        ticket, _ = ticket_for_call(
            call, purpose, category if category in keys else None, lang
        )
    if ticket is not None:
        attach(recording, ticket)
        if recording.status == "absent":
            note_absent(recording, ticket)
    commit_and_dispatch()
    return "", 204


@bp.errorhandler(Exception)
def keep_for_later(error: Exception) -> HTTPException | tuple[str, int]:
    """Twilio never retries a recording callback: keep it on disk, not a 5xx."""
    if isinstance(error, HTTPException):
        return error
    db.session.rollback()
    save_request()
    return "", 204
