"""A ticket's one timeline, oldest first: its history, its calls with their
recordings, and the messages to and from the citizen, as staff read them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.extensions import db
from app.labels import label
from app.models import (
    Attachment,
    Call,
    Message,
    Recording,
    Service,
    Ticket,
    TicketEvent,
    User,
)
from app.services.attachments import attachments_of, safe_filename
from app.services.visibility import may_listen

# Told by an entry of their own (a message with its delivery status, a call
# with its recordings): their events would only say it twice.
SHOWN_OTHERWISE = {
    "sms_queued",
    "sms_sent",
    "sms_status",
    "sms_rewritten",
    "sms_superseded",
    "sms_failed",
    "email_sent",
    "call",
    "recording",
}
# Who listened to or downloaded what is for supervisors (the audit of the
# recordings and of the citizen's files).
SUPERVISORS_ONLY = {"listened", "attachment_downloaded"}
DEADLINES = {"take_charge": _l("taking in charge"), "resolve": _l("answer")}
FOCAL_ACTOR = "focal point: "


@dataclass(frozen=True)
class Listen:
    """A recording in the timeline: playable here, or why not."""

    id: int
    duration: int | None
    playable: bool
    why_not: str | None = None


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event, call, message, notice
    title: str
    who: str | None = None
    change: str | None = None  # "old → new"
    text: str | None = None  # a note, an answer, a message's body
    badges: tuple[tuple[str, str], ...] = ()  # (css class, words)
    recordings: tuple[Listen, ...] = ()
    action: str | None = None  # the event's, for tests and styling
    files: tuple[tuple[int, str], ...] = ()  # an e-mail's attachments: (id, name)


@dataclass(frozen=True)
class Names:
    """Staff e-mails and service keys as people read them."""

    staff: dict[str, str]
    services: dict[str, str]

    def person(self, email: str | None) -> str:
        return "—" if email is None else self.staff.get(email, email)

    def service(self, key: str | None) -> str:
        return _("Centre intake") if key is None else self.services.get(key, key)

    def actor(self, actor: str) -> str:
        if actor.startswith(FOCAL_ACTOR):
            return _("Focal point %(name)s", name=actor.removeprefix(FOCAL_ACTOR))
        if actor in ("system", "caller", "twilio"):
            return label(actor, "actor")
        return self.person(actor)


def _names() -> Names:
    staff = db.session.execute(select(User.email, User.name))
    services = db.session.execute(select(Service.key, Service.name))
    return Names(
        {email: name or email for email, name in staff},
        dict(services.all()),
    )


def _arrow(old: str, new: str) -> str:
    return f"{old} → {new}"


def _event(event: TicketEvent, names: Names) -> Entry:
    detail: dict[str, Any] = event.detail or {}
    action = event.action
    change = text = None
    badges: tuple[tuple[str, str], ...] = ()
    if action == "status":
        change = _arrow(
            label(detail.get("old"), "status"), label(detail.get("new"), "status")
        )
    elif action == "assigned":
        change = _arrow(
            names.person(detail.get("old")), names.person(detail.get("new"))
        )
    elif action == "service":
        change = _arrow(
            names.service(detail.get("old")), names.service(detail.get("new"))
        )
    elif action in ("category", "priority"):
        change = _arrow(
            label(detail.get("old"), action), label(detail.get("new"), action)
        )
    elif action == "created" and detail.get("channel"):
        change = label(detail["channel"], "channel")
    elif action == "note":
        text = detail.get("text")
        visibility = detail.get("visibility") or "internal"
        badges = ((f"note-{visibility}", label(visibility, "visibility")),)
    elif action == "hold":
        change = _("Placed on hold") if detail.get("hold") else _("Hold lifted")
    elif action == "focal_link":
        text = detail.get("focal_point")
    elif action in ("sla_reminder", "escalation"):
        deadline = DEADLINES.get(detail.get("deadline", ""), detail.get("deadline"))
        text = _(
            "Deadline: %(deadline)s. Level %(level)s. Notified: %(people)s.",
            deadline=deadline,
            level=detail.get("level", 0),
            people=", ".join(detail.get("notified") or []) or "—",
        )
        badges = (("late", label(action, "action")),) if action == "escalation" else ()
    elif action == "rating":
        text = f"{detail.get('score', '?')}/5"
    elif action == "listened":
        text = _("Recording no. %(id)s", id=detail.get("recording_id", "?"))
    elif action in ("attachment_downloaded", "attachment_skipped"):
        text = detail.get("filename")
    else:
        text = detail.get("text") or detail.get("reason")
    return Entry(
        at=event.at,
        kind="event",
        title=label(action, "action"),
        who=names.actor(event.actor),
        change=change,
        text=text,
        badges=badges,
        action=action,
    )


def _listen(recording: Recording, viewer: User) -> Listen:
    if recording.media_status != "stored" or not recording.storage_key:
        return Listen(recording.id, recording.duration, False, _("Audio not stored."))
    if not may_listen(viewer, recording):
        return Listen(
            recording.id,
            recording.duration,
            False,
            _(
                "Only the person in charge, the agent who took the call and "
                "supervisors may listen."
            ),
        )
    return Listen(recording.id, recording.duration, True)


def _calls(ticket: Ticket, viewer: User, names: Names) -> list[Entry]:
    calls = list(ticket.calls)
    if ticket.origin_call_id is not None and all(
        call.id != ticket.origin_call_id for call in calls
    ):
        origin = db.session.get(Call, ticket.origin_call_id)
        calls += [origin] if origin is not None else []
    call_ids = [call.id for call in calls]
    recordings = db.session.scalars(
        select(Recording)
        .where(or_(Recording.ticket_id == ticket.id, Recording.call_id.in_(call_ids)))
        .order_by(Recording.created_at, Recording.id)
    ).all()
    agent_ids = [call.agent_id for call in calls if call.agent_id]
    agents = dict(
        db.session.execute(
            select(User.id, User.email).where(User.id.in_(agent_ids))
        ).all()
    )
    entries = []
    for call in calls:
        heard = tuple(
            _listen(recording, viewer)
            for recording in recordings
            if recording.call_id == call.id
        )
        minutes, seconds = divmod(call.duration or 0, 60)
        entries.append(
            Entry(
                at=call.started_at,
                kind="call",
                title=label(call.direction, "direction")
                if call.direction != "inbound"
                else _("Call"),
                who=names.person(agents.get(call.agent_id))
                if call.agent_id
                else label("caller", "actor"),
                change=_("Duration: %(time)s", time=f"{minutes}:{seconds:02d}")
                if call.duration
                else None,
                badges=(("", label(call.status, "call_status")),),
                recordings=heard,
            )
        )
    for recording in recordings:
        if recording.call_id not in call_ids:
            entries.append(
                Entry(
                    at=recording.created_at,
                    kind="call",
                    title=label("recording", "action"),
                    recordings=(_listen(recording, viewer),),
                )
            )
    return entries


def _files_by_email(
    messages: list[Message], attachments: list[Attachment]
) -> dict[int, tuple[tuple[int, str], ...]]:
    """Each inbound e-mail's files. No column links them: the inbox writes an
    e-mail's message, then its files, in one transaction (inbox/intake.py), so
    a file belongs to the last inbound e-mail written before it."""
    emails = sorted(
        (m for m in messages if m.channel == "email" and m.direction == "inbound"),
        key=lambda message: (message.created_at, message.id),
    )
    files: dict[int, list[tuple[int, str]]] = {}
    for attachment in attachments:
        before = [m for m in emails if m.created_at <= attachment.created_at]
        if before:
            named = (attachment.id, safe_filename(attachment.filename))
            files.setdefault(before[-1].id, []).append(named)
    return {message_id: tuple(named) for message_id, named in files.items()}


def _messages(ticket: Ticket) -> list[Entry]:
    entries = []
    messages = list(
        db.session.scalars(
            select(Message).filter_by(ticket_id=ticket.id).order_by(Message.id)
        )
    )
    files = _files_by_email(messages, attachments_of(ticket.id))
    for message in messages:
        channel = label(message.channel, "channel")
        words = label(message.status, "message_status")
        if message.error_code:  # why it did not go: Twilio's code, or ours
            words = f"{words} ({message.error_code})"
        status = ((f"msg-{message.status}", words),)
        if message.audience != "citizen":
            # A notice holds a focal point's personal link: never its body.
            entries.append(
                Entry(
                    at=message.created_at,
                    kind="notice",
                    title=_(
                        "%(channel)s notice sent to %(to)s",
                        channel=channel,
                        to=message.to_number,
                    ),
                    badges=status,
                )
            )
            continue
        inbound = message.direction == "inbound"
        entries.append(
            Entry(
                at=message.created_at,
                kind="message",
                title=_("%(channel)s from the citizen", channel=channel)
                if inbound
                else _("%(channel)s to the citizen", channel=channel),
                who=label("caller", "actor") if inbound else None,
                text=message.body,
                badges=status,
                files=files.get(message.id, ()),
            )
        )
    return entries


def timeline(ticket: Ticket, viewer: User) -> list[Entry]:
    """Everything that happened to the ticket, oldest first."""
    events = [
        event
        for event in ticket.events
        if event.action not in SHOWN_OTHERWISE
        and (viewer.is_supervisor or event.action not in SUPERVISORS_ONLY)
    ]
    names = _names()
    entries = [_event(event, names) for event in events]
    entries += _calls(ticket, viewer, names)
    entries += _messages(ticket)
    # Sorted by the instant alone, stably: a history event written in the same
    # transaction as its message keeps its own order.
    return sorted(entries, key=lambda entry: entry.at)
