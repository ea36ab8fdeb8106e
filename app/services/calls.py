"""Calls as Twilio reports them: logged on arrival, advanced by status callbacks."""

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Call
from app.models.types import utcnow
from app.phone import to_e164
from app.services.callers import caller_for


def parse_count(value: str | None) -> int | None:
    """A duration or count Twilio sent, or None when it is missing or absurd."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 <= number < 10**7 else None


def call_for(form: Mapping[str, str], line_number: str, region: str) -> Call:
    """The call of this CallSid, created the first time any webhook mentions it.

    Any webhook may be the first to arrive (a status callback can beat the
    incoming webhook), and the same one may arrive twice.
    """
    sid = (form.get("CallSid") or "")[:64]
    from_raw = (form.get("From") or "")[:64]
    call = db.session.scalar(select(Call).filter_by(call_sid=sid))
    if call is not None:
        if from_raw and not call.from_raw:
            # First seen through a recording callback, which carries no From/To.
            call.from_raw = from_raw
            call.caller = caller_for(to_e164(from_raw, region))
            call.line = line_number
        return call
    caller = caller_for(to_e164(from_raw, region))
    call = Call(
        call_sid=sid,
        caller=caller,
        from_raw=from_raw,
        line=line_number,
        direction=(form.get("Direction") or "inbound")[:24],
        status="ringing",
    )
    try:
        with db.session.begin_nested():
            db.session.add(call)
    except IntegrityError:
        call = db.session.scalars(select(Call).filter_by(call_sid=sid)).one()
    return call


def apply_status(call: Call, form: Mapping[str, str]) -> bool:
    """Apply a status callback; True when the call has just reached its end."""
    was_final = call.is_final
    call.advance_status((form.get("CallStatus") or "")[:16])
    duration = parse_count(form.get("CallDuration"))
    if duration is not None:
        call.duration = duration
    if call.is_final and not was_final:
        call.ended_at = utcnow()
        return True
    return False


def note_intent(call: Call, intent: str, category: str | None = None) -> None:
    # A complaint outranks a plain callback: keep the more specific wish.
    if call.intent == "complaint" and intent != "complaint":
        return
    call.intent = intent
    call.intent_category = category or call.intent_category
