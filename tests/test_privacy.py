"""Personal data (CONTRACT §11): export, erasure, register, legal hold, purge."""

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Call, Caller, Erasure, Message, Recording, Role, Ticket
from app.models.types import utcnow
from app.phone import to_e164
from app.serializers import ticket_detail_json
from app.telephony import TwilioGateway
from recordings.storage import storage_for
from tests import twilio_standin
from tests.conftest import CALLER, LINE
from tests.factories import (
    make_caller,
    make_ticket,
    make_token,
    make_user,
    sid,
    stored_recording,
)
from tests.media_standin import make_wav
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

twilio_api = twilio_standin.twilio_api

OTHER_SIM = "+2290197000001"  # the same person's second number
STRANGER = "+2290195000000"
STAFF_PHONE = "+2290166000000"
NAME = "Awa Dossou"
EMAIL = "awa.dossou@example.bj"
MATRICULE = "MAT-40417"
DESCRIPTION = "Ma pension de mars n'est pas arrivée"
NOTE = f"Rappelée au {OTHER_SIM}, {NAME} confirme"
OPENED = datetime(2026, 3, 2, 9, 30, tzinfo=utcnow().tzinfo)


@dataclass
class Person:
    caller: Caller
    other: Caller
    ticket: Ticket
    call: Call
    recording: Recording
    audio: bytes
    audio_path: object
    to_citizen: Message
    from_citizen: Message
    unsent: Message
    to_staff: Message


def _stored_recording(app, call: Call, ticket: Ticket, **fields) -> Recording:
    """A recording whose audio is in the app's storage, committed."""
    recording = stored_recording(app, call, ticket.id, 0.5, **fields)
    db.session.add(recording)
    db.session.commit()
    return recording


@pytest.fixture
def person(app) -> Person:
    caller = make_caller(CALLER)
    caller.name, caller.email, caller.matricule = NAME, EMAIL, MATRICULE
    other = make_caller(OTHER_SIM)
    other.person_id = caller.id
    call = Call(
        call_sid=sid("CA"),
        caller=other,
        from_raw=OTHER_SIM,
        line=LINE,
        status="completed",
        started_at=OPENED,
        duration=42,
    )
    db.session.add(call)
    ticket = make_ticket(
        caller,
        line=LINE,
        category="payment",
        description=DESCRIPTION,
        priority="high",
        status="resolved",
        created_at=OPENED,
        take_charge_met=True,
        resolve_met=False,
    )
    ticket.calls.append(call)
    ticket.record("note", "agent@example.org", text=NOTE, visibility="internal")
    ticket.record("resolution", "agent@example.org", text=f"{NAME} a été payée")
    ticket.record("sms_received", "caller", body=f"Merci, ici {NAME}")
    # Not a free-text key, but a number as staff write it.
    ticket.record("callback", "agent@example.org", to="0197000001", tries=2)
    db.session.commit()
    recording = _stored_recording(app, call, ticket)
    common = {"ticket_id": ticket.id, "caller_id": caller.id}
    to_citizen = Message(
        **common, to_number=CALLER, from_number=LINE, body="Votre demande est résolue"
    )
    to_citizen.status = "delivered"
    from_citizen = Message(
        **common,
        direction="inbound",
        to_number=LINE,
        from_number=f"whatsapp:{OTHER_SIM}",
        body=f"Merci, ici {NAME}",
        status="received",
    )
    unsent = Message(**common, to_number=CALLER, from_number=LINE, body="Note ?")
    to_staff = Message(
        ticket_id=ticket.id,
        to_number=STAFF_PHONE,
        from_number=LINE,
        body=f"Nouvelle demande de {NAME}",
        audience="staff",
        status="delivered",
    )
    db.session.add_all([to_citizen, from_citizen, unsent, to_staff])
    db.session.commit()
    return Person(
        caller,
        other,
        ticket,
        call,
        recording,
        make_wav(0.5),
        storage_for(app).local_path(recording.storage_key),
        to_citizen,
        from_citizen,
        unsent,
        to_staff,
    )


@pytest.fixture
def supervisor_auth(app):
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
def real_twilio(app, monkeypatch, twilio_api: TwilioStandIn) -> TwilioStandIn:
    """The app's real gateway, talking to the stand-in of Twilio's REST API."""
    gateway = TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, twilio_api.url, timeout=5)
    monkeypatch.setitem(app.extensions, "twilio", gateway)
    return twilio_api


def _export(runner, tmp_path, phone: str) -> zipfile.ZipFile:
    out = tmp_path / "export.zip"
    result = runner.invoke(args=["privacy", "export", phone, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(io.BytesIO(out.read_bytes()))


def _erase(runner, phone: str = CALLER, reason: str = "Demande d'effacement n° 12"):
    return runner.invoke(
        args=["privacy", "erase", phone, "--reason", reason, "--actor", "dpo@ecoute.bj"]
    )


# --- export -------------------------------------------------------------------------


def test_export_holds_the_profile_tickets_calls_messages_and_the_audio(
    runner, tmp_path, person
):
    # Asked by the second SIM: the person is the same, with both numbers.
    archive = _export(runner, tmp_path, "0197000001")
    names = set(archive.namelist())
    audio_name = f"recordings/{person.recording.recording_sid}.wav"
    assert {
        "profile.json",
        "tickets.json",
        "calls.json",
        "messages.json",
        "recordings.json",
        audio_name,
    } == names
    assert archive.read(audio_name) == person.audio

    profile = json.loads(archive.read("profile.json").decode("utf-8"))
    assert (profile["name"], profile["email"], profile["matricule"]) == (
        NAME,
        EMAIL,
        MATRICULE,
    )
    assert [n["phone"] for n in profile["numbers"]] == [CALLER, OTHER_SIM]

    raw_tickets = archive.read("tickets.json").decode("utf-8")
    assert "arrivée" in raw_tickets  # UTF-8, not \\u escapes
    [ticket] = json.loads(raw_tickets)
    assert ticket["reference"] == person.ticket.display_reference
    assert ticket["description"] == DESCRIPTION
    assert ticket["created_at"] == OPENED.isoformat()
    assert [e["action"] for e in ticket["events"]] == [
        "created",
        "note",
        "resolution",
        "sms_received",
        "callback",
    ]
    assert ticket["events"][1]["detail"]["text"] == NOTE

    [call] = json.loads(archive.read("calls.json"))
    assert (call["call_sid"], call["from"]) == (person.call.call_sid, OTHER_SIM)

    messages = json.loads(archive.read("messages.json"))
    bodies = {m["body"] for m in messages}
    assert person.to_citizen.body in bodies
    assert person.from_citizen.body in bodies
    assert person.to_staff.body not in bodies  # staff notices are not the citizen's

    [listed] = json.loads(archive.read("recordings.json"))
    assert listed["file"] == audio_name


def test_a_recording_kept_only_at_twilio_is_listed_not_fetched(
    app, runner, tmp_path, person
):
    remote = Recording(
        recording_sid=sid("RE"),
        call=person.call,
        ticket_id=person.ticket.id,
        status="completed",
        media_status="remote",
    )
    db.session.add(remote)
    db.session.commit()
    archive = _export(runner, tmp_path, CALLER)
    listed = {
        r["recording_sid"]: r for r in json.loads(archive.read("recordings.json"))
    }
    assert listed[remote.recording_sid]["file"] is None
    assert listed[remote.recording_sid]["media_status"] == "remote"
    assert not any(remote.recording_sid in name for name in archive.namelist())


def test_export_of_an_unknown_or_bad_number_fails_clearly(runner, tmp_path, app):
    out = tmp_path / "nobody.zip"
    unknown = runner.invoke(args=["privacy", "export", STRANGER, "--out", str(out)])
    assert unknown.exit_code != 0
    assert "nobody is known" in unknown.output
    assert not out.exists()
    assert list(tmp_path.glob(".export-*")) == []
    bad = runner.invoke(args=["privacy", "export", "not-a-number", "--out", str(out)])
    assert bad.exit_code == 2
    assert "not a phone number" in bad.output


# --- erasure ------------------------------------------------------------------------


def _identifiers_in(text: str) -> list[str]:
    found = [datum for datum in (NAME, "Dossou", EMAIL, MATRICULE) if datum in text]
    digits = [n for n in (CALLER, OTHER_SIM) if n.removeprefix("+229") in text]
    return found + digits


def test_erasure_deletes_the_audio_here_and_at_twilio_and_anonymises(
    app, runner, tmp_path, person, real_twilio
):
    stranger = make_ticket(make_caller(STRANGER), category="payment")
    real_twilio.add_recording(person.recording.recording_sid)
    kept = {
        "category": person.ticket.category,
        "status": person.ticket.status,
        "created_at": person.ticket.created_at,
        "priority": person.ticket.priority,
        "take_charge_met": person.ticket.take_charge_met,
        "resolve_met": person.ticket.resolve_met,
    }
    ticket_id, call_id = person.ticket.id, person.call.id

    result = _erase(runner)
    assert result.exit_code == 0, result.output
    assert "erased as erased-" in result.output
    db.session.expire_all()

    # The audio: our file and Twilio's copy.
    assert not person.audio_path.exists()
    assert real_twilio.deletions == [person.recording.recording_sid]
    assert person.recording.recording_sid not in real_twilio.recordings
    recording = db.session.get(Recording, person.recording.id)
    assert (recording.media_status, recording.storage_key) == ("erased", None)

    # The numbers: placeholders, unique, no phone number, everywhere.
    erasure = db.session.scalars(select(Erasure)).one()
    callers = db.session.scalars(select(Caller).order_by(Caller.id)).all()
    placeholders = [callers[0].phone_e164, callers[1].phone_e164]
    assert placeholders == [f"erased-{erasure.id}-1", f"erased-{erasure.id}-2"]
    assert all(to_e164(p) is None for p in placeholders)
    assert (callers[0].name, callers[0].email, callers[0].matricule) == (None,) * 3
    assert [c.sms_opt_out for c in callers[:2]] == [True, True]  # no late texts
    assert callers[2].phone_e164 == STRANGER  # nobody else is touched
    assert db.session.get(Call, call_id).from_raw == placeholders[1]

    # Messages: every body replaced; the person's numbers replaced, staff's kept.
    to_citizen = db.session.get(Message, person.to_citizen.id)
    from_citizen = db.session.get(Message, person.from_citizen.id)
    to_staff = db.session.get(Message, person.to_staff.id)
    unsent = db.session.get(Message, person.unsent.id)
    assert {m.body for m in (to_citizen, from_citizen, to_staff, unsent)} == {
        "[erased]"
    }
    assert to_citizen.to_number == placeholders[0]
    assert from_citizen.from_number == placeholders[1]
    assert to_staff.to_number == STAFF_PHONE
    assert (unsent.status, unsent.error_code) == ("failed", "erased")  # never sent

    # The ticket: what statistics need stays, nothing about the person does.
    ticket = db.session.get(Ticket, ticket_id)
    assert {key: getattr(ticket, key) for key in kept} == kept
    assert ticket.description is None
    detail = ticket_detail_json(ticket, [recording], [to_citizen, to_staff])
    assert _identifiers_in(json.dumps(detail, ensure_ascii=False)) == []
    assert ticket.events[-2].detail == {"to": "[erased]", "tries": 2}
    assert ticket.events[-1].action == "erased"
    assert ticket.events[-1].detail == {"erasure": erasure.id}
    assert db.session.get(Ticket, stranger.id).description is None  # had none

    # The register.
    assert erasure.actor == "dpo@ecoute.bj"
    assert erasure.subject == f"erased-{erasure.id}"
    assert erasure.tickets == [ticket.display_reference]
    assert erasure.counts["audio_files_deleted"] == 1
    assert erasure.counts["twilio_deleted"] == 1
    assert erasure.counts["twilio_failed"] == []
    listing = runner.invoke(args=["privacy", "register"])
    assert listing.exit_code == 0
    [line] = listing.output.splitlines()
    assert "dpo@ecoute.bj" in line
    assert f"erased-{erasure.id}" in line
    assert "Demande d'effacement n° 12" in line
    assert line.endswith("1 ticket(s)")
    assert _identifiers_in(line) == []

    # The person is no longer known by either number.
    again = runner.invoke(
        args=["privacy", "export", OTHER_SIM, "--out", str(tmp_path / "x.zip")]
    )
    assert again.exit_code != 0
    assert "nobody is known" in again.output


def test_a_recording_twilio_no_longer_has_counts_as_deleted(
    runner, person, real_twilio
):
    result = _erase(runner)  # the stand-in never had it: 404
    assert result.exit_code == 0, result.output
    erasure = db.session.scalars(select(Erasure)).one()
    assert real_twilio.deletions == [person.recording.recording_sid]
    assert erasure.counts["twilio_already_gone"] == 1
    assert erasure.counts["twilio_failed"] == []


def test_a_failure_at_twilio_is_written_in_the_register_and_said(
    runner, person, real_twilio
):
    real_twilio.add_recording(person.recording.recording_sid)
    real_twilio.fail_next_delete(500)
    result = _erase(runner)
    assert result.exit_code == 1
    assert person.recording.recording_sid in result.output
    assert "could not be deleted at Twilio" in result.output
    db.session.expire_all()
    erasure = db.session.scalars(select(Erasure)).one()
    assert erasure.counts["twilio_failed"] == [person.recording.recording_sid]
    # The rest of the erasure stands, recorded.
    assert db.session.get(Caller, person.caller.id).name is None
    assert not person.audio_path.exists()


def test_erase_needs_a_reason_and_a_known_number(runner, app, person):
    blank = _erase(runner, reason="   ")
    assert blank.exit_code == 2
    unknown = _erase(runner, phone=STRANGER)
    assert unknown.exit_code == 1
    assert "nobody is known" in unknown.output
    assert db.session.scalar(select(func.count(Erasure.id))) == 0


# --- legal hold ---------------------------------------------------------------------


def test_a_supervisor_puts_a_ticket_on_hold_in_the_json_and_the_history(
    client, supervisor_auth, person
):
    path = f"/api/tickets/{person.ticket.display_reference}"
    response = client.patch(path, json={"hold": True}, headers=supervisor_auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["hold"] is True
    event = body["events"][-1]
    assert (event["action"], event["actor"], event["detail"]) == (
        "hold",
        "chef@example.org",
        {"hold": True},
    )
    assert client.get(path, headers=supervisor_auth).get_json()["hold"] is True
    lifted = client.patch(path, json={"hold": False}, headers=supervisor_auth)
    assert lifted.get_json()["hold"] is False
    assert lifted.get_json()["events"][-1]["detail"] == {"hold": False}


def test_an_agent_cannot_set_a_hold_and_a_hold_is_a_boolean(
    client, supervisor_auth, person
):
    agent = make_user("agent@example.org", Role.AGENT)
    person.ticket.assignee = agent  # the agent sees the ticket: it is theirs
    db.session.commit()
    path = f"/api/tickets/{person.ticket.display_reference}"
    headers = {"Authorization": f"Bearer {make_token(agent)}"}
    refused = client.patch(path, json={"hold": True}, headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    bad = client.patch(path, json={"hold": "yes"}, headers=supervisor_auth)
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid_hold"
    db.session.expire_all()
    ticket = db.session.get(Ticket, person.ticket.id)
    assert ticket.hold is False
    assert "hold" not in [event.action for event in ticket.events]


def test_a_held_ticket_blocks_the_erasure_and_changes_nothing(
    app, client, runner, supervisor_auth, person, sms
):
    path = f"/api/tickets/{person.ticket.display_reference}"
    held = client.patch(path, json={"hold": True}, headers=supervisor_auth)
    assert held.status_code == 200
    result = _erase(runner, phone=OTHER_SIM)
    assert result.exit_code == 1
    assert "legal hold" in result.output
    assert person.ticket.display_reference in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Erasure.id))) == 0
    caller = db.session.get(Caller, person.caller.id)
    assert (caller.phone_e164, caller.name, caller.email) == (CALLER, NAME, EMAIL)
    assert person.audio_path.read_bytes() == person.audio
    assert sms.deleted_recordings == []
    recording = db.session.get(Recording, person.recording.id)
    assert recording.media_status == "stored"
    message = db.session.get(Message, person.from_citizen.id)
    assert message.body == f"Merci, ici {NAME}"
    ticket = db.session.get(Ticket, person.ticket.id)
    assert ticket.description == DESCRIPTION
    assert ticket.events[-1].action == "hold"


def test_the_retention_purge_keeps_the_recordings_of_a_held_ticket(app, runner, person):
    app.config["RECORDINGS_RETENTION_DAYS"] = 30
    old = utcnow() - timedelta(days=400)
    person.recording.created_at = old
    person.ticket.hold = True
    free_ticket = make_ticket(person.caller, line=LINE, category="payment")
    free = _stored_recording(app, person.call, free_ticket, created_at=old)
    free_path = storage_for(app).local_path(free.storage_key)
    db.session.commit()

    result = runner.invoke(args=["recordings", "purge"])
    assert result.exit_code == 0, result.output
    assert "removed 1 recording(s)" in result.output
    assert "kept 1 recording(s) past their time: tickets on legal hold" in (
        result.output
    )
    db.session.expire_all()
    assert not free_path.exists()
    assert db.session.get(Recording, free.id).media_status == "purged"
    assert person.audio_path.read_bytes() == person.audio
    assert db.session.get(Recording, person.recording.id).media_status == "stored"


def test_an_erased_recording_is_gone_for_listeners(
    client, runner, supervisor_auth, person
):
    assert _erase(runner).exit_code == 0
    response = client.get(
        f"/api/recordings/{person.recording.id}/audio", headers=supervisor_auth
    )
    assert response.status_code == 410
    assert response.get_json()["error"]["code"] == "erased"
