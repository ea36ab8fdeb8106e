"""The JSON shapes of CONTRACT §6, shared by the API and the screen-pop."""

from datetime import datetime
from typing import Any

from app.models import Call, Message, Recording, Ticket, TicketEvent
from app.services.people import Person


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def person_json(person: Person) -> dict[str, Any]:
    """A caller's profile (CONTRACT §8.5): the number asked for, the person's
    name, e-mail, matricule and every number, the profile's first."""
    return {
        "phone": person.caller.phone_e164,
        "name": person.root.name,
        "email": person.root.email,
        "matricule": person.root.matricule,
        "phones": person.phones,
        "language": person.language,
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "reference": ticket.display_reference,
        "status": ticket.status,
        "kind": ticket.kind,
        "category": ticket.category,
        "channel": ticket.channel,
        "phone": ticket.phone,
        "line": ticket.line,
        "language": ticket.language,
        "description": ticket.description,
        "assignee": ticket.assignee.email if ticket.assignee else None,
        "service": ticket.service.key if ticket.service else None,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "priority": ticket.priority or "normal",
        "appeal": bool(ticket.appeal),
        "escalation_level": ticket.escalation_level or 0,
        "hold": bool(ticket.hold),
        "sla": {
            "plan": ticket.sla_plan,
            "take_charge_due": iso(ticket.take_charge_due),
            "resolve_due": iso(ticket.resolve_due),
            "take_charge_met": ticket.take_charge_met,
            "resolve_met": ticket.resolve_met,
            "paused": ticket.status == "waiting",
        },
    }


def event_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "detail": event.detail or {},
    }


def call_json(call: Call) -> dict[str, Any]:
    return {
        "call_sid": call.call_sid,
        "status": call.status,
        "from": call.caller.phone_e164 if call.caller else call.from_raw,
        "line": call.line,
        "direction": call.direction,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "duration": call.duration,
    }


def recording_json(recording: Recording) -> dict[str, Any]:
    return {
        "id": recording.id,
        "recording_sid": recording.recording_sid,
        "call_sid": recording.call.call_sid if recording.call else None,
        "purpose": recording.purpose,
        "duration": recording.duration,
        "status": recording.status,
        "created_at": iso(recording.created_at),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "message_sid": message.message_sid,
        "direction": message.direction,
        "status": message.status,
        "to": message.to_number,
        "body": message.body,
        "error_code": message.error_code,
        "created_at": iso(message.created_at),
    }


def ticket_detail_json(
    ticket: Ticket, recordings: list[Recording], messages: list[Message]
) -> dict[str, Any]:
    return {
        **ticket_json(ticket),
        "events": [event_json(event) for event in ticket.events],
        "calls": [call_json(call) for call in ticket.calls],
        "recordings": [recording_json(recording) for recording in recordings],
        "messages": [message_json(message) for message in messages],
    }


def empty_history(phone: str) -> dict[str, Any]:
    """The screen-pop of someone the centre has never heard from."""
    return {
        "caller": {
            "phone": phone,
            "name": None,
            "email": None,
            "matricule": None,
            # A withheld caller's screen-pop carries what Twilio sent instead.
            "phones": [phone] if phone.startswith("+") else [],
            "language": None,
        },
        "tickets": [],
        "calls": [],
        "messages": [],
    }
