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
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload
from twilio.base.exceptions import TwilioException

from app.extensions import db
from app.models import Attachment, Call, Caller, Erasure, Message, Recording, Ticket
from app.serializers import call_json, event_json, iso, message_json, ticket_json
from app.services.attachments import safe_filename, stored_file
from app.services.people import person_of

log = logging.getLogger(__name__)

# What replaces a text that was about the person (bodies, notes, resolutions).
ERASED_TEXT = "[erased]"
# Keys of a history event's detail that hold free text, whoever wrote it:
# notes, resolutions, texts sent or received, descriptions, and the name the
# citizen gave a file (often their own: "CNI Awa Dossou.pdf").
FREE_TEXT_KEYS = frozenset(
    {
        "text",
        "body",
        "note",
        "resolution",
        "description",
        "comment",
        "reply",
        "filename",
    }
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


def is_address(who: str) -> bool:
    """An e-mail address rather than a phone number: it has an "@"."""
    return "@" in who


def as_address(who: str) -> str:
    """How an address is compared: trimmed, lower-cased."""
    return who.strip().lower()


@dataclass
class _Person:
    """Whom an access or erasure request is about: their numbers (the profile
    holder first) and the e-mail addresses they are known by, lower-cased."""

    callers: list[Caller]
    addresses: set[str]


def _person(who: str) -> _Person:
    """The person with this number (E.164) or e-mail address.

    By address: the callers whose profile has it, with all their numbers, and
    the address itself, which may have filed requests with no number at all
    (the web form, Open311, an e-mail)."""
    if not is_address(who):
        person = person_of(who)
        if person is None:
            raise UnknownPerson(f"nobody is known by the number {who}")
        callers = person.numbers
        return _Person(callers, {as_address(c.email) for c in callers if c.email})
    address = as_address(who)
    callers: list[Caller] = []
    for profile in db.session.scalars(
        select(Caller).where(func.lower(Caller.email) == address).order_by(Caller.id)
    ):
        person = person_of(profile.phone_e164)
        for caller in person.numbers if person is not None else [profile]:
            if caller not in callers:
                callers.append(caller)
    if not callers and not _known_address(address):
        raise UnknownPerson(f"nobody is known by the address {address}")
    return _Person(callers, {address})


def _known_address(address: str) -> bool:
    ticket = select(Ticket.id).where(func.lower(Ticket.contact_email) == address)
    return bool(
        db.session.scalar(select(or_(ticket.exists(), _emails(address).exists())))
    )


def _emails(*addresses: str):
    """The e-mails to or from these addresses."""
    return select(Message.id).where(
        Message.channel == "email",
        or_(
            func.lower(Message.to_number).in_(addresses),
            func.lower(Message.from_number).in_(addresses),
        ),
    )


@dataclass
class _Records:
    """What the centre holds about one person, read once for an export or an
    erasure."""

    callers: list[Caller]
    addresses: set[str]  # the person's, and those their tickets were filed with
    tickets: list[Ticket]
    calls: list[Call]
    messages: list[Message]  # of every audience: staff notices quote the ticket
    recordings: list[Recording]
    attachments: list[Attachment]


def _records(person: _Person, lock: bool = False) -> _Records:
    callers = person.callers
    caller_ids = [caller.id for caller in callers]
    addresses = sorted(person.addresses)
    tickets_query = (
        select(Ticket)
        .where(
            or_(
                Ticket.caller_id.in_(caller_ids),
                func.lower(Ticket.contact_email).in_(addresses),
            )
        )
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
    # A request filed with a number and an address: the address is theirs too.
    found = set(person.addresses)
    found |= {as_address(t.contact_email) for t in tickets if t.contact_email}
    calls = db.session.scalars(
        select(Call)
        .where(Call.caller_id.in_(caller_ids))
        .order_by(Call.started_at, Call.id)
    ).all()
    call_ids = [call.id for call in calls]
    messages = db.session.scalars(
        select(Message)
        .where(
            or_(
                Message.caller_id.in_(caller_ids),
                Message.ticket_id.in_(ticket_ids),
                Message.id.in_(_emails(*sorted(found))),
            )
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
    attachments = db.session.scalars(
        select(Attachment)
        .where(Attachment.ticket_id.in_(ticket_ids))
        .order_by(Attachment.id)
    ).all()
    return _Records(
        list(callers),
        found,
        list(tickets),
        list(calls),
        list(messages),
        list(recordings),
        list(attachments),
    )


# Export --------------------------------------------------------------------


def _profile_json(callers: list[Caller], addresses: set[str]) -> dict[str, Any]:
    # Known by an address only: no caller, no profile but that address.
    profile = callers[0] if callers else None
    return {
        "name": profile.name if profile else None,
        "email": profile.email if profile else min(addresses),
        "matricule": profile.matricule if profile else None,
        "language": profile.language if profile else None,
        "addresses": sorted(addresses),
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


def _attachment_name(attachment: Attachment) -> str:
    """Under its id (two files may share a name), named as the ticket page's
    download names it: no folder, control character nor leading dot of the
    sender's, so nothing outside attachments/."""
    return f"attachments/{attachment.id}/{safe_filename(attachment.filename)}"


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def write_export(who: str, target: IO[bytes]) -> None:
    """Write the zip of the person with this number (E.164) or e-mail address
    to `target` (UTF-8 JSON, ISO 8601 times, audio, the files they sent).

    A recording kept only at Twilio is listed in recordings.json with no file:
    the export reads what the centre holds, it fetches nothing.
    """
    records = _records(_person(who))
    store = _audio_store()
    citizen = [m for m in records.messages if m.audience == "citizen"]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "profile.json", _json(_profile_json(records.callers, records.addresses))
        )
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
        if records.attachments:
            # Only when they sent files: a phone caller's zip stays as it was.
            references = {t.id: t.display_reference for t in records.tickets}
            _write_attachments(archive, records.attachments, references)


def _write_attachments(
    archive: zipfile.ZipFile, attachments: list[Attachment], references: dict[int, str]
) -> None:
    listed = []
    for attachment in attachments:
        path = stored_file(attachment)
        kept = path is not None
        if path is not None:
            archive.write(path, _attachment_name(attachment))
        listed.append(
            {
                "ticket": references[attachment.ticket_id],
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size_bytes": attachment.size_bytes,
                "sha256": attachment.sha256,
                "source": attachment.source,
                "created_at": iso(attachment.created_at),
                "file": _attachment_name(attachment) if kept else None,
            }
        )
    archive.writestr("attachments.json", _json(listed))


def export(who: str) -> bytes:
    buffer = io.BytesIO()
    write_export(who, buffer)
    return buffer.getvalue()


# Erasure -------------------------------------------------------------------


@dataclass
class _Placeholders:
    """The person's numbers and identifiers, each with what replaces it."""

    subject: str
    numbers: dict[str, str]  # E.164 -> erased-<erasure>-<n>
    addresses: dict[str, str]  # lower-cased e-mail -> erased-<erasure>-<n>
    identifiers: set[str]  # every datum naming the person, to find in texts

    def for_address(self, address: str | None) -> str | None:
        """The placeholder of a message's to/from, if it is the person's."""
        if not address:
            return None
        bare = address.removeprefix("whatsapp:")
        if bare in self.numbers:
            return self.numbers[bare]
        if as_address(bare) in self.addresses:
            return self.addresses[as_address(bare)]
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


def _placeholders(
    erasure_id: int, callers: list[Caller], addresses: set[str]
) -> _Placeholders:
    # "erased-<id>-<n>" fits Caller.phone_e164 (16) up to ten million erasures of
    # people with fewer than ten numbers; it is unique (the erasure's id) and
    # never a phone number (letters) nor an address (no "@"), so nothing can
    # be sent to it. Addresses are numbered after the numbers.
    numbers = {
        caller.phone_e164: f"erased-{erasure_id}-{n}"
        for n, caller in enumerate(callers, start=1)
    }
    emails = {
        address: f"erased-{erasure_id}-{n}"
        for n, address in enumerate(sorted(addresses), start=len(callers) + 1)
    }
    identifiers = set()
    for number in numbers:
        identifiers |= {number.lower(), number.lstrip("+"), _national(number)}
    identifiers |= set(emails)
    for caller in callers:
        for datum in (caller.name, caller.email, caller.matricule):
            # A name of one or two letters would match too much to be a clue.
            if datum and len(datum.strip()) >= 3:
                identifiers.add(datum.strip().lower())
    return _Placeholders(f"erased-{erasure_id}", numbers, emails, identifiers)


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


def erase(who: str, reason: str, actor: str) -> Erasure:
    """Erase the person with this number (E.164) or e-mail address, or refuse
    (OnHold) and change nothing.

    Deletes their recordings (our file and Twilio's copy) and the files they
    sent, replaces the bodies of their messages, their numbers, addresses,
    name, e-mail and matricule, the tickets' descriptions and the free texts of
    their history; keeps categories,
    statuses, dates, priorities and SLA outcomes for the statistics. One
    commit: if it fails, the audio is gone already and the rest can be erased
    again (a recording gone at Twilio counts as deleted).
    """
    records = _records(_person(who), lock=True)
    callers = records.callers
    held = [t.display_reference for t in records.tickets if t.hold]
    if held:
        db.session.rollback()  # releases the tickets' locks
        raise OnHold(held)
    erasure = Erasure(actor=actor[:254], reason=reason, subject="")
    db.session.add(erasure)
    db.session.flush()  # its id names the placeholders
    names = _placeholders(erasure.id, callers, records.addresses)
    erasure.subject = names.subject
    counts: dict[str, Any] = {
        "numbers": len(callers),
        "tickets": len(records.tickets),
        "calls": len(records.calls),
        "messages": len(records.messages),
        "addresses": len(records.addresses),
        "recordings": len(records.recordings),
        "attachments": len(records.attachments),
        "attachment_files_deleted": 0,
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
    _delete_attachments(records.attachments, counts)
    _erase_texts(records, names)
    for ticket in records.tickets:
        ticket.description = None
        if ticket.contact_email:
            # Kept as a placeholder: the ticket still says it came by e-mail.
            ticket.contact_email = names.addresses[as_address(ticket.contact_email)]
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


def _delete_attachments(attachments: list[Attachment], counts: dict[str, Any]) -> None:
    """The files and their rows: a file's name and digest are the person's too.
    A file already gone counts as deleted by nobody (the row goes all the same)."""
    for attachment in attachments:
        path = stored_file(attachment)
        if path is not None:
            path.unlink()
            counts["attachment_files_deleted"] += 1
        db.session.delete(attachment)


def _erase_texts(records: _Records, names: _Placeholders) -> None:
    for message in records.messages:
        message.body = ERASED_TEXT
        if message.subject:
            message.subject = ERASED_TEXT
        if message.last_error:
            # An SMTP refusal quotes the address it refused.
            message.last_error = names.scrub(message.last_error)
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
