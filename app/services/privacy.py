"""Personal data (CONTRACT §11): a person's export, their erasure, the register."""

import io
import json
import logging
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import phonenumbers
from flask import current_app
from requests import RequestException
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload
from twilio.base.exceptions import TwilioException

from app.extensions import db
from app.models import Call, Caller, Erasure, Message, Recording, Ticket
from app.serializers import call_json, event_json, iso, message_json, ticket_json
from app.services.people import person_of

log = logging.getLogger(__name__)

# What replaces a text that was about the person (bodies, notes, resolutions).
ERASED_TEXT = "[erased]"
# Keys of a history event's detail that hold free text, whoever wrote it:
# notes, resolutions, texts sent or received, descriptions.
FREE_TEXT_KEYS = frozenset(
    {"text", "body", "note", "resolution", "description", "comment", "reply"}
)
# A message not yet handed to Twilio, which must never leave once erased.
UNSENT = ("held", "queued", "sending")


class PrivacyError(Exception):
    """A request the register cannot act on; the message says why."""


class UnknownPerson(PrivacyError):
    pass


class OnHold(PrivacyError):
    """Some of the person's tickets are under legal hold: nothing was erased."""

    def __init__(self, references: list[str]) -> None:
        super().__init__(
            "under legal hold, nothing erased: ticket(s) " + ", ".join(references)
        )
        self.references = references


class AudioStore(Protocol):
    """What this module needs of the recordings' storage (recordings.storage)."""

    def local_path(self, key: str) -> Path | None: ...
    def delete(self, key: str) -> bool: ...


def _audio_store() -> AudioStore:
    # The recordings feature registers its storage (app never imports it).
    storage_for = current_app.extensions["recordings.storage_for"]
    return storage_for(current_app._get_current_object())


def _person(phone_e164: str) -> list[Caller]:
    """Every caller of the person with this number, the profile holder first."""
    person = person_of(phone_e164)
    if person is None:
        raise UnknownPerson(f"nobody is known by the number {phone_e164}")
    return person.numbers


@dataclass
class _Records:
    """What the centre holds about one person, read once for an export or an
    erasure."""

    callers: list[Caller]
    tickets: list[Ticket]
    calls: list[Call]
    messages: list[Message]  # of every audience: staff notices quote the ticket
    recordings: list[Recording]


def _records(callers: list[Caller], lock: bool = False) -> _Records:
    caller_ids = [caller.id for caller in callers]
    tickets_query = (
        select(Ticket)
        .where(Ticket.caller_id.in_(caller_ids))
        # Separate SELECTs, not joins: FOR UPDATE refuses the nullable side of
        # an outer join, and a person's histories are read whole anyway.
        .options(
            selectinload(Ticket.events),
            selectinload(Ticket.assignee),
            selectinload(Ticket.service),
        )
        .order_by(Ticket.created_at, Ticket.id)
    )
    if lock:
        # No hold may be set between the check and the erasure (PostgreSQL).
        tickets_query = tickets_query.with_for_update()
    tickets = db.session.scalars(tickets_query).all()
    ticket_ids = [ticket.id for ticket in tickets]
    calls = db.session.scalars(
        select(Call)
        .where(Call.caller_id.in_(caller_ids))
        .order_by(Call.started_at, Call.id)
    ).all()
    call_ids = [call.id for call in calls]
    messages = db.session.scalars(
        select(Message)
        .where(
            or_(Message.caller_id.in_(caller_ids), Message.ticket_id.in_(ticket_ids))
        )
        .order_by(Message.created_at, Message.id)
    ).all()
    recordings = db.session.scalars(
        select(Recording)
        .options(joinedload(Recording.call))
        .where(
            or_(Recording.ticket_id.in_(ticket_ids), Recording.call_id.in_(call_ids))
        )
        .order_by(Recording.created_at, Recording.id)
    ).all()
    return _Records(list(callers), list(tickets), list(calls), messages, recordings)


# Export --------------------------------------------------------------------


def _profile_json(callers: list[Caller]) -> dict[str, Any]:
    profile = callers[0]
    return {
        "name": profile.name,
        "email": profile.email,
        "matricule": profile.matricule,
        "language": profile.language,
        "numbers": [
            {
                "phone": caller.phone_e164,
                "sms_opt_out": bool(caller.sms_opt_out),
                "uses_whatsapp": bool(caller.uses_whatsapp),
                "first_contact": iso(caller.created_at),
            }
            for caller in callers
        ],
    }


def _audio_name(recording: Recording) -> str:
    return f"recordings/{recording.recording_sid}.{recording.media_format or 'bin'}"


def _local_audio(store: AudioStore, recording: Recording) -> Path | None:
    if recording.media_status != "stored" or not recording.storage_key:
        return None
    path = store.local_path(recording.storage_key)
    return path if path is not None and path.is_file() else None


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def write_export(phone_e164: str, target: IO[bytes]) -> None:
    """Write the person's zip to `target` (UTF-8 JSON, ISO 8601 times, audio).

    A recording kept only at Twilio is listed in recordings.json with no file:
    the export reads what the centre holds, it fetches nothing.
    """
    records = _records(_person(phone_e164))
    store = _audio_store()
    citizen = [m for m in records.messages if m.audience == "citizen"]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", _json(_profile_json(records.callers)))
        tickets = [
            {**ticket_json(t), "events": [event_json(e) for e in t.events]}
            for t in records.tickets
        ]
        archive.writestr("tickets.json", _json(tickets))
        archive.writestr(
            "calls.json", _json([call_json(call) for call in records.calls])
        )
        archive.writestr(
            "messages.json",
            _json(
                [
                    {**message_json(m), "channel": m.channel, "subject": m.subject}
                    for m in citizen
                ]
            ),
        )
        listed = []
        for recording in records.recordings:
            path = _local_audio(store, recording)
            if path is not None:
                # Audio is compressed already, or gains little: stored as is.
                archive.write(path, _audio_name(recording), zipfile.ZIP_STORED)
            listed.append(
                {
                    "recording_sid": recording.recording_sid,
                    "call_sid": recording.call.call_sid if recording.call else None,
                    "purpose": recording.purpose,
                    "duration": recording.duration,
                    "created_at": iso(recording.created_at),
                    "media_status": recording.media_status,
                    "file": _audio_name(recording) if path is not None else None,
                }
            )
        archive.writestr("recordings.json", _json(listed))


def export(phone_e164: str) -> bytes:
    buffer = io.BytesIO()
    write_export(phone_e164, buffer)
    return buffer.getvalue()


# Erasure -------------------------------------------------------------------


@dataclass
class _Placeholders:
    """The person's numbers and identifiers, each with what replaces it."""

    subject: str
    numbers: dict[str, str]  # E.164 -> erased-<erasure>-<n>
    identifiers: set[str]  # every datum naming the person, to find in texts

    def for_address(self, address: str | None) -> str | None:
        """The placeholder of a message's to/from, if it is the person's."""
        if not address:
            return None
        bare = address.removeprefix("whatsapp:")
        if bare in self.numbers:
            return self.numbers[bare]
        return self.subject if bare.lower() in self.identifiers else None

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.lower()
            if any(known in lowered for known in self.identifiers):
                return ERASED_TEXT
            return value
        if isinstance(value, dict):
            return {
                key: ERASED_TEXT if key in FREE_TEXT_KEYS and item else self.scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value


def _placeholders(erasure_id: int, callers: list[Caller]) -> _Placeholders:
    # "erased-<id>-<n>" fits Caller.phone_e164 (16) up to ten million erasures of
    # people with fewer than ten numbers; it is unique (the erasure's id) and
    # never a phone number (letters), so no text can go to it.
    numbers = {
        caller.phone_e164: f"erased-{erasure_id}-{n}"
        for n, caller in enumerate(callers, start=1)
    }
    identifiers = set()
    for number in numbers:
        identifiers |= {number.lower(), number.lstrip("+"), _national(number)}
    for caller in callers:
        for datum in (caller.name, caller.email, caller.matricule):
            # A name of one or two letters would match too much to be a clue.
            if datum and len(datum.strip()) >= 3:
                identifiers.add(datum.strip().lower())
    return _Placeholders(f"erased-{erasure_id}", numbers, identifiers)


def _national(number: str) -> str:
    """The number as staff write it in a note: 0197000000 for +2290197000000."""
    try:
        return phonenumbers.national_significant_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:  # a placeholder of an older erasure
        return number.lower()


def _delete_at_twilio(recordings: Iterable[Recording], counts: dict[str, Any]) -> None:
    """Delete Twilio's copies; one that fails is named in the counts, never
    dropped: the register then says what remains to be deleted by hand."""
    gateway = current_app.extensions["twilio"]
    if not gateway.configured:
        counts["twilio_not_configured"] = True
        return
    for recording in recordings:
        try:
            deleted = gateway.delete_recording(recording.recording_sid)
        except (TwilioException, RequestException) as error:
            log.warning(
                "erasure: recording %s not deleted at Twilio: %s",
                recording.recording_sid,
                type(error).__name__,
            )
            counts["twilio_failed"].append(recording.recording_sid)
            continue
        counts["twilio_deleted" if deleted else "twilio_already_gone"] += 1


def erase(phone_e164: str, reason: str, actor: str) -> Erasure:
    """Erase the person with this number, or refuse (OnHold) and change nothing.

    Deletes their recordings (our file and Twilio's copy), replaces the bodies
    of their messages, their numbers, name, e-mail and matricule, the tickets'
    descriptions and the free texts of their history; keeps categories,
    statuses, dates, priorities and SLA outcomes for the statistics. One
    commit: if it fails, the audio is gone already and the rest can be erased
    again (a recording gone at Twilio counts as deleted).
    """
    callers = _person(phone_e164)
    records = _records(callers, lock=True)
    held = [t.display_reference for t in records.tickets if t.hold]
    if held:
        db.session.rollback()  # releases the tickets' locks
        raise OnHold(held)
    erasure = Erasure(actor=actor[:254], reason=reason, subject="")
    db.session.add(erasure)
    db.session.flush()  # its id names the placeholders
    names = _placeholders(erasure.id, callers)
    erasure.subject = names.subject
    counts: dict[str, Any] = {
        "numbers": len(callers),
        "tickets": len(records.tickets),
        "calls": len(records.calls),
        "messages": len(records.messages),
        "recordings": len(records.recordings),
        "audio_files_deleted": 0,
        "twilio_deleted": 0,
        "twilio_already_gone": 0,
        "twilio_failed": [],
    }
    store = _audio_store()
    for recording in records.recordings:
        if recording.storage_key and store.delete(recording.storage_key):
            counts["audio_files_deleted"] += 1
        recording.storage_key = None
        recording.media_url = None  # nothing may fetch it again
        recording.sha256 = None
        recording.media_status = "erased"
    _delete_at_twilio(records.recordings, counts)
    _erase_texts(records, names)
    for ticket in records.tickets:
        ticket.description = None
        for event in ticket.events:
            if event.detail:
                event.detail = names.scrub(event.detail)  # a new dict: saved
            if event.actor.lower() in names.identifiers:
                event.actor = "caller"
        ticket.record("erased", actor[:254], erasure=erasure.id)
    for caller in callers:
        caller.phone_e164 = names.numbers[caller.phone_e164]
        caller.name = caller.email = caller.matricule = None
        # Nobody to text any more: a late follow-up (a reminder, a closing)
        # is dropped like one to a caller who said STOP.
        caller.sms_opt_out = True
    erasure.tickets = [ticket.display_reference for ticket in records.tickets]
    erasure.counts = counts
    db.session.commit()
    return erasure


def _erase_texts(records: _Records, names: _Placeholders) -> None:
    for message in records.messages:
        message.body = ERASED_TEXT
        if message.subject:
            message.subject = ERASED_TEXT
        message.to_number = names.for_address(message.to_number) or message.to_number
        message.from_number = (
            names.for_address(message.from_number) or message.from_number
        )
        if message.direction == "outbound" and message.status in UNSENT:
            # The outbox must not send a text to nobody.
            message.status, message.error_code = "failed", "erased"
    by_caller = {caller.id: caller.phone_e164 for caller in records.callers}
    for call in records.calls:
        call.from_raw = names.numbers[by_caller[call.caller_id]]


def register() -> list[Erasure]:
    """The erasure register, oldest first."""
    return list(db.session.scalars(select(Erasure).order_by(Erasure.at, Erasure.id)))
