"""The files that came with requests (an e-mail's attachments): where they are
kept, which a ticket has, how a browser may be given one, and who opened which.

The inbox (inbox/intake.py) writes them here; the ticket page lists and serves
them; the personal-data commands (app.services.privacy) export and delete them.
All read the folder from attachments_dir(), so it is said once.
"""

import logging
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, TicketEvent, User

log = logging.getLogger(__name__)

# Types a browser shows or saves without running anything of the sender's. A
# citizen's HTML, SVG or XML could run script in the staff's origin: whatever is
# not here is served as application/octet-stream (and always as a download).
HARMLESS_TYPES = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/tiff",
        "text/plain",
        "text/csv",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/amr",
        "video/mp4",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/rtf",
        "application/zip",
    }
)
OPAQUE = "application/octet-stream"
# Our own names: 32 hex digits (inbox/intake.py). Anything else in the column is
# not followed, so a row can never point outside the folder.
STORAGE_KEY = re.compile(r"[0-9a-f]{16,64}")
# Control characters (CR, LF, tab...): never in a header, nor in a saved name.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
FOLDERS = re.compile(r"[/\\]")
FALLBACK_NAME = "attachment"


def attachments_dir() -> Path:
    """Beside the recordings, under the instance folder by default."""
    return Path(current_app.config["RECORDINGS_DIR"]).parent / "attachments"


def attachments_of(ticket_id: int) -> list[Attachment]:
    """The ticket's files, in the order they came."""
    return list(
        db.session.scalars(
            select(Attachment)
            .filter_by(ticket_id=ticket_id)
            .order_by(Attachment.created_at, Attachment.id)
        )
    )


def stored_file(attachment: Attachment) -> Path | None:
    """The file on disk, or None when it is missing (lost, restored without
    its folder): a page says so rather than failing."""
    if not STORAGE_KEY.fullmatch(attachment.storage_key or ""):
        return None
    path = attachments_dir() / attachment.storage_key
    return path if path.is_file() else None


def bare_type(content_type: str | None) -> str:
    """The MIME type without its parameters (charset...), lower-case."""
    return (content_type or "").split(";")[0].strip().lower()


def served_type(content_type: str | None) -> str:
    """The stored type when it is harmless, else application/octet-stream."""
    bare = bare_type(content_type)
    return bare if bare in HARMLESS_TYPES else OPAQUE


def safe_filename(filename: str | None) -> str:
    """The sender's name without its folders, line breaks or control
    characters, nor the leading dot that would hide the saved file."""
    last = FOLDERS.split(filename or "")[-1]
    name = CONTROLS.sub(" ", last).strip(" .")
    return name or FALLBACK_NAME


def content_disposition(filename: str | None) -> str:
    """Always a download (never inline), named in UTF-8 (RFC 6266, RFC 5987),
    with a plain-ASCII name for clients that read only that one."""
    name = safe_filename(filename)
    ascii_name = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    )
    ascii_name = re.sub(r'["\\%]', "_", ascii_name).strip() or FALLBACK_NAME
    return (
        f'attachment; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )


def audit_download(attachment: Attachment, user: User) -> None:
    """Say who downloaded which file: in the log and in the ticket's history.

    The event is added directly, not through Ticket.record(): reading a file
    changes nothing of the request, so its updated_at (the "last change" the
    citizen is shown) stays as it was. The caller commits.
    """
    log.info("attachment %s downloaded by user %s", attachment.id, user.id)
    db.session.add(
        TicketEvent(
            ticket_id=attachment.ticket_id,
            actor=user.email,
            action="attachment_downloaded",
            detail={"attachment_id": attachment.id, "filename": attachment.filename},
        )
    )
