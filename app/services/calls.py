"""Calls as Twilio reports them: logged on arrival, advanced by status callbacks."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Integer, String, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

from app.extensions import autocommit, db
from app.models import Call, Caller, Ticket
from app.models.calls import FINAL_STATUSES
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


def _new_call(caller_id: object, now: BindParameter) -> dict[str, object]:
    """The columns of a call logged on arrival, its parameters bound by name."""
    return {
        "call_sid": bindparam("sid"),
        "caller_id": caller_id,
        "from_raw": bindparam("from_raw"),
        "line": bindparam("line"),
        "direction": bindparam("direction"),
        "status": "ringing",
        "language": bindparam("language"),
        "intent": bindparam("intent"),
        "started_at": now,
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
        .values(_new_call(caller_id, now))
        .on_conflict_do_nothing(index_elements=["call_sid"])
    )
    return add_caller, add_call


@cache
def _arrival_in_one_statement() -> Executable:
    """PostgreSQL: add the caller once and the call once in a single statement.

    Run on its own (autocommit), it is one round trip to the database: no
    BEGIN, no second INSERT, no COMMIT. RETURNING tells whether the call is new.
    """
    callers, calls = Caller.__table__, Call.__table__
    now = bindparam("now", type_=UTCDateTime())
    phone = bindparam("phone", type_=String())
    new_caller = (
        postgresql.insert(callers)
        .from_select(
            ["phone_e164", "created_at"], select(phone, now).where(phone.is_not(None))
        )
        .on_conflict_do_nothing(index_elements=["phone_e164"])
        .returning(callers.c.id)
        .cte("new_caller")
    )
    # A caller inserted by this statement is seen only through its RETURNING.
    caller_id = func.coalesce(
        select(new_caller.c.id).scalar_subquery(),
        select(callers.c.id).where(callers.c.phone_e164 == phone).scalar_subquery(),
    )
    return (
        postgresql.insert(calls)
        .values(_new_call(caller_id, now))
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(calls.c.id, calls.c.caller_id)
    )


def _log_arrival_at_once(params: dict) -> bool:
    """The PostgreSQL path of log_arrival(); False when the call was known."""
    with autocommit() as connection:
        added = connection.execute(_arrival_in_one_statement(), params).first()
        if added is not None and params["phone"] and added.caller_id is None:
            # The same new number rang twice at once: the other statement added
            # the caller after this one's snapshot. Link it now (rare).
            connection.execute(
                update(Call)
                .where(Call.id == added.id)
                .values(
                    caller_id=select(Caller.id)
                    .where(Caller.phone_e164 == params["phone"])
                    .scalar_subquery()
                )
            )
    return added is not None


def log_arrival(
    form: Mapping[str, str],
    line_number: str,
    region: str,
    language: str,
    intent: str | None,
) -> None:
    """Log a new call as cheaply as the database allows: this is the hot path.

    No ORM unit of work: one statement on PostgreSQL, two on SQLite; a repeated
    delivery inserts nothing. A call first seen through another callback is
    completed by call_for() instead.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect not in UPSERTS:
        call = call_for(form, line_number, region)
        call.language = call.language or language
        call.intent = call.intent or intent
        return
    from_raw = (form.get("From") or "")[:64]
    phone = to_e164(from_raw, region)
    params = {
        "sid": (form.get("CallSid") or "")[:64],
        "phone": phone,
        "from_raw": from_raw,
        "line": line_number,
        "direction": (form.get("Direction") or "inbound")[:24],
        "language": language,
        "intent": intent,
        "now": utcnow(),
    }
    if dialect == "postgresql":
        added = _log_arrival_at_once(params)
    else:
        add_caller, add_call = _arrival_statements(dialect)
        if phone:
            db.session.execute(add_caller, {"phone": phone, "now": params["now"]})
        added = db.session.execute(add_call, params).rowcount > 0
    if not added:
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


@dataclass(frozen=True)
class Ended:
    """A call just ended by end_at_once(), with what its end may still call for."""

    call_id: int
    intent: str | None
    agent_id: int | None
    has_ticket: bool

    @property
    def settled(self) -> bool:
        """No agent to free or texts to release, no ticket left to file."""
        return (
            self.agent_id is None
            and self.intent not in ("agent", "callback")
            and (self.intent is None or self.has_ticket)
        )


@cache
def _ending() -> Executable:
    """The UPDATE of end_at_once(), built once."""
    calls = Call.__table__
    has_ticket = select(Ticket.id).where(Ticket.origin_call_id == calls.c.id).exists()
    return (
        update(calls)
        .where(
            calls.c.call_sid == bindparam("sid"),
            calls.c.status.not_in(FINAL_STATUSES),
        )
        .values(
            status=bindparam("status"),
            ended_at=bindparam("now", type_=UTCDateTime()),
            duration=func.coalesce(
                bindparam("duration", type_=Integer()), calls.c.duration
            ),
        )
        .returning(calls.c.id, calls.c.intent, calls.c.agent_id, has_ticket)
    )


def end_at_once(form: Mapping[str, str]) -> Ended | None:
    """apply_status() for a call's final status, as one autocommit UPDATE on
    PostgreSQL. None when it does not apply (SQLite, a status that is not final,
    an unknown call, one ended already): use call_for() and apply_status() then.
    """
    status = (form.get("CallStatus") or "")[:16]
    if status not in FINAL_STATUSES or db.engine.dialect.name != "postgresql":
        return None
    params = {
        "sid": (form.get("CallSid") or "")[:64],
        "status": status,
        "now": utcnow(),
        "duration": parse_count(form.get("CallDuration")),
    }
    with autocommit() as connection:
        row = connection.execute(_ending(), params).first()
    return Ended(*row) if row is not None else None


def note_intent_at_once(call_sid: str, intent: str, category: str | None) -> bool:
    """note_intent() as one autocommit UPDATE, on PostgreSQL; False when it did
    not apply (an unknown call, a complaint kept, SQLite): use call_for() then."""
    if db.engine.dialect.name != "postgresql":
        return False
    query = update(Call).where(Call.call_sid == call_sid)
    if intent != "complaint":
        query = query.where(or_(Call.intent.is_(None), Call.intent != "complaint"))
    values = {"intent": intent}
    if category:
        values["intent_category"] = category
    with autocommit() as connection:
        return connection.execute(query.values(**values)).rowcount == 1


def note_intent(call: Call, intent: str, category: str | None = None) -> None:
    # A complaint outranks a plain callback: keep the more specific wish.
    if call.intent == "complaint" and intent != "complaint":
        return
    call.intent = intent
    call.intent_category = category or call.intent_category
