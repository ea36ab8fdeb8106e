"""One run over the mailbox: every message not taken yet, oldest first."""

import logging
from collections import Counter

from flask import current_app

from inbox.imap import MailboxUnavailable, open_mailbox, parse_imap_url
from inbox.intake import take_message

log = logging.getLogger(__name__)


class FetchReport(Counter):
    """How many messages ended how (new, threaded, ignored, known, failed);
    `unreachable` holds why the mailbox could not be read, if it could not."""

    unreachable: str | None = None


def fetch_mail() -> FetchReport:
    """Read MAIL_IMAP_URL once. The mailbox away (down, slow, refusing the
    login) is logged, not raised: nothing was taken from it, so the next run
    takes everything still waiting. Messages stay in the mailbox."""
    report = FetchReport()
    url = current_app.config.get("MAIL_IMAP_URL")
    if not url:
        return report
    try:
        with open_mailbox(url, current_app.config["MAIL_TIMEOUT_SECONDS"]) as mailbox:
            for uid in mailbox.untaken():
                raw = mailbox.read(uid)
                if raw is None:
                    continue  # deleted by someone since the search
                report[take_message(raw).kind] += 1
                mailbox.mark_taken(uid)
    except MailboxUnavailable as error:
        address = parse_imap_url(url)
        # Never the URL itself: it holds the password.
        report.unreachable = f"{type(error).__name__}: {error}"[:200]
        log.warning(
            "mailbox %s@%s:%s/%s unreachable (%s); the next run takes what waits",
            address.user,
            address.host,
            address.port,
            address.mailbox,
            report.unreachable,
        )
    return report
