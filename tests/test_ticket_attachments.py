"""The citizen's files on the ticket page (issue #14): listed with their name,
type, size and date, downloaded by whoever sees the ticket and by nobody else,
always as a download with a safe name, each download in the history."""

import logging
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Service, Ticket, TicketEvent, User
from app.services.attachments import (
    attachments_dir,
    content_disposition,
    served_type,
)
from app.tickets.attachments import kind_in_words
from inbox.fetch import fetch_mail
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_user, stored_attachment
from tests.imap_server import imap_server  # noqa: F401
from tests.test_mail_fetch import mail, mailbox, smtp  # noqa: F401
from tests.test_recordings_pages import login

PAY_SLIP = b"%PDF-1.4\n" + b"x" * 12_791  # 12,800 bytes: 12.5 KB


@pytest.fixture
def people(app) -> dict:
    pensions = Service(key="pensions", name="Direction des pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    people = {
        "agent": make_user("awa@example.org", Role.AGENT),
        "other": make_user("koffi@example.org", Role.AGENT),
        "supervisor": make_user("chef@example.org", Role.SUPERVISOR),
    }
    people["agent"].services.append(pensions)
    people["other"].services.append(salaries)
    db.session.commit()
    return people


@pytest.fixture
def ticket(people) -> Ticket:
    pensions = db.session.scalar(select(Service).filter_by(key="pensions"))
    return make_ticket(make_caller(CALLER), line=LINE, service=pensions)


def page_url(ticket: Ticket) -> str:
    return f"/tickets/{ticket.display_reference}"


def file_url(ticket: Ticket, attachment_id: int) -> str:
    return f"{page_url(ticket)}/attachments/{attachment_id}"


def download(client, url: str):
    """The answer, read and closed (a served file holds its file open)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def rows(page: str) -> list[list[str]]:
    """The attachments table's cells, tags stripped, row by row."""
    table = re.search(r'<table class="files">(.*?)</table>', page, re.DOTALL)
    assert table, "no attachments table"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.DOTALL).group(1)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)
    ]


# --- the list on the page ------------------------------------------------------------


def test_the_page_lists_each_file_with_its_name_type_size_and_date(
    client, people, ticket
):
    slip = stored_attachment(ticket.id, "bulletin de mars.pdf", PAY_SLIP)
    photo = stored_attachment(
        ticket.id, "photo.jpg", b"\xff\xd8" + b"j" * (3 * 1024 * 1024), "image/jpeg"
    )
    for attachment in (slip, photo):
        attachment.created_at = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    db.session.commit()
    login(client, people["agent"])
    page = client.get(page_url(ticket)).get_data(as_text=True)
    assert '<h2 id="files-title">Pièces jointes <small>(2)</small></h2>' in page
    # French: a decimal comma, a non-breaking space before the unit (Babel).
    assert rows(page) == [
        ["bulletin de mars.pdf", "PDF", "12,5\u202fko", "02/03/2026 10:05"],
        ["photo.jpg", "Image", "3\u202fMo", "02/03/2026 10:05"],
    ]
    assert f'href="{file_url(ticket, slip.id)}" download' in page


def test_in_english_the_size_reads_kb(client, people, ticket):
    stored_attachment(ticket.id, "slip.pdf", PAY_SLIP)
    stored_attachment(ticket.id, "note.txt", b"hello", "text/plain")
    login(client, people["agent"])
    page = client.get(page_url(ticket) + "?lang=en").get_data(as_text=True)
    assert [row[:3] for row in rows(page)] == [
        ["slip.pdf", "PDF", "12.5 kB"],
        ["note.txt", "Text", "5 bytes"],
    ]


def test_a_ticket_without_files_shows_no_attachments_section(client, people, ticket):
    login(client, people["agent"])
    page = client.get(page_url(ticket)).get_data(as_text=True)
    assert "files-title" not in page
    assert 'class="ticket-page"' in page


def test_a_name_with_markup_is_shown_as_text(client, people, ticket):
    stored_attachment(ticket.id, '<img src=x onerror="alert(1)">.pdf', PAY_SLIP)
    login(client, people["agent"])
    page = client.get(page_url(ticket)).get_data(as_text=True)
    assert "<img src=x" not in page
    assert rows(page)[0][0] == "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;.pdf"


# --- the download --------------------------------------------------------------------


def test_the_download_is_the_stored_bytes_as_an_attachment(client, people, ticket):
    slip = stored_attachment(ticket.id, "bulletin.pdf", PAY_SLIP)
    login(client, people["agent"])
    response = download(client, file_url(ticket, slip.id))
    assert response.status_code == 200
    assert response.data == PAY_SLIP
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"bulletin.pdf\"; filename*=UTF-8''bulletin.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "nonsense"],
)
def test_a_type_that_could_run_is_served_as_bytes(client, people, ticket, content_type):
    page = b"<svg onload=alert(1)><script>alert(1)</script></svg>"
    evil = stored_attachment(ticket.id, "lettre.html", page, content_type)
    login(client, people["agent"])
    response = download(client, file_url(ticket, evil.id))
    assert response.status_code == 200
    assert response.data == page
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_served_types():
    assert served_type("image/png") == "image/png"
    assert served_type("Application/PDF; name=x.pdf") == "application/pdf"
    assert served_type("image/svg+xml") == "application/octet-stream"
    assert served_type("") == "application/octet-stream"


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        (
            'rapport "final".pdf',
            'attachment; filename="rapport _final_.pdf"; '
            "filename*=UTF-8''rapport%20%22final%22.pdf",
        ),
        (
            "fiche\r\nSet-Cookie: x=1\n.pdf",
            'attachment; filename="fiche Set-Cookie: x=1 .pdf"; '
            "filename*=UTF-8''fiche%20Set-Cookie%3A%20x%3D1%20.pdf",
        ),
        (
            "Relevé de salaire \u2013 décembre.pdf",
            'attachment; filename="Releve de salaire  decembre.pdf"; '
            "filename*=UTF-8''Relev%C3%A9%20de%20salaire%20%E2%80%93%20d%C3%A9cembre.pdf",
        ),
        (
            "../../etc/passwd",
            "attachment; filename=\"passwd\"; filename*=UTF-8''passwd",
        ),
        (
            "C:\\Users\\awa\\.bulletin.pdf",
            "attachment; filename=\"bulletin.pdf\"; filename*=UTF-8''bulletin.pdf",
        ),
        ("", "attachment; filename=\"attachment\"; filename*=UTF-8''attachment"),
        ("\u00e9\u00e9", "attachment; filename=\"ee\"; filename*=UTF-8''%C3%A9%C3%A9"),
    ],
)
def test_the_name_in_the_header_is_safe(client, people, ticket, filename, header):
    assert content_disposition(filename) == header
    kept = stored_attachment(ticket.id, filename, PAY_SLIP)
    login(client, people["agent"])
    response = download(client, file_url(ticket, kept.id))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == header
    assert "\n" not in unquote(header.split("''")[1])


def test_each_download_is_logged_with_who_and_which_file(
    client, people, ticket, caplog
):
    slip = stored_attachment(ticket.id, "bulletin.pdf", PAY_SLIP)
    updated = ticket.updated_at
    login(client, people["agent"])
    with caplog.at_level(logging.INFO, logger="app.services.attachments"):
        download(client, file_url(ticket, slip.id))
        download(client, file_url(ticket, slip.id))
    agent_id = people["agent"].id
    assert (
        caplog.messages == [f"attachment {slip.id} downloaded by user {agent_id}"] * 2
    )
    db.session.expire_all()
    events = db.session.scalars(
        select(TicketEvent).filter_by(
            ticket_id=ticket.id, action="attachment_downloaded"
        )
    ).all()
    assert [(event.actor, event.detail) for event in events] == [
        ("awa@example.org", {"attachment_id": slip.id, "filename": "bulletin.pdf"})
    ] * 2
    # Reading a file is no change to the request (its "last change" stays).
    assert db.session.get(Ticket, ticket.id).updated_at == updated


def test_supervisors_alone_see_the_downloads_in_the_timeline(client, people, ticket):
    slip = stored_attachment(ticket.id, "bulletin.pdf", PAY_SLIP)
    login(client, people["agent"])
    download(client, file_url(ticket, slip.id))
    page = client.get(page_url(ticket)).get_data(as_text=True)
    assert 'data-action="attachment_downloaded"' not in page
    client.post("/logout")
    login(client, people["supervisor"])
    page = client.get(page_url(ticket)).get_data(as_text=True)
    assert 'data-action="attachment_downloaded"' in page
    assert "Pièce jointe téléchargée" in page


# --- who may not ---------------------------------------------------------------------


def test_a_stranger_is_sent_to_sign_in(client, ticket):
    slip = stored_attachment(ticket.id)
    response = download(client, file_url(ticket, slip.id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_an_agent_of_another_service_gets_404(client, people, ticket):
    slip = stored_attachment(ticket.id)
    login(client, people["other"])
    response = download(client, file_url(ticket, slip.id))
    assert response.status_code == 404
    assert b"%PDF" not in response.data
    assert (
        db.session.scalars(
            select(TicketEvent).filter_by(action="attachment_downloaded")
        ).all()
        == []
    )


def test_an_attachment_of_another_ticket_is_404(client, people, ticket):
    """Through a ticket they may see, an agent cannot reach another's file."""
    salaries = db.session.scalar(select(Service).filter_by(key="salaries"))
    hidden = make_ticket(make_caller("+22997000001"), line=LINE, service=salaries)
    theirs = stored_attachment(hidden.id, "secret.pdf")
    login(client, people["agent"])
    response = download(client, file_url(ticket, theirs.id))
    assert response.status_code == 404
    assert b"%PDF" not in response.data
    # The supervisor sees both tickets, and still only through the right one.
    client.post("/logout")
    login(client, people["supervisor"])
    assert download(client, file_url(ticket, theirs.id)).status_code == 404
    assert download(client, file_url(hidden, theirs.id)).status_code == 200


def test_an_unknown_attachment_is_404(client, people, ticket):
    login(client, people["agent"])
    assert download(client, file_url(ticket, 999)).status_code == 404


def test_a_missing_file_is_a_clear_page_not_a_500(client, people, ticket, caplog):
    slip = stored_attachment(ticket.id, "bulletin.pdf")
    (attachments_dir() / slip.storage_key).unlink()
    login(client, people["agent"])
    with caplog.at_level(logging.WARNING, logger="app.tickets.page"):
        response = download(client, file_url(ticket, slip.id))
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "<h1>Plus disponible</h1>" in page
    assert f"The file of attachment no. {slip.id} is missing." in page
    assert caplog.messages == [f"attachment {slip.id}: file missing from the storage"]
    assert "attachment" not in (response.headers.get("Content-Disposition") or "")


def test_a_row_pointing_outside_the_folder_is_not_followed(
    client, people, ticket, tmp_path
):
    (tmp_path / "outside").write_bytes(b"not yours")
    slip = stored_attachment(ticket.id)
    slip.storage_key = "../outside"
    db.session.commit()
    login(client, people["agent"])
    response = download(client, file_url(ticket, slip.id))
    assert response.status_code == 410
    assert b"not yours" not in response.data


# --- from the mailbox to the page (a real dovecot, as tests/test_mail_fetch.py) ----


def entries_with_files(page: str) -> list[list[str]]:
    """The file names each timeline entry lists, for the entries that do."""
    return [
        re.findall(r"<a [^>]*download>(.*?)</a>", files)
        for files in re.findall(r'<p class="entry-files">(.*?)</p>', page, re.DOTALL)
    ]


def test_an_emails_files_reach_the_page_and_its_timeline_entry(
    app,
    mailbox,  # noqa: F811
    smtp,  # noqa: F811
):
    first = mail(subject="Salaire incomplet")
    first.add_attachment(
        PAY_SLIP, maintype="application", subtype="pdf", filename="bulletin.pdf"
    )
    first.add_attachment(
        b"\xff\xd8photo", maintype="image", subtype="jpeg", filename="guichet.jpg"
    )
    mailbox.deliver(first.as_bytes())
    fetch_mail()
    [ticket] = db.session.scalars(select(Ticket)).all()
    [ack] = smtp.mails
    reply = mail(subject=f"Re: {ack['Subject']}", text="Le relevé de la banque.")
    reply.add_attachment(
        b"%PDF-1.4 releve", maintype="application", subtype="pdf", filename="relevé.pdf"
    )
    mailbox.deliver(reply.as_bytes())
    assert dict(fetch_mail()) == {"threaded": 1}

    make_user("chef@example.org", Role.SUPERVISOR)
    client = app.test_client()
    login(client, db.session.scalar(select(User).filter_by(role=Role.SUPERVISOR)))
    page = client.get(page_url(ticket)).get_data(as_text=True)

    assert [row[:3] for row in rows(page)] == [
        ["bulletin.pdf", "PDF", "12,5\u202fko"],
        ["guichet.jpg", "Image", "7\xa0octets"],
        ["relevé.pdf", "PDF", "15\xa0octets"],
    ]
    # Each e-mail's entry names its own files, the first two and the reply one.
    assert entries_with_files(page) == [["bulletin.pdf", "guichet.jpg"], ["relevé.pdf"]]
    assert "Pièces jointes :" in page
    slip_link = re.search(r'href="([^"]+)" download>bulletin.pdf<', page).group(1)
    assert download(client, slip_link).data == PAY_SLIP


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("Text/Plain; charset=utf-8", "Text"),  # parameters and case, as served_type
        ("image/svg+xml", "Image"),
        ("application/x-unknown", "File"),
        (None, "File"),
    ],
)
def test_a_type_in_words_reads_the_bare_type(app, content_type, kind):
    with app.test_request_context("/?lang=en"):
        assert kind_in_words(content_type) == kind
