"""Outgoing e-mail over SMTP, with the app's time-out; the outbox owns retries."""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

log = logging.getLogger(__name__)


class MailRefused(Exception):
    """The server refused the message for good (a 5xx): trying again is pointless."""


def send_email(to: str, subject: str, body: str) -> str:
    """Send one e-mail; returns its Message-ID, or "logged" without SMTP_HOST.

    Raises MailRefused on a permanent refusal, and smtplib or network errors
    (OSError) when it is worth trying again.
    """
    config = current_app.config
    if not config.get("SMTP_HOST"):
        # Like SMS without Twilio: say it went nowhere, without the body (a
        # focal point's link is a credential).
        log.info("e-mail not sent (SMTP_HOST not set) to %s: %s", to, subject)
        return "logged"
    message = EmailMessage()
    message["From"] = config["SMTP_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=config["SMTP_FROM"].partition("@")[2])
    message.set_content(body)
    try:
        with smtplib.SMTP(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            timeout=config["SMTP_TIMEOUT_SECONDS"],
        ) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
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
