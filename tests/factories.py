"""Plain factories for test rows."""

import hashlib
import secrets

from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import (
    ApiToken,
    Attachment,
    Call,
    Caller,
    Recording,
    Role,
    Ticket,
    User,
)
from app.models.users import hash_token
from app.references import new_reference
from app.services.attachments import attachments_dir
from recordings.storage import LocalStorage

PASSWORD = "correct horse battery"


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def make_user(email: str = "agent@example.org", role: Role = Role.AGENT) -> User:
    # A cheap hash keeps the tests fast; check_password reads any method.
    user = User(email=email, role=role, name=email.split("@")[0])
    user.password_hash = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
    db.session.add(user)
    db.session.commit()
    return user


def make_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=hash_token(token)))
    db.session.commit()
    return token


def make_caller(phone: str = "+2290197000000") -> Caller:
    caller = Caller(phone_e164=phone)
    db.session.add(caller)
    db.session.commit()
    return caller


def make_ticket(caller: Caller | None = None, **fields) -> Ticket:
    ticket = Ticket(reference=new_reference(), caller=caller, **fields)
    ticket.record("created", "system")
    db.session.add(ticket)
    db.session.commit()
    return ticket


def stored_recording(
    app, call: Call, ticket_id: int, seconds: float = 1, **fields
) -> Recording:
    """A WAV of `seconds` in the app's storage and its row, as the worker leaves
    a fetched recording: what a page can play. The caller adds and commits it."""
    # Imported here: conftest imports this module before pytest may rewrite
    # the asserts of the media stand-in.
    from tests.media_standin import make_wav

    audio = make_wav(seconds)
    key = f"{sid('RE')}.wav"
    stored = LocalStorage(app.config["RECORDINGS_DIR"]).save(
        key, [audio], 10 * 1024 * 1024
    )
    assert stored.sha256 == hashlib.sha256(audio).hexdigest()
    return Recording(
        recording_sid=key[:-4],
        call=call,
        ticket_id=ticket_id,
        status="completed",
        duration=max(int(seconds), 1),
        media_status="stored",
        storage_key=key,
        media_format="wav",
        size_bytes=stored.size,
        sha256=stored.sha256,
        **fields,
    )


def stored_attachment(
    ticket_id: int,
    filename: str = "bulletin.pdf",
    data: bytes = b"%PDF-1.4 pay slip",
    content_type: str = "application/pdf",
) -> Attachment:
    """A file in the attachments folder and its row, as the inbox keeps an
    e-mail's attachment (inbox/intake.py). Added and committed."""
    key = secrets.token_hex(16)
    folder = attachments_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_bytes(data)
    attachment = Attachment(
        ticket_id=ticket_id,
        filename=filename,
        content_type=content_type,
        size_bytes=len(data),
        storage_key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        source="email",
    )
    db.session.add(attachment)
    db.session.commit()
    return attachment
