"""Where the files that came with requests (app.models.Attachment) are kept:
written by the mailbox reader (inbox/), read and deleted by the personal-data
commands (app.services.privacy), which may not import inbox/."""

from pathlib import Path

from flask import current_app

from app.models import Attachment


def attachments_dir() -> Path:
    """Beside the recordings, under the instance folder by default."""
    return Path(current_app.config["RECORDINGS_DIR"]).parent / "attachments"


def attachment_path(attachment: Attachment) -> Path:
    return attachments_dir() / attachment.storage_key
