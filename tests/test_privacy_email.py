"""Personal data (CONTRACT §11) of a person known by an e-mail address only: a
request filed on the web with no phone number, their e-mails and the file they
sent; `privacy export` and `privacy erase` take the address where a phone goes."""

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import String, Text, func, select

from app.extensions import db
from app.models import Attachment, Caller, Erasure, Message, Ticket
from app.services import followups
from app.services.attachments import attachments_dir
from tests.conftest import CALLER
from tests.factories import make_caller, make_ticket

FILED_AS = "Awa.Dossou@Example.org"  # as the citizen typed it
ADDRESS = "awa.dossou@example.org"  # as privacy compares it
ASKED_AS = "  AWA.DOSSOU@example.ORG "  # the DPO's spelling
DESCRIPTION = "Ma pension de mars n'est pas arrivée"
REPLY = "Voici ma pièce d'identité, Awa"
FILENAME = "CNI Awa Dossou.pdf"
FILE_DATA = b"%PDF-1.4 identity card"
STRANGER = "kofi@example.org"


@dataclass
class Person:
    ticket: Ticket
    inbound: Message
    unsent: Message
    attachment: Attachment
    file: Path


@pytest.fixture(autouse=True)
def roomy_limit(app):
    app.config["PUBLIC_RATE_LIMIT"] = "1000/hour"


@pytest.fixture
def person(app, client) -> Person:
    """Filed through the public JSON API with an e-mail only, then an e-mail
    from them with a file, as the mailbox reader (inbox/) stores them."""
    filed = client.post(
        "/api/public/requests",
        json={"category": "pension", "description": DESCRIPTION, "email": FILED_AS},
    )
    assert filed.status_code == 201
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.caller is None
    inbound = Message(
        ticket_id=ticket.id,
        direction="inbound",
        channel="email",
        to_number=app.config["MAIL_FROM"],
        from_number=ADDRESS,
        subject=f"Re: {ticket.display_reference}",
        body=REPLY,
        status="received",
    )
    db.session.add(inbound)
    db.session.flush()
    ticket.record("email_received", "caller", message_id=inbound.id)
    unsent = Message(
        ticket_id=ticket.id,
        channel="email",
        to_number=FILED_AS,
        from_number=app.config["MAIL_FROM"],
        subject="Votre demande",
        body="Nous avons besoin d'un document",
        status="queued",
    )
    db.session.add(unsent)
    folder = attachments_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "k").write_bytes(b"")  # another file of the folder, not theirs
    (folder / "0f1e2d3c4b5a69788796a5b4c3d2e1f0").write_bytes(FILE_DATA)
    attachment = Attachment(
        ticket_id=ticket.id,
        filename=FILENAME,
        content_type="application/pdf",
        size_bytes=len(FILE_DATA),
        storage_key="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        sha256="ab" * 32,
        source="email",
    )
    db.session.add(attachment)
    db.session.commit()
    return Person(
        ticket, inbound, unsent, attachment, folder / "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    )


def _export(runner, tmp_path, who: str) -> zipfile.ZipFile:
    out = tmp_path / "export.zip"
    result = runner.invoke(args=["privacy", "export", who, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(io.BytesIO(out.read_bytes()))


def _erase(runner, who: str = ASKED_AS):
    return runner.invoke(
        args=["privacy", "erase", who, "--reason", "Demande n° 7", "--actor", "dpo"]
    )


def _texts_holding(needle: str) -> list[str]:
    """Every text column of every table whose value holds `needle`, any case."""
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, String | Text):
                continue
            hits = db.session.execute(
                select(column).where(
                    func.lower(column).contains(needle.lower(), autoescape=True)
                )
            ).all()
            found += [f"{table.name}.{column.name}"] * len(hits)
    # JSON columns (event details, the register's counts) as stored text.
    for ticket in db.session.scalars(select(Ticket)):
        for event in ticket.events:
            if needle.lower() in json.dumps(event.detail or {}).lower():
                found.append(f"ticket_events.detail:{event.action}")
    return found


# --- export -------------------------------------------------------------------------


def test_export_by_address_holds_the_ticket_the_emails_and_the_file(
    runner, tmp_path, person
):
    archive = _export(runner, tmp_path, ASKED_AS)  # another case, spaces around
    file_name = f"attachments/{person.attachment.id}/{FILENAME}"
    assert set(archive.namelist()) == {
        "profile.json",
        "tickets.json",
        "calls.json",
        "messages.json",
        "recordings.json",
        "attachments.json",
        file_name,
    }
    assert archive.read(file_name) == FILE_DATA

    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == ADDRESS
    assert profile["addresses"] == [ADDRESS]
    assert profile["numbers"] == []

    [ticket] = json.loads(archive.read("tickets.json"))
    assert ticket["reference"] == person.ticket.display_reference
    assert ticket["description"] == DESCRIPTION
    assert ticket["channel"] == "web"

    messages = json.loads(archive.read("messages.json"))
    by_body = {m["body"]: m for m in messages}
    assert by_body[REPLY]["direction"] == "inbound"
    assert by_body[REPLY]["channel"] == "email"
    assert person.unsent.body in by_body
    # The acknowledgment the public API queued went to the address as filed.
    acknowledgments = [m for m in messages if m["direction"] == "outbound"]
    assert len(acknowledgments) == 2
    assert json.loads(archive.read("calls.json")) == []

    [listed] = json.loads(archive.read("attachments.json"))
    assert listed == {
        "ticket": person.ticket.display_reference,
        "filename": FILENAME,
        "content_type": "application/pdf",
        "size_bytes": len(FILE_DATA),
        "sha256": "ab" * 32,
        "source": "email",
        "created_at": listed["created_at"],
        "file": file_name,
    }


def test_a_sender_s_hostile_file_name_is_kept_inside_its_folder_of_the_export(
    runner, tmp_path, person
):
    # Folders, "..", a line break and a leading dot: the name the ticket page's
    # download gives (app.services.attachments.safe_filename), the same here.
    person.attachment.filename = "../../etc/.cni\r\nawa.pdf"
    db.session.commit()
    archive = _export(runner, tmp_path, ADDRESS)
    file_name = f"attachments/{person.attachment.id}/cni awa.pdf"
    assert archive.read(file_name) == FILE_DATA
    [listed] = json.loads(archive.read("attachments.json"))
    assert listed["filename"] == "../../etc/.cni\r\nawa.pdf"  # as the sender named it
    assert listed["file"] == file_name


def test_a_profile_with_the_address_brings_its_numbers_and_tickets(
    runner, tmp_path, person
):
    caller = make_caller(CALLER)
    caller.email = FILED_AS
    by_phone = make_ticket(caller, category="payment", description="Par téléphone")
    db.session.commit()
    archive = _export(runner, tmp_path, ADDRESS)
    tickets = json.loads(archive.read("tickets.json"))
    assert {t["reference"] for t in tickets} == {
        person.ticket.display_reference,
        by_phone.display_reference,
    }
    profile = json.loads(archive.read("profile.json"))
    assert [n["phone"] for n in profile["numbers"]] == [CALLER]
    # And asked by the phone, the address's request is theirs too.
    by_number = _export(runner, tmp_path, CALLER)
    assert {t["reference"] for t in json.loads(by_number.read("tickets.json"))} == {
        person.ticket.display_reference,
        by_phone.display_reference,
    }


def test_an_unknown_address_is_nobody(runner, tmp_path, person):
    out = tmp_path / "nobody.zip"
    result = runner.invoke(args=["privacy", "export", STRANGER, "--out", str(out)])
    assert result.exit_code == 1
    assert f"nobody is known by the address {STRANGER}" in result.output
    assert not out.exists()
    erased = _erase(runner, STRANGER)
    assert erased.exit_code == 1
    assert db.session.scalar(select(func.count(Erasure.id))) == 0


# --- erasure ------------------------------------------------------------------------


def test_erasure_by_address_removes_it_everywhere_and_deletes_the_file(
    app, runner, person
):
    stranger = make_ticket(None, channel="web", contact_email=STRANGER)
    stranger_file = attachments_dir() / "k"
    db.session.commit()
    assert _texts_holding(ADDRESS) != []  # the check can fail

    result = _erase(runner)
    assert result.exit_code == 0, result.output
    assert "1 attachment(s)" in result.output
    db.session.expire_all()

    erasure = db.session.scalars(select(Erasure)).one()
    placeholder = f"erased-{erasure.id}-1"  # no number: the address is the first
    assert _texts_holding(ADDRESS) == []
    assert _texts_holding("Dossou") == []
    assert _texts_holding("Awa") == []
    assert _texts_holding(DESCRIPTION) == []

    ticket = db.session.get(Ticket, person.ticket.id)
    assert ticket.contact_email == placeholder
    assert ticket.description is None
    assert (ticket.category, ticket.channel, ticket.status) == ("pension", "web", "new")
    assert ticket.events[-1].action == "erased"
    assert followups.email_address(ticket) is None  # nothing goes to a placeholder

    inbound = db.session.get(Message, person.inbound.id)
    assert (inbound.body, inbound.subject, inbound.from_number) == (
        "[erased]",
        "[erased]",
        placeholder,
    )
    unsent = db.session.get(Message, person.unsent.id)
    assert (unsent.to_number, unsent.status, unsent.error_code) == (
        placeholder,
        "failed",
        "erased",
    )

    # The file and its row are gone; another file of the folder is not.
    assert not person.file.exists()
    assert stranger_file.exists()
    assert db.session.scalar(select(func.count(Attachment.id))) == 0

    assert db.session.get(Ticket, stranger.id).contact_email == STRANGER
    assert erasure.subject == f"erased-{erasure.id}"
    assert erasure.tickets == [ticket.display_reference]
    assert erasure.counts["addresses"] == 1
    assert erasure.counts["attachments"] == 1
    assert erasure.counts["attachment_files_deleted"] == 1
    [line] = runner.invoke(args=["privacy", "register"]).output.splitlines()
    assert line.endswith("dpo  " + f"erased-{erasure.id}  Demande n° 7  1 ticket(s)")

    again = _erase(runner, ADDRESS)
    assert again.exit_code == 1
    assert f"nobody is known by the address {ADDRESS}" in again.output


def test_erasure_by_phone_replaces_the_address_the_request_was_filed_with(
    runner, client
):
    filed = client.post(
        "/api/public/requests",
        json={
            "category": "pension",
            "description": DESCRIPTION,
            "phone": CALLER,
            "email": FILED_AS,
        },
    )
    assert filed.status_code == 201
    result = _erase(runner, CALLER)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    erasure = db.session.scalars(select(Erasure)).one()
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.contact_email == f"erased-{erasure.id}-2"  # after the number
    assert db.session.scalars(select(Caller)).one().phone_e164 == (
        f"erased-{erasure.id}-1"
    )
    assert _texts_holding(ADDRESS) == []


def test_a_held_ticket_blocks_the_erasure_by_address(runner, person):
    person.ticket.hold = True
    db.session.commit()
    result = _erase(runner)
    assert result.exit_code == 1
    assert "legal hold" in result.output
    assert person.ticket.display_reference in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Erasure.id))) == 0
    assert person.file.read_bytes() == FILE_DATA
    assert (
        db.session.get(Ticket, person.ticket.id).contact_email
        == "Awa.Dossou@example.org"
    )
    assert db.session.get(Message, person.inbound.id).body == REPLY
    assert db.session.scalar(select(func.count(Attachment.id))) == 1
