"""Calls as Twilio reports them: logged on arrival, advanced by status callbacks."""

from collections.abc import Callable, Mapping
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from app.extensions import db
from app.models import Call, Caller
from app.models.types import UTCDateTime, utcnow
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


UPSERTS: dict[str, Callable] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


@cache
def _arrival_statements(dialect: str) -> tuple[Executable, Executable]:
    """Add-caller-once and add-call-once, built once per database dialect.

    Two statements whatever happens: the call finds its caller's id in a
    sub-select, so no round trip is spent reading it back.
    """
    insert = UPSERTS[dialect]
    callers, calls = Caller.__table__, Call.__table__
    now = bindparam("now", type_=UTCDateTime())
    add_caller = (
        insert(callers)
        .values(phone_e164=bindparam("phone"), created_at=now)
        .on_conflict_do_nothing(index_elements=["phone_e164"])
    )
    caller_id = (
        select(callers.c.id)
        .where(callers.c.phone_e164 == bindparam("phone"))
        .scalar_subquery()
    )
    add_call = (
        insert(calls)
        .values(
            call_sid=bindparam("sid"),
            caller_id=caller_id,
            from_raw=bindparam("from_raw"),
            line=bindparam("line"),
            direction=bindparam("direction"),
            status="ringing",
            language=bindparam("language"),
            intent=bindparam("intent"),
            started_at=now,
        )
        .on_conflict_do_nothing(index_elements=["call_sid"])
    )
    return add_caller, add_call


def log_arrival(
    form: Mapping[str, str],
    line_number: str,
    region: str,
    language: str,
    intent: str | None,
) -> None:
    """Log a new call as cheaply as the database allows: this is the hot path.

    Two statements and no ORM unit of work; a repeated delivery inserts
    nothing. A call first seen through another callback is completed by
    call_for() instead.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect not in UPSERTS:
        call = call_for(form, line_number, region)
        call.language = call.language or language
        call.intent = call.intent or intent
        return
    add_caller, add_call = _arrival_statements(dialect)
    from_raw = (form.get("From") or "")[:64]
    phone = to_e164(from_raw, region)
    now = utcnow()
    if phone:
        db.session.execute(add_caller, {"phone": phone, "now": now})
    added = db.session.execute(
        add_call,
        {
            "sid": (form.get("CallSid") or "")[:64],
            "phone": phone,
            "from_raw": from_raw,
            "line": line_number,
            "direction": (form.get("Direction") or "inbound")[:24],
            "language": language,
            "intent": intent,
            "now": now,
        },
    )
    if added.rowcount == 0:
        call = call_for(form, line_number, region)  # known already: fill gaps only
        call.language = call.language or language
        if intent:
            note_intent(call, intent)


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
