"""Outgoing e-mail over SMTP, with the app's time-out; the outbox owns retries."""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app

log = logging.getLogger(__name__)


class MailRefused(Exception):
    """The server refused the message for good (a 5xx): trying again is pointless."""


def send_email(to: str, subject: str, body: str) -> str:
    """Send one e-mail; returns its Message-ID, or "logged" without MAIL_SMTP_URL.

    Raises MailRefused on a permanent refusal, and smtplib or network errors
    (OSError) when it is worth trying again.
    """
    config = current_app.config
    if not config.get("MAIL_SMTP_URL"):
        # Like SMS without Twilio: say it went nowhere, without the body (a
        # focal point's link is a credential).
        log.info("e-mail not sent (MAIL_SMTP_URL not set) to %s: %s", to, subject)
        return "logged"
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].partition("@")[2])
    message.set_content(body)
    try:
        with _connect(config["MAIL_SMTP_URL"], config["MAIL_TIMEOUT_SECONDS"]) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        codes = [code for code, _ in refused.recipients.values()]
        if all(code >= 500 for code in codes):
            raise MailRefused(f"recipient refused ({codes[0]})") from None
        raise
    except smtplib.SMTPResponseException as error:
        if error.smtp_code >= 500:
            raise MailRefused(f"server refused ({error.smtp_code})") from None
        raise
    return message["Message-ID"]


def _connect(url: str, timeout: float) -> smtplib.SMTP:
    """A logged-in connection: smtps:// is TLS from the start; smtp:// upgrades
    with STARTTLS whenever the server offers it."""
    parts = urlsplit(url)
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=timeout
        )
    else:
        smtp = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=timeout)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls()
            smtp.ehlo()
    if parts.username:
        smtp.login(unquote(parts.username), unquote(parts.password or ""))
    return smtp
