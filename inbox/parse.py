"""What the centre reads in one e-mail: who wrote, about what, the text, the
files, and whether a machine wrote it (an auto-reply or a bounce)."""

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser

# The longest text kept as a request's description (a reply quoting a whole
# thread is cut, not refused).
MAX_TEXT = 10_000
RECEIPT_KEY_MAX = 255  # channel_receipts.key
# RFC 3834 and the headers auto-responders set in its stead.
AUTOMATIC_PRECEDENCE = {"bulk", "auto_reply", "junk"}
MACHINE_SENDERS = {"mailer-daemon", "postmaster"}
# "Le 3 mars 2026, X a écrit :" / "On Tue, 3 Mar 2026, X wrote:" before a quote.
QUOTE_INTRO = re.compile(r"^(le |on ).*(a écrit|wrote)\s*:\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class File:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class IncomingMail:
    receipt_key: str
    sender: str  # the From address, lower-case; "" when unreadable
    subject: str
    text: str
    automatic: bool
    files: list[File] = field(default_factory=list)


def receipt_key(message: EmailMessage, raw: bytes) -> str:
    """ "email:<Message-ID>", hashed when too long; a message without one is
    known by a hash of all its bytes (headers and body)."""
    message_id = " ".join(str(message.get("Message-ID", "")).split())
    if message_id:
        key = f"email:{message_id}"
        if len(key) <= RECEIPT_KEY_MAX:
            return key
        return "email:sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return raw_receipt_key(raw)


def raw_receipt_key(raw: bytes) -> str:
    # Line ends as stored: IMAP sends CRLF, a Maildir file may hold LF.
    return "email:sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def is_automatic(message: EmailMessage, sender: str) -> bool:
    """An auto-reply, a bounce (a delivery report) or bulk mail: nobody to answer."""
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return True
    if sender.partition("@")[0] in MACHINE_SENDERS:
        return True
    return message.get_content_type() == "multipart/report"


def parse_mail(raw: bytes) -> IncomingMail:
    # With policy.default the parser makes EmailMessage objects.
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
    sender = parseaddr(str(message.get("From", "")))[1].strip().lower()
    return IncomingMail(
        receipt_key=receipt_key(message, raw),
        sender=sender if "@" in sender else "",
        subject=" ".join(str(message.get("Subject", "")).split())[:200],
        text=_text(message),
        automatic=is_automatic(message, sender),
        files=list(_files(message)),
    )


def _text(message: EmailMessage) -> str:
    """The plain text (or the HTML as text), without the quoted earlier mail."""
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    if body.get_param("charset") is None:
        # No charset said (8-bit text from a careless mailer): what today's
        # mailers send is UTF-8, older Windows ones cp1252.
        content = _undeclared(body.get_payload(decode=True) or b"")
    else:
        try:
            content = body.get_content()
        except (LookupError, ValueError):  # an unknown or lying charset
            content = _undeclared(body.get_payload(decode=True) or b"")
    if body.get_content_type() == "text/html":
        content = html_to_text(content)
    return _without_quote(content).strip()[:MAX_TEXT]


def _undeclared(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _without_quote(text: str) -> str:
    kept = []
    for line in text.splitlines():
        if QUOTE_INTRO.match(line.strip()):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    return "\n".join(kept)


def _files(message: EmailMessage):
    for part in message.iter_attachments():
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue  # a forwarded message/rfc822: its text is not a file
        yield File(
            filename=(part.get_filename() or "attachment")[:255],
            content_type=part.get_content_type()[:127],
            data=data,
        )


HTML_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "blockquote"})
HTML_SKIPPED = frozenset({"script", "style", "head", "title"})


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in HTML_SKIPPED:
            self.skipping += 1
        elif tag in HTML_BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in HTML_SKIPPED and self.skipping:
            self.skipping -= 1
        elif tag in HTML_BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The words of an HTML mail, a line per block, markup and scripts gone."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
