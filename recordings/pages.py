"""The supervisors' recording pages: queries, filters and labels.

The routes are at the end of recordings/views.py; this module holds what they
compute, so the views stay a few lines each.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, select

from app.extensions import db
from app.lines import current_lines
from app.menus import category_choices
from app.models import Call, Caller, Recording, Ticket, TicketEvent, User
from config import ROOT

PAGE_SIZE = 50
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The player's script, installed by `npm ci` (pinned in package-lock.json).
WAVESURFER = ROOT / "node_modules" / "wavesurfer.js" / "dist" / "wavesurfer.min.js"

MEDIA_STATUSES = {
    "stored": _l("Available"),
    "pending": _l("Waiting to be fetched"),
    "fetching": _l("Being fetched"),
    "failed": _l("Could not be fetched"),
    "purged": _l("Deleted (retention)"),
    "erased": _l("Deleted (personal data erased)"),
}

# What the player page says instead of a player.
NOT_STORED = {
    "pending": _l("The audio has not been fetched from Twilio yet."),
    "fetching": _l("The audio has not been fetched from Twilio yet."),
    "failed": _l("The audio could not be fetched from Twilio."),
    "purged": _l("The audio was deleted at the end of its retention time."),
    "erased": _l("The audio was deleted when the caller's personal data was erased."),
}
NOT_STORED_OTHERWISE = _l("The audio of this recording is not stored.")

TICKET_STATUSES = {
    "new": _l("New"),
    "assigned": _l("Assigned"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
    "reopened": _l("Reopened"),
}

ACTIONS = {
    "created": _l("Ticket created"),
    "call": _l("Call"),
    "note": _l("Note"),
    "status": _l("Status changed"),
    "assigned": _l("Assignment"),
    "category": _l("Category changed"),
    "recording": _l("Recording attached"),
    "recording_stored": _l("Recording stored"),
    "recording_failed": _l("Recording could not be fetched"),
    "recording_deleted_at_twilio": _l("Twilio's copy deleted"),
    "recording_purged": _l("Recording deleted (retention)"),
    "listened": _l("Recording listened to"),
    "hold": _l("Legal hold"),
    "erased": _l("Personal data erased"),
    "no_message": _l("No message left"),
    "sms_queued": _l("SMS queued"),
    "sms_sent": _l("SMS sent"),
    "sms_failed": _l("SMS failed"),
    "sms_status": _l("SMS status"),
    "sms_status_request": _l("Status asked by SMS"),
    "satisfaction_asked": _l("Satisfaction asked"),
    "rating": _l("Rating"),
}

FILTER_NAMES = {
    "from": _l("from"),
    "to": _l("to"),
    "line": _l("line"),
    "agent": _l("agent"),
    "category": _l("category"),
}


@dataclass(frozen=True)
class Choices:
    """What the filter form offers: configured lines, users, known categories."""

    lines: list[tuple[str, str]]  # (number, name)
    agents: list[tuple[int, str]]  # (user id, e-mail)
    categories: list[tuple[str, str]]  # (key, label)


def choices(language: str) -> Choices:
    lines = current_lines().lines
    agents = db.session.execute(select(User.id, User.email).order_by(User.email))
    return Choices(
        lines=[(line.number, line.name) for line in lines],
        agents=[(row.id, row.email) for row in agents],
        categories=category_choices(language),  # as the work queue lists them
    )


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    line: str | None = None
    agent_id: int | None = None
    category: str | None = None

    def args(self) -> dict[str, str]:
        """The query string that gives these filters back (for the page links)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "line": self.line,
            "agent": str(self.agent_id) if self.agent_id is not None else None,
            "category": self.category,
        }
        return {name: value for name, value in values.items() if value}

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = []
        if self.date_from:
            start = datetime.combine(self.date_from, datetime.min.time(), UTC)
            conditions.append(Recording.created_at >= start)
        if self.date_to:
            end = datetime.combine(self.date_to, datetime.min.time(), UTC)
            conditions.append(Recording.created_at < end + timedelta(days=1))
        if self.line:
            conditions.append(func.coalesce(Call.line, Ticket.line) == self.line)
        if self.agent_id is not None:
            conditions.append(Call.agent_id == self.agent_id)
        if self.category:
            conditions.append(Ticket.category == self.category)
        return conditions


def _day(text: str) -> date:
    if not DATE.match(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def parse_filters(args: Mapping[str, str], offered: Choices) -> tuple[Filters, list]:
    """The filters asked for, or none at all and the names of those not understood.

    Only what the form offers is accepted: a line, agent or category that is not
    in its select is refused like a malformed date.
    """
    text = {name: (args.get(name) or "").strip() for name in FILTER_NAMES}
    bad = []
    values: dict[str, Any] = {}
    for name, key in (("from", "date_from"), ("to", "date_to")):
        if text[name]:
            try:
                values[key] = _day(text[name])
            except ValueError:
                bad.append(name)
    start, end = values.get("date_from"), values.get("date_to")
    if start and end and start > end:
        bad.append("to")
    if text["line"]:
        if text["line"] in {number for number, _ in offered.lines}:
            values["line"] = text["line"]
        else:
            bad.append("line")
    if text["agent"]:
        ids = {user_id for user_id, _ in offered.agents}
        if text["agent"].isdigit() and int(text["agent"]) in ids:
            values["agent_id"] = int(text["agent"])
        else:
            bad.append("agent")
    if text["category"]:
        if text["category"] in {key for key, _ in offered.categories}:
            values["category"] = text["category"]
        else:
            bad.append("category")
    if bad:
        return Filters(), [FILTER_NAMES[name] for name in bad]
    return Filters(**values), []


@dataclass(frozen=True)
class Row:
    recording: Recording
    call: Call | None
    ticket: Ticket | None
    agent_email: str | None
    phone: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    number: int
    pages: int
    total: int
    filters: Filters = field(default_factory=Filters)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def recordings_page(filters: Filters, number: int) -> Page:
    """One page of recordings, newest first, with their call, ticket and agent."""
    conditions = filters.conditions()
    joined = (
        select(func.count(Recording.id))
        .outerjoin(Call, Recording.call_id == Call.id)
        .outerjoin(Ticket, Recording.ticket_id == Ticket.id)
        .where(*conditions)
    )
    total = db.session.scalar(joined) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(max(1, number), pages)
    query = (
        select(Recording, Call, Ticket, User.email, Caller.phone_e164)
        .outerjoin(Call, Recording.call_id == Call.id)
        .outerjoin(Ticket, Recording.ticket_id == Ticket.id)
        .outerjoin(User, Call.agent_id == User.id)
        .outerjoin(Caller, Call.caller_id == Caller.id)
        .where(*conditions)
        .order_by(Recording.created_at.desc(), Recording.id.desc())
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    )
    rows = [
        Row(recording, call, ticket, email, phone or (call.from_raw if call else None))
        for recording, call, ticket, email, phone in db.session.execute(query)
    ]
    return Page(rows, number, pages, total, filters)


def line_name(number: str | None) -> str | None:
    for line in current_lines().lines:
        if line.number == number:
            return line.name
    return None


def category_label(ticket: Ticket, language: str) -> str | None:
    if not ticket.category:
        return None
    return dict(category_choices(language)).get(ticket.category, ticket.category)


def duration_text(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def media_status_label(status: str | None) -> str:
    if status is None:
        return "—"
    return str(MEDIA_STATUSES.get(status, status))


def not_stored_message(recording: Recording) -> str | None:
    """Why there is no player, or None when the audio can be played."""
    if recording.media_status == "stored" and recording.storage_key:
        return None
    return str(NOT_STORED.get(recording.media_status or "", NOT_STORED_OTHERWISE))


def action_label(action: str) -> str:
    return str(ACTIONS.get(action, action))


def ticket_status_label(status: str) -> str:
    return str(TICKET_STATUSES.get(status, status))


def event_detail(event: TicketEvent) -> str:
    """A short human line for the events whose detail says something."""
    detail = event.detail or {}
    if "old" in detail or "new" in detail:
        return f"{detail.get('old') or '—'} → {detail.get('new') or '—'}"
    for key in ("text", "score", "reason", "status"):
        if detail.get(key) is not None:
            return str(detail[key])
    return ""


def player_context(recording: Recording, language: str) -> dict[str, Any]:
    """What the player page shows beside the audio: the call and the ticket."""
    call = recording.call
    ticket = None
    if recording.ticket_id is not None:
        ticket = db.session.get(Ticket, recording.ticket_id)
    agent = db.session.get(User, call.agent_id) if call and call.agent_id else None
    line = (call.line if call else None) or (ticket.line if ticket else None)
    phone = (ticket.phone if ticket else None) or (
        (call.caller.phone_e164 if call.caller else call.from_raw) if call else None
    )
    return {
        "recording": recording,
        "call": call,
        "ticket": ticket,
        "agent_email": agent.email if agent else None,
        "line": line,
        "line_name": line_name(line),
        "phone": phone,
        "category": category_label(ticket, language) if ticket else None,
        "events": list(ticket.events) if ticket else [],
        "not_stored": not_stored_message(recording),
    }
