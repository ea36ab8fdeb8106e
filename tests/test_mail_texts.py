"""config/emails.yaml (CONTRACT §9.3): checked at start-up, and what the
outbox writes to a request filed with an address and no phone number."""

import pytest
from sqlalchemy import select

from app import create_app
from app.email_text import TEMPLATES, load_email_texts
from app.extensions import db
from app.models import Message
from app.sms_text import TEMPLATES as SMS_TEMPLATES
from app.yamlmodel import ConfigFileError
from config import ROOT, TestingConfig
from inbox.fetch import fetch_mail
from tests.factories import make_caller, make_ticket

EMAILS = ROOT / "config" / "emails.yaml"


def write(tmp_path, text):
    path = tmp_path / "emails.yaml"
    path.write_text(text)
    return path


def test_every_email_renders_in_both_languages_with_the_reference_in_its_subject():
    texts = load_email_texts(EMAILS)
    assert set(TEMPLATES) <= set(SMS_TEMPLATES)  # the SMS events, by e-mail
    for template in TEMPLATES:
        for lang in ("fr", "en"):
            email = texts.render(
                template, lang, reference="1234-5678", status="x", note="n", line="l"
            )
            assert "1234-5678" in email.subject
            assert "1234-5678" in email.body
            assert "{" not in email.subject + email.body


@pytest.mark.parametrize(
    ("right", "wrong", "row", "words"),
    [
        (
            "  satisfaction:",
            "  satisfactoin:",
            "templates:",
            "templates: missing 'satisfaction'",
        ),
        (
            '      subject: "[Réf. {reference}] Votre dossier est transmis"',
            '      subject: "Votre dossier est transmis"',
            '      subject: "Votre dossier est transmis"',
            "templates.assigned.fr.subject: the subject must carry "
            "{reference}, so replies thread",
        ),
        (
            "        Votre dossier {reference} est {status}.",
            "        Votre dossier {reference} est {etat}.",
            "      body: |",
            "templates.status_changed.fr.body: unknown placeholder {etat}",
        ),
    ],
)
def test_email_file_mistakes_name_the_key_and_its_line(
    tmp_path, right, wrong, row, words
):
    text = EMAILS.read_text()
    assert right in text
    changed = text.replace(right, wrong, 1)
    path = write(tmp_path, changed)
    with pytest.raises(ConfigFileError) as caught:
        load_email_texts(path)
    # The error points at `row`: the last one at or before the changed row.
    rows = changed.splitlines()
    changed_at = rows.index(wrong.splitlines()[0]) + 1
    line = max(
        number
        for number, text_row in enumerate(rows[:changed_at], start=1)
        if text_row == row
    )
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {words}"), message


def test_app_does_not_start_on_a_malformed_email_file(tmp_path):
    path = write(tmp_path, EMAILS.read_text().replace("  resolved:", "  solved:"))

    class Broken(TestingConfig):
        EMAILS_FILE = str(path)

    with pytest.raises(ConfigFileError, match=r"missing 'resolved'"):
        create_app(Broken)


def test_the_configuration_page_shows_the_emails_and_their_file(app):
    from app.models import Role
    from tests.factories import PASSWORD, make_user

    make_user("admin@example.org", Role.ADMIN)
    client = app.test_client()
    client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})

    page = client.get("/admin/configuration?lang=en").get_data(as_text=True)

    assert app.config["EMAILS_FILE"] in page
    assert '<h2 id="emails-title">E-mails to citizens</h2>' in page
    assert "[Réf. {reference}] Votre demande est enregistrée" in page
    assert "[Ref. {reference}] Are you satisfied?" in page


def test_the_mailbox_is_read_each_minute_only_when_it_is_set():
    class WithMailbox(TestingConfig):
        MAIL_IMAP_URL = "imap://centre:secret@127.0.0.1:1143/INBOX"

    with_mailbox = create_app(WithMailbox).extensions.get("periodic_jobs", [])
    without = create_app(TestingConfig).extensions.get("periodic_jobs", [])
    assert (fetch_mail, "default") in with_mailbox
    assert (fetch_mail, "default") not in without


def test_a_ticket_with_an_address_and_no_phone_is_followed_up_by_email(app):
    ticket = make_ticket(
        None, channel="web", contact_email="awa@example.net", language="en"
    )

    message = followups_notify(ticket, "assigned")

    assert (message.channel, message.to_number, message.caller_id) == (
        "email",
        "awa@example.net",
        None,
    )
    assert message.subject == (
        f"[Ref. {ticket.display_reference}] Your request has been passed on"
    )
    assert message.body.startswith("Hello,\n\nYour request ")
    assert [e.action for e in ticket.events][-1] == "email_queued"


def test_a_caller_with_a_phone_is_still_texted_not_emailed(app):
    ticket = make_ticket(make_caller(), contact_email="awa@example.net")

    message = followups_notify(ticket, "assigned")

    assert (message.channel, message.to_number, message.subject) == (
        "sms",
        "+2290197000000",
        None,
    )


def test_no_address_and_no_phone_means_no_follow_up(app):
    ticket = make_ticket(None)

    assert followups_notify(ticket, "assigned") is None
    assert db.session.scalars(select(Message)).all() == []


def followups_notify(ticket, template):
    from app.services.followups import notify

    message = notify(ticket, template)
    db.session.commit()
    return message
