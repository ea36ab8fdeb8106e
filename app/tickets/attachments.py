"""A ticket's attachments as staff read them on its page: the sender's file
name, its type and size in words, when it came."""

from dataclasses import dataclass
from datetime import datetime

from babel.units import format_unit
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from app.models import Attachment
from app.services.attachments import attachments_of, bare_type, safe_filename

# A type in words, by the stored MIME type; then by its family (image/...).
KINDS = {
    "application/pdf": _l("PDF"),
    "application/msword": _l("Document"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _l(
        "Document"
    ),
    "application/vnd.oasis.opendocument.text": _l("Document"),
    "application/rtf": _l("Document"),
    "text/plain": _l("Text"),
    "text/csv": _l("Spreadsheet"),
    "application/vnd.ms-excel": _l("Spreadsheet"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _l(
        "Spreadsheet"
    ),
    "application/vnd.oasis.opendocument.spreadsheet": _l("Spreadsheet"),
    "application/zip": _l("Archive"),
    "text/html": _l("Web page"),
}
FAMILIES = {
    "image": _l("Image"),
    "audio": _l("Audio"),
    "video": _l("Video"),
}
OTHER = _l("File")
KILO = 1024


@dataclass(frozen=True)
class Listed:
    id: int
    filename: str
    kind: str
    size: str
    at: datetime


def kind_in_words(content_type: str | None) -> str:
    bare = bare_type(content_type)
    if bare in KINDS:
        return str(KINDS[bare])
    return str(FAMILIES.get(bare.split("/")[0], OTHER))


def size_in_words(size_bytes: int) -> str:
    """Bytes, KB or MB (1,024 each), as the page's language writes them."""
    locale = get_locale() or "fr"
    if size_bytes < KILO:
        return format_unit(size_bytes, "digital-byte", length="long", locale=locale)
    unit, value = "digital-kilobyte", size_bytes / KILO
    if value >= KILO:
        unit, value = "digital-megabyte", value / KILO
    return format_unit(value, unit, length="short", format="#,##0.#", locale=locale)


def _listed(attachment: Attachment) -> Listed:
    return Listed(
        id=attachment.id,
        filename=safe_filename(attachment.filename),
        kind=kind_in_words(attachment.content_type),
        size=size_in_words(attachment.size_bytes),
        at=attachment.created_at,
    )


def listed(ticket_id: int) -> list[Listed]:
    return [_listed(attachment) for attachment in attachments_of(ticket_id)]
