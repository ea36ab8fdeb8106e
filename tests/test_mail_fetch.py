"""E-mail in (CONTRACT §9.3) against a real IMAP server (a private dovecot,
tests/imap_server.py) and a real SMTP server (aiosmtpd) capturing what is sent."""

import hashlib
import logging
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Attachment,
    ChannelReceipt,
    Message,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from app.services import followups
from app.services.tickets import TicketChange, change_ticket
from inbox.fetch import fetch_mail
from inbox.imap import Mailbox
from inbox.intake import attachments_dir
from tests.factories import PASSWORD
from tests.imap_server import free_port, imap_server  # noqa: F401

CITIZEN = "ami.kone@example.net"


class Captured:
    """Every e-mail the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(
            message_from_string(envelope.content.decode(), policy=policy.default)
        )
        return "250 OK"


@pytest.fixture
def smtp(app):
    captured = Captured()
    controller = Controller(captured, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(
        MAIL_SMTP_URL=f"smtp://127.0.0.1:{controller.port}",
        MAIL_FROM="ecoute@centre.example.org",
    )
    try:
        yield captured
    finally:
        controller.stop()


@pytest.fixture
def mailbox(app, imap_server, smtp):  # noqa: F811
    app.config["MAIL_IMAP_URL"] = imap_server.url()
    return imap_server


def mail(
    subject: str = "Coupure d'eau depuis trois jours",
    text: str | None = "Bonjour, l'eau est coupée dans notre quartier depuis lundi.",
    sender: str = f"Ami Koné <{CITIZEN}>",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ecoute@centre.example.org"
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.net")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if text is not None:
        message.set_content(text)
    return message


def tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_message_becomes_a_ticket_acknowledged_by_email(mailbox, smtp):
    sent = mail()
    mailbox.deliver(sent.as_bytes())

    report = fetch_mail()

    assert dict(report) == {"new": 1}
    [ticket] = tickets()
    assert ticket.channel == "email"
    assert ticket.contact_email == CITIZEN
    assert ticket.caller is None
    assert ticket.category == "other"
    assert ticket.status == TicketStatus.NEW
    assert ticket.description == (
        "Bonjour, l'eau est coupée dans notre quartier depuis lundi."
    )
    [inbound] = db.session.scalars(
        select(Message).where(Message.direction == "inbound")
    ).all()
    assert (inbound.ticket_id, inbound.channel, inbound.from_number) == (
        ticket.id,
        "email",
        CITIZEN,
    )
    assert inbound.subject == "Coupure d'eau depuis trois jours"
    receipt = db.session.scalar(select(ChannelReceipt))
    assert receipt.key == f"email:{sent['Message-ID']}"
    assert receipt.ticket_id == ticket.id
    # The acknowledgment went through SMTP, to the sender, reference in subject.
    [ack] = smtp.mails
    assert ack["To"] == CITIZEN
    assert ack["From"] == "ecoute@centre.example.org"
    assert ack["Subject"] == (
        f"[Réf. {ticket.display_reference}] Votre demande est enregistrée"
    )
    assert f"sous le numéro {ticket.display_reference}." in ack.get_content()
    outbound = db.session.scalar(select(Message).where(Message.direction == "outbound"))
    assert (outbound.channel, outbound.status, outbound.template) == (
        "email",
        "sent",
        "acknowledgment",
    )
    assert outbound.message_sid == ack["Message-ID"]
    # Kept in the mailbox, not deleted.
    assert mailbox.messages() == 1


def test_a_reply_with_the_reference_threads_onto_its_ticket(mailbox, smtp):
    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [ticket] = tickets()
    ticket.status = TicketStatus.WAITING.value
    db.session.commit()
    [ack] = smtp.mails

    reply = mail(
        subject=f"Re: {ack['Subject']}",
        text="Voici le numéro du compteur : 4471.\n\n> Bonjour,\n> Votre demande",
        sender=CITIZEN.upper(),  # addresses are compared without case
        In_Reply_To=ack["Message-ID"],
    )
    mailbox.deliver(reply.as_bytes())
    report = fetch_mail()

    assert dict(report) == {"threaded": 1}
    assert [t.id for t in tickets()] == [ticket.id]
    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.IN_PROGRESS
    inbound = db.session.scalars(
        select(Message)
        .where(Message.direction == "inbound", Message.ticket_id == ticket.id)
        .order_by(Message.id)
    ).all()
    assert [m.body for m in inbound] == [
        "Bonjour, l'eau est coupée dans notre quartier depuis lundi.",
        "Voici le numéro du compteur : 4471.",  # the quote left out
    ]
    actions = [e.action for e in ticket.events]
    assert "email_received" in actions
    status = [e for e in ticket.events if e.action == "status"][-1]
    assert status.detail["new"] == "in_progress"
    assert len(smtp.mails) == 1  # a reply is not acknowledged again


def test_a_mistyped_reference_before_the_right_one_is_skipped(mailbox, smtp):
    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [ticket] = tickets()
    typo = ticket.reference[:7] + str((int(ticket.reference[7]) + 1) % 10)

    mailbox.deliver(
        mail(
            subject=f"Re: dossier {typo} pardon, {ticket.display_reference}",
            text="Le compteur porte le numéro 4471.",
        ).as_bytes()
    )
    report = fetch_mail()

    assert dict(report) == {"threaded": 1}
    assert [t.id for t in tickets()] == [ticket.id]


def test_a_reference_from_another_address_files_a_new_request(mailbox, smtp):
    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [first] = tickets()

    mailbox.deliver(
        mail(
            subject=f"Re: [Réf. {first.display_reference}]",
            sender="someone.else@example.com",
        ).as_bytes()
    )
    report = fetch_mail()

    assert dict(report) == {"new": 1}
    second = tickets()[-1]
    assert second.id != first.id
    assert second.contact_email == "someone.else@example.com"


@pytest.mark.parametrize(
    "automatic",
    [
        mail(subject="Absence du bureau", Auto_Submitted="auto-replied"),
        mail(subject="Réponse automatique", X_Autoreply="yes"),
        mail(subject="Lettre d'information", Precedence="bulk"),
        mail(
            subject="Undelivered Mail Returned to Sender",
            sender="MAILER-DAEMON@mx.example.net",
        ),
    ],
    ids=["auto-submitted", "x-autoreply", "precedence-bulk", "mailer-daemon"],
)
def test_auto_replies_and_bounces_are_ignored_but_taken(mailbox, smtp, automatic):
    mailbox.deliver(automatic.as_bytes())

    assert dict(fetch_mail()) == {"ignored": 1}
    assert count(Ticket) == 0
    assert smtp.mails == []
    receipt = db.session.scalar(select(ChannelReceipt))
    assert receipt.key == f"email:{automatic['Message-ID']}"
    assert receipt.ticket_id is None
    assert dict(fetch_mail()) == {}  # not read again


def test_a_delivery_report_is_ignored(mailbox, smtp):
    bounce = EmailMessage()
    bounce["From"] = "Mail Delivery System <postmaster@mx.example.net>"
    bounce["To"] = "ecoute@centre.example.org"
    bounce["Subject"] = "Delivery Status Notification (Failure)"
    bounce["Message-ID"] = make_msgid()
    bounce.set_content("The message could not be delivered.")
    bounce.make_mixed()
    bounce.replace_header(
        "Content-Type", "multipart/report; report-type=delivery-status"
    )
    mailbox.deliver(bounce.as_bytes())

    assert dict(fetch_mail()) == {"ignored": 1}
    assert count(Ticket) == 0


def test_auto_submitted_no_is_a_person(mailbox, smtp):
    mailbox.deliver(mail(Auto_Submitted="no").as_bytes())

    assert dict(fetch_mail()) == {"new": 1}


def test_the_same_message_fetched_twice_makes_one_ticket(mailbox, smtp, monkeypatch):
    same = mail(message_id="<same-one@example.net>").as_bytes()
    mailbox.deliver(same)
    mailbox.deliver(same)  # the sender's server delivered it twice

    assert dict(fetch_mail()) == {"new": 1, "known": 1}

    # A server that keeps no keywords lists it again on the next run: the
    # receipt alone turns it away.
    monkeypatch.setattr(Mailbox, "mark_taken", lambda self, uid: None)
    mailbox.deliver(mail(message_id="<another@example.net>").as_bytes())
    assert dict(fetch_mail()) == {"new": 1}
    assert dict(fetch_mail()) == {"known": 1}  # the one left unmarked

    assert count(Ticket) == 2
    assert count(ChannelReceipt) == 2
    assert len(smtp.mails) == 2  # one acknowledgment each
    assert mailbox.messages() == 3  # all kept


def test_a_message_without_message_id_is_known_by_its_bytes(mailbox, smtp):
    bare = mail()
    del bare["Message-ID"]
    raw = bare.as_bytes()
    mailbox.deliver(raw)
    mailbox.deliver(raw)

    assert dict(fetch_mail()) == {"new": 1, "known": 1}
    receipt = db.session.scalar(select(ChannelReceipt))
    assert receipt.key == "email:sha256:" + hashlib.sha256(raw).hexdigest()


def test_attachments_kept_within_the_limit_and_a_larger_one_skipped(app, mailbox, smtp):
    app.config["MAIL_ATTACHMENT_MAX_BYTES"] = 1000
    small = b"%PDF-1.4 facture " + bytes(range(200))
    large = b"\xff\xd8" + b"x" * 1001
    message = mail()
    message.add_attachment(
        small, maintype="application", subtype="pdf", filename="facture.pdf"
    )
    message.add_attachment(
        large, maintype="image", subtype="jpeg", filename="photo.jpg"
    )
    mailbox.deliver(message.as_bytes())

    assert dict(fetch_mail()) == {"new": 1}

    [ticket] = tickets()
    [kept] = db.session.scalars(select(Attachment)).all()
    assert (kept.ticket_id, kept.filename, kept.content_type, kept.size_bytes) == (
        ticket.id,
        "facture.pdf",
        "application/pdf",
        len(small),
    )
    assert kept.sha256 == hashlib.sha256(small).hexdigest()
    assert kept.source == "email"
    stored = attachments_dir() / kept.storage_key
    assert stored.read_bytes() == small
    assert "facture" not in kept.storage_key  # a name we made
    [skipped] = [e for e in ticket.events if e.action == "attachment_skipped"]
    assert skipped.detail == {
        "filename": "photo.jpg",
        "size_bytes": 1003,
        "limit_bytes": 1000,
    }


def test_an_html_only_message_is_read_as_text(mailbox, smtp):
    message = mail(text=None)
    message.set_content(
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>Mon salaire de mars</p><p>n&#39;est pas arrivé.</p>"
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )
    mailbox.deliver(message.as_bytes())

    fetch_mail()

    [ticket] = tickets()
    assert ticket.description == "Mon salaire de mars\nn'est pas arrivé."


def test_mailbox_down_is_logged_then_everything_taken_once_back(
    app, mailbox, smtp, runner, caplog
):
    mailbox.stop()
    mailbox.deliver(mail().as_bytes())  # delivery goes on while IMAP is down

    with caplog.at_level(logging.WARNING, logger="inbox.fetch"):
        report = fetch_mail()
    assert dict(report) == {}
    assert report.unreachable.startswith("ConnectionRefusedError")
    [record] = [r for r in caplog.records if r.name == "inbox.fetch"]
    assert "unreachable" in record.getMessage()
    assert "mot" not in record.getMessage()  # never the password
    result = runner.invoke(args=["mail", "fetch"])
    assert result.exit_code == 1
    assert "mailbox unreachable: ConnectionRefusedError" in result.output
    assert count(Ticket) == 0
    assert count(ChannelReceipt) == 0

    mailbox.start()
    result = runner.invoke(args=["mail", "fetch"])

    assert result.exit_code == 0, result.output
    assert result.output == "e-mail: 1 new\n"
    assert count(Ticket) == 1
    assert len(smtp.mails) == 1


def test_a_wrong_password_is_an_unreachable_mailbox(app, mailbox, smtp):
    app.config["MAIL_IMAP_URL"] = mailbox.url().replace("mot%20de", "faux")
    mailbox.deliver(mail().as_bytes())

    report = fetch_mail()

    assert report.unreachable.startswith("error: ")
    assert count(Ticket) == 0


def test_one_bad_message_does_not_stop_the_others(mailbox, smtp, monkeypatch, caplog):
    import inbox.intake

    real = inbox.intake._new_request

    def fragile(incoming, written):
        if "piège" in incoming.subject:
            raise ValueError("something unexpected in this one")
        return real(incoming, written)

    monkeypatch.setattr(inbox.intake, "_new_request", fragile)
    bad = mail(subject="Un piège")
    mailbox.deliver(bad.as_bytes())
    mailbox.deliver(mail().as_bytes())

    with caplog.at_level(logging.ERROR, logger="inbox.intake"):
        assert dict(fetch_mail()) == {"failed": 1, "new": 1}

    assert count(Ticket) == 1
    # Its receipt keeps it from failing again each minute; it stays in the
    # mailbox for a person, and the log names it.
    receipts = db.session.scalars(select(ChannelReceipt).order_by(ChannelReceipt.id))
    assert [(r.key, r.ticket_id is None) for r in receipts] == [
        (f"email:{bad['Message-ID']}", True),
        (f"email:{mail_id(tickets()[0])}", False),
    ]
    assert bad["Message-ID"] in caplog.text


def test_a_message_not_filed_leaves_no_file_behind(mailbox, smtp, monkeypatch):
    # Its attachment was written before the failure: with no row naming it,
    # no page nor erasure would ever find the citizen's file again.
    import inbox.intake

    def failing(ticket):
        raise ValueError("the acknowledgment could not be written")

    monkeypatch.setattr(inbox.intake.followups, "acknowledge", failing)
    message = mail()
    message.add_attachment(
        b"%PDF-1.4 bulletin", maintype="application", subtype="pdf", filename="b.pdf"
    )
    mailbox.deliver(message.as_bytes())

    assert dict(fetch_mail()) == {"failed": 1}

    assert count(Ticket) == 0
    assert count(Attachment) == 0
    folder = attachments_dir()
    assert not folder.exists() or list(folder.iterdir()) == []


def mail_id(ticket: Ticket) -> str:
    return db.session.scalar(
        select(ChannelReceipt.key).filter_by(ticket_id=ticket.id)
    ).removeprefix("email:")


def test_a_satisfaction_reply_of_one_digit_rates_the_answer(mailbox, smtp):
    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [ticket] = tickets()
    change_ticket(
        ticket,
        TicketChange(status="resolved", resolution="La distribution a repris."),
        "agent@example.org",
    )
    followups.commit_and_dispatch()
    subjects = [m["Subject"] for m in smtp.mails]
    reference = ticket.display_reference
    assert subjects == [
        f"[Réf. {reference}] Votre demande est enregistrée",
        f"[Réf. {reference}] Votre dossier est résolu",
        f"[Réf. {reference}] Êtes-vous satisfait ?",
    ]
    assert "La distribution a repris." in smtp.mails[1].get_content()

    mailbox.deliver(mail(subject=f"RE: {subjects[2]}", text="5").as_bytes())
    assert dict(fetch_mail()) == {"threaded": 1}

    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.CLOSED
    rating = db.session.scalar(select(TicketEvent).filter_by(action="rating"))
    assert rating.detail == {"score": 5}


def test_text_without_a_declared_charset_is_read_as_utf8_or_cp1252(mailbox, smtp):
    header = (
        f"From: {CITIZEN}\r\nSubject: Salaire\r\nMessage-ID: <%s@example.net>\r\n\r\n"
    )
    mailbox.deliver(
        (header % "utf8").encode() + "Mon salaire n'est pas payé.\r\n".encode()
    )
    mailbox.deliver(
        (header % "cp1252").encode()
        + "Ma pension n'est pas versée.\r\n\r\nLe 3 mars, X a écrit :\r\n> hi".encode(
            "cp1252"
        )
    )

    assert dict(fetch_mail()) == {"new": 2}

    assert [t.description for t in tickets()] == [
        "Mon salaire n'est pas payé.",
        "Ma pension n'est pas versée.",  # the quote and its intro left out
    ]


def test_the_ticket_page_shows_the_address_answered_by_email(app, mailbox, smtp):
    from tests.factories import make_user

    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [ticket] = tickets()
    make_user("sup@example.org", Role.SUPERVISOR)
    client = app.test_client()
    client.post("/login", data={"email": "sup@example.org", "password": PASSWORD})

    page = client.get(f"/tickets/{ticket.display_reference}").get_data(as_text=True)

    assert f"<dd>{CITIZEN}</dd>" in page
    # French first (the centre's staff language).
    assert "Pas de numéro de téléphone : le citoyen reçoit les réponses par" in page
    assert "Envoyé au citoyen par courriel." in page
    assert "Envoyé au citoyen par SMS." not in page


def test_the_preview_of_an_email_request_is_the_email(app, mailbox, smtp):
    from tests.factories import make_user

    mailbox.deliver(mail().as_bytes())
    fetch_mail()
    [ticket] = tickets()
    make_user("sup@example.org", Role.SUPERVISOR)
    client = app.test_client()
    client.post("/login", data={"email": "sup@example.org", "password": PASSWORD})

    page = client.post(
        f"/tickets/{ticket.display_reference}/preview/message",
        data={"message-text": "Un technicien passe jeudi."},
    ).get_data(as_text=True)

    reference = ticket.display_reference
    assert f"<strong>[Réf. {reference}] Nouvelles de votre dossier</strong>" in page
    assert "Un technicien passe jeudi." in page
    assert "SMS" not in page
    shown = client.get(f"/tickets/{reference}").get_data(as_text=True)
    assert shown.count("Aperçu du courriel") == 2  # the message and the answer
    assert "Aperçu du SMS" not in shown


def test_a_message_another_process_just_took_is_left_to_it(app, monkeypatch):
    import inbox.intake

    sent = mail(message_id="<raced@example.net>")
    db.session.add(ChannelReceipt(key="email:<raced@example.net>"))
    db.session.commit()
    # The other process inserted its receipt after this one looked.
    monkeypatch.setattr(inbox.intake, "_receipt_exists", lambda key: False)

    outcome = inbox.intake.take_message(sent.as_bytes())

    assert outcome.kind == "known"
    assert count(Ticket) == 0
    assert count(ChannelReceipt) == 1
