"""The work queue: filters carried by a URL, four orders with keyset pages, counts.

A view of the queue is a query string (`?status=open&assignee=me&sort=due`), so
it can be bookmarked, shared and exported. Every list starts from
visible_tickets(user): a filter only narrows what the person may see.

Pages follow a keyset, as app.services.ticket_list does, generalised to the
queue's orders: the cursor holds the sort keys of the last row shown, and the
next page starts after it. Counts are SQL aggregates, never len() of a list.
"""

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)

from app.extensions import db
from app.labels import CHANNELS, PRIORITIES, STATUSES, centre_zone
from app.lines import current_lines
from app.menus import category_choices
from app.models import Service, Ticket, TicketStatus, User
from app.models.types import UTCDateTime, utcnow
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.services import sla_alerts
from app.services.sla_clock import NOT_TAKEN
from app.services.ticket_list import ROW_OPTIONS, by_phone
from app.services.visibility import visible_tickets
from app.sla import current_plans

PAGE_SIZE = 50
EXPORT_BATCH = 500  # rows an export reads at a time
FINISHED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
OPEN = "open"  # the pseudo-status "everything not resolved or closed"
SORTS = ("newest", "oldest", "due", "priority")
FLAGS = ("overdue", "escalated", "appeals")
# Tickets with no pending due sort after every real one.
NO_DUE = datetime(9999, 1, 1, tzinfo=UTC)
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    status: str | None = None  # a status, or OPEN
    priority: str | None = None
    category: str | None = None
    service: str | None = None  # a service's key, or "none": the centre's intake
    assignee: str | None = None  # "me", "nobody" or a user's id
    line: str | None = None
    channel: str | None = None
    created_from: date | None = None  # the centre's days, both ends included
    created_to: date | None = None
    overdue: bool = False
    escalated: bool = False
    appeals: bool = False
    q: str = ""  # a reference or a phone number, as typed
    sort: str = "newest"

    def args(self) -> dict[str, str]:
        """The query string that gives these filters back (links, export, cursor)."""
        values: dict[str, str] = {}
        for name, value in asdict(self).items():
            if isinstance(value, bool):
                if value:
                    values[name] = "1"
            elif isinstance(value, date):
                values[name] = value.isoformat()
            elif value and not (name == "sort" and value == "newest"):
                values[name] = str(value)
        return values

    @property
    def narrowed_by(self) -> int:
        """How many filters narrow the list (the order is not one)."""
        return len(self.args()) - ("sort" in self.args())


@dataclass(frozen=True)
class SavedView:
    name: str
    filters: Filters


SAVED_VIEWS = (
    SavedView("mine", Filters(assignee="me", status=OPEN)),
    SavedView("unassigned", Filters(assignee="nobody", status=OPEN)),
    SavedView("overdue", Filters(overdue=True, sort="due")),
    SavedView("waiting", Filters(status=TicketStatus.WAITING.value)),
    SavedView("appeals", Filters(appeals=True, status=OPEN)),
)


# --- reading a query string --------------------------------------------------------


@dataclass(frozen=True)
class Offered:
    """What the filter form offers; a value outside it is refused, not ignored."""

    services: list[tuple[str, str]]  # (key, name)
    people: list[tuple[int, str]]  # (user id, name)
    lines: list[tuple[str, str]]  # (number, name)
    categories: list[tuple[str, str]]  # (key, words)


def offered(language: str) -> Offered:
    services = db.session.execute(
        select(Service.key, Service.name).order_by(Service.name)
    )
    people = db.session.execute(
        select(User.id, User.name, User.email)
        .where(User.active.is_(True))
        .order_by(func.coalesce(User.name, User.email))
    )
    return Offered(
        services=[(row.key, row.name) for row in services],
        people=[(row.id, row.name or row.email) for row in people],
        lines=[(line.number, line.name) for line in current_lines().lines],
        categories=category_choices(language),
    )


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# Days a centre's midnight can be computed for, with room for the zone's offset.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def _day(text: str) -> date:
    if not DATE.fullmatch(text):
        raise ValueError(text)
    day = date.fromisoformat(text)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(text)
    return day


def parse_filters(args: Mapping[str, str], choices: Offered) -> tuple[Filters, list]:
    """The filters asked for, and the names of those not understood (left out)."""
    text = {name: (args.get(name) or "").strip() for name in Filters.__annotations__}
    allowed: dict[str, set[str]] = {
        "status": {*STATUSES, OPEN},
        "priority": set(PRIORITIES),
        "category": {key for key, _ in choices.categories},
        "service": {key for key, _ in choices.services} | {"none"},
        "assignee": {str(user_id) for user_id, _ in choices.people} | {"me", "nobody"},
        "line": {number for number, _ in choices.lines},
        "channel": set(CHANNELS),
        "sort": set(SORTS),
    }
    values: dict[str, Any] = {}
    bad: list[str] = []
    for name, accepted in allowed.items():
        if text[name]:
            if text[name] in accepted:
                values[name] = text[name]
            else:
                bad.append(name)
    for name in ("created_from", "created_to"):
        if text[name]:
            try:
                values[name] = _day(text[name])
            except ValueError:
                bad.append(name)
    start, end = values.get("created_from"), values.get("created_to")
    if start and end and start > end:
        bad.append("created_to")
        del values["created_to"]
    for name in FLAGS:
        if text[name] in ("1", "on", "true"):
            values[name] = True
        elif text[name] not in ("", "0"):
            bad.append(name)
    query = text["q"][:64]
    if query:
        if _search(query) is None:
            bad.append("q")
        else:
            values["q"] = query
    return Filters(**values), bad


def _search(text: str) -> ColumnElement[bool] | None:
    """A reference (with or without the dash) or a phone number; None if neither."""
    if re.fullmatch(r"[\d\s\-]{8,9}", text):
        try:
            return Ticket.reference == parse_reference(text)
        except InvalidReference:
            pass
    phone = to_e164(text, current_app.config["DEFAULT_REGION"])
    return None if phone is None else by_phone(phone)


# --- the SQL of a view -------------------------------------------------------------


def _running() -> ColumnElement[bool]:
    """The clock runs: not waiting for the citizen, not resolved or closed."""
    return Ticket.status.not_in(sla_alerts.CLOSED)


def _take_charge_pending() -> ColumnElement[bool]:
    return and_(
        Ticket.take_charge_met.is_(None),
        Ticket.take_charge_due.is_not(None),
        Ticket.status.in_(NOT_TAKEN),
    )


def _resolve_pending() -> ColumnElement[bool]:
    return and_(Ticket.resolve_met.is_(None), Ticket.resolve_due.is_not(None))


def pending_due() -> ColumnElement[datetime]:
    """The nearest due still to be met of an unfinished ticket, else NO_DUE:
    the deadlines sla_alerts.reached chases, in SQL."""
    take, resolve = Ticket.take_charge_due, Ticket.resolve_due
    nearest = case(
        (
            and_(_take_charge_pending(), _resolve_pending()),
            case((take <= resolve, take), else_=resolve),
        ),
        (_take_charge_pending(), take),
        (_resolve_pending(), resolve),
        else_=literal(NO_DUE, UTCDateTime),
    )
    unfinished = Ticket.status.not_in(FINISHED)
    due = case((unfinished, nearest), else_=literal(NO_DUE, UTCDateTime))
    return type_coerce(due, UTCDateTime)


def overdue(now: datetime) -> ColumnElement[bool]:
    """A due passed and not met while the clock runs: what escalates (level 1+)."""
    return and_(
        _running(),
        or_(
            and_(_take_charge_pending(), Ticket.take_charge_due <= now),
            and_(_resolve_pending(), Ticket.resolve_due <= now),
        ),
    )


def _centre_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, centre_zone()).astimezone(UTC)


def conditions(filters: Filters, user: User, now: datetime) -> list[ColumnElement]:
    """What the user may see, narrowed by the filters."""
    return [visible_tickets(user), *narrowing(filters, user, now)]


def narrowing(filters: Filters, user: User, now: datetime) -> list[ColumnElement]:
    """The filters' own conditions, without the visibility that always goes first."""
    found: list[ColumnElement] = []
    if filters.status == OPEN:
        found.append(Ticket.status.not_in(FINISHED))
    elif filters.status:
        found.append(Ticket.status == filters.status)
    for name in ("priority", "category", "line", "channel"):
        if getattr(filters, name):
            found.append(getattr(Ticket, name) == getattr(filters, name))
    if filters.service == "none":
        found.append(Ticket.service_id.is_(None))
    elif filters.service:
        found.append(
            Ticket.service_id.in_(
                select(Service.id).where(Service.key == filters.service)
            )
        )
    if filters.assignee == "me":
        found.append(Ticket.assignee_id == user.id)
    elif filters.assignee == "nobody":
        found.append(Ticket.assignee_id.is_(None))
    elif filters.assignee:
        found.append(Ticket.assignee_id == int(filters.assignee))
    if filters.created_from:
        found.append(Ticket.created_at >= _centre_midnight(filters.created_from))
    if filters.created_to:
        end = _centre_midnight(filters.created_to + timedelta(days=1))
        found.append(Ticket.created_at < end)
    if filters.overdue:
        found.append(overdue(now))
    if filters.escalated:
        found.append(Ticket.escalation_level > 0)
    if filters.appeals:
        found.append(Ticket.appeal.is_(True))
    if filters.q:
        search = _search(filters.q)
        found.append(false() if search is None else search)
    return found


# --- orders and their keyset --------------------------------------------------------


@dataclass(frozen=True)
class Order:
    keys: tuple[ColumnElement, ...]
    descending: bool

    def by(self) -> list[ColumnElement]:
        return [key.desc() if self.descending else key.asc() for key in self.keys]

    def after(self, values: list) -> ColumnElement[bool]:
        """Rows that come after the row whose keys are `values`."""
        mine = tuple_(*self.keys)
        typed = (literal(v, k.type) for k, v in zip(self.keys, values, strict=True))
        theirs = tuple_(*typed)
        return mine < theirs if self.descending else mine > theirs


def _order(sort: str) -> Order:
    created, ident = Ticket.created_at, Ticket.id
    if sort == "oldest":
        return Order((created, ident), descending=False)
    if sort == "due":
        return Order((pending_due(), ident), descending=False)
    if sort == "priority":
        rank = type_coerce(
            case(PRIORITY_RANK, value=Ticket.priority, else_=PRIORITY_RANK["normal"]),
            Integer,
        )
        # The most urgent first; within a priority, who has waited longest.
        return Order((rank, created, ident), descending=False)
    return Order((created, ident), descending=True)


def encode_cursor(sort: str, values: list) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([sort, plain], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list:
    """The keys of the last row shown; refuses a cursor of another order."""
    order = _order(sort)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        given, plain = json.loads(raw)
        if given != sort or len(plain) != len(order.keys):
            raise ValueError(given)
        values = []
        for key, value in zip(order.keys, plain, strict=True):
            if isinstance(key.type, UTCDateTime):
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ValueError(value)
                values.append(moment.astimezone(UTC))
            elif type(value) is int and 0 <= value < 2**63:  # a database integer
                values.append(value)
            else:
                raise ValueError(value)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        raise InvalidCursor("not a cursor this list gave") from None
    return values


# --- pages and counts ---------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next: str | None  # the cursor of the following page; None on the last
    total: int = 0  # the whole filtered set
    first: int = 0  # the position of the first row shown (1-based; 0 when empty)
    views: dict[str, int] = field(default_factory=dict)  # saved view -> count

    @property
    def last(self) -> int:
        return self.first + len(self.tickets) - 1 if self.tickets else 0


def queue_page(
    filters: Filters,
    user: User,
    cursor: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
    count: bool = True,
) -> Page:
    """One page of the view; `cursor` is the `next` of the previous page.
    Raises InvalidCursor on a cursor not ours (or another order's)."""
    now = now or utcnow()
    limit = limit or PAGE_SIZE
    where = conditions(filters, user, now)
    order = _order(filters.sort)
    after = order.after(decode_cursor(cursor, filters.sort)) if cursor else None
    query = (
        select(Ticket, *order.keys)
        .where(*where)
        .options(*ROW_OPTIONS)
        .order_by(*order.by())
    )
    if after is not None:
        query = query.where(after)
    # One row more than asked says whether there is a next page.
    rows = db.session.execute(query.limit(limit + 1)).all()
    tickets = [row[0] for row in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = encode_cursor(filters.sort, list(rows[limit - 1][1:]))
    if not count:
        return Page(tickets, following)
    counted = _counts(filters, user, now, after)
    first = counted["before"] + 1 if tickets else 0
    views = {view.name: counted[view.name] for view in SAVED_VIEWS}
    return Page(tickets, following, counted["total"], first, views)


def _counts(
    filters: Filters, user: User, now: datetime, after: ColumnElement | None
) -> dict[str, int]:
    """The view's total, the rows before this page and each saved view's count,
    in one statement: one pass over what the user may see, not one per figure."""
    where = and_(true(), *narrowing(filters, user, now))
    columns = {
        "total": func.count().filter(where),
        "before": func.count().filter(and_(where, ~after))
        if after is not None
        else literal(0),
    }
    for view in SAVED_VIEWS:
        columns[view.name] = func.count().filter(
            and_(true(), *narrowing(view.filters, user, now))
        )
    row = db.session.execute(
        select(*columns.values()).select_from(Ticket).where(visible_tickets(user))
    ).one()
    return dict(zip(columns, row, strict=True))


def all_rows(filters: Filters, user: User) -> Iterator[Ticket]:
    """Every ticket of the view, a keyset page at a time: an export of a large
    view never holds more than one page."""
    now = utcnow()
    cursor = None
    while True:
        page = queue_page(filters, user, cursor, EXPORT_BATCH, now=now, count=False)
        yield from page.tickets
        for ticket in page.tickets:
            db.session.expunge(ticket)
        if page.next is None:
            return
        cursor = page.next


def saved_view_named(filters: Filters) -> str | None:
    """The saved view these filters are (whatever the order), if any."""
    for view in SAVED_VIEWS:
        if replace(view.filters, sort=filters.sort) == filters:
            return view.name
    return None


# --- what a row shows of its clock -------------------------------------------------


@dataclass(frozen=True)
class Due:
    at: datetime
    state: str  # "late", "soon" (the reminder is due), "ok" or "paused"
    gap: timedelta  # how late, or how long left (wall-clock time)


def due_of(ticket: Ticket, now: datetime) -> Due | None:
    """The nearest pending due of a ticket and how it stands, as sla_alerts sees it."""
    if ticket.status in FINISHED:
        return None
    pending = []
    if (
        ticket.take_charge_due is not None
        and ticket.take_charge_met is None
        and ticket.status in NOT_TAKEN
    ):
        pending.append(ticket.take_charge_due)
    if ticket.resolve_due is not None and ticket.resolve_met is None:
        pending.append(ticket.resolve_due)
    if not pending:
        return None
    due = min(pending)
    if ticket.status == TicketStatus.WAITING:
        return Due(due, "paused", abs(due - now))
    if due <= now:
        return Due(due, "late", now - due)
    plan = current_plans().named(ticket.sla_plan or "default")
    steps = sla_alerts.reached(ticket, plan, now) if plan else []
    return Due(due, "soon" if steps else "ok", due - now)
