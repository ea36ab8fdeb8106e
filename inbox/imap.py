"""The centre's mailbox over IMAP (MAIL_IMAP_URL): list what is not taken yet,
read one message, mark it taken. Messages are never deleted nor moved.

What was taken is known for sure by its receipt in the database (inbox.intake);
the IMAP keyword set here only spares the next run from reading it again, and
shows in a mail client which messages the centre filed. A server that refuses
keywords still works: every message is then listed on every run, and its
receipt turns it away.
"""

import imaplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# An IMAP keyword: a flag of the client's own, kept by the server.
TAKEN = "$EcouteTaken"

# What a connection, a login or a command may raise when the server is away,
# slow or refusing: the run is over, the next one starts again.
MailboxUnavailable = (imaplib.IMAP4.error, OSError, EOFError)


@dataclass(frozen=True)
class MailboxAddress:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str


def parse_imap_url(url: str) -> MailboxAddress:
    """imap://user:password@host:port/MAILBOX (imaps:// for TLS from the start);
    the user and password are percent-decoded, the mailbox defaults to INBOX."""
    parts = urlsplit(url)
    tls = parts.scheme == "imaps"
    return MailboxAddress(
        host=parts.hostname or "localhost",
        port=parts.port or (993 if tls else 143),
        tls=tls,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
    )


class Mailbox:
    def __init__(self, connection: imaplib.IMAP4) -> None:
        self.connection = connection

    def untaken(self) -> list[bytes]:
        """The UIDs of the messages not marked taken, oldest first."""
        status, data = self.connection.uid("SEARCH", "UNKEYWORD", TAKEN)
        _check(status, data)
        return sorted(data[0].split(), key=int) if data and data[0] else []

    def read(self, uid: bytes) -> bytes | None:
        """The whole message, without setting \\Seen (people read this mailbox
        too); None if it is gone since the search."""
        status, data = self.connection.uid("FETCH", uid, "(BODY.PEEK[])")
        _check(status, data)
        for item in data:
            if isinstance(item, tuple) and re.search(rb"\bBODY\[\]", item[0]):
                return item[1]
        return None

    def mark_taken(self, uid: bytes) -> None:
        """Best effort: a server without keywords answers NO, which changes
        nothing (the receipt is what counts)."""
        with suppress(imaplib.IMAP4.error):
            self.connection.uid("STORE", uid, "+FLAGS.SILENT", f"({TAKEN})")


def _check(status: str, data: list) -> None:
    if status != "OK":
        raise imaplib.IMAP4.error(f"server answered {status}: {data!r}"[:200])


@contextmanager
def open_mailbox(url: str, timeout: float) -> Iterator[Mailbox]:
    """A logged-in connection with the mailbox selected read-write (for the
    keyword); every network wait is bounded by `timeout`."""
    address = parse_imap_url(url)
    # imaplib alone would not check the server's certificate.
    context = ssl.create_default_context()
    if address.tls:
        connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            address.host, address.port, ssl_context=context, timeout=timeout
        )
    else:
        connection = imaplib.IMAP4(address.host, address.port, timeout=timeout)
    try:
        if not address.tls and "STARTTLS" in connection.capabilities:
            # Like SMTP (app.mailer): never a password in clear when the server
            # offers encryption.
            connection.starttls(ssl_context=context)
        connection.login(address.user, address.password)
        status, data = connection.select(_quoted(address.mailbox))
        _check(status, data)
        yield Mailbox(connection)
    finally:
        with suppress(MailboxUnavailable):
            connection.logout()


def _quoted(mailbox: str) -> str:
    """A mailbox name as an IMAP string (names may hold spaces)."""
    escaped = mailbox.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
