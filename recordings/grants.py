"""Seeks without database work: a short-lived grant per credential and recording.

An audio player asks for dozens of ranges per playback. The first request is
checked in full (credential, permission, storage) and leaves a grant; the
seeks that follow within GRANT_SECONDS reuse it. A revoked token or a removed
right therefore takes effect within GRANT_SECONDS for a player already open.
"""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, request, session

from app.models.users import hash_token

GRANT_SECONDS = 60.0
MAX_GRANTS = 10_000


@dataclass(frozen=True)
class Grant:
    path: Path
    mimetype: str
    etag: str | None
    expires: float


_lock = threading.Lock()


def _grants() -> dict[tuple[str, int], Grant]:
    # Per app: two apps in one process (tests) never share a grant.
    return current_app.extensions.setdefault("recordings.grants", {})


def credential_key() -> str | None:
    """Who is asking, from the request alone: a bearer token's hash or a session."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "t:" + hash_token(token.strip())
    user_id = session.get("_user_id")  # signed by SECRET_KEY, set by Flask-Login
    return f"s:{user_id}" if user_id else None


def find(key: str | None, recording_id: int) -> Grant | None:
    if key is None:
        return None
    grant = _grants().get((key, recording_id))
    if grant is None or grant.expires < time.monotonic():
        return None
    return grant


def give(
    key: str | None, recording_id: int, path: Path, mimetype: str, etag: str | None
) -> None:
    if key is None:
        return
    grants = _grants()
    with _lock:
        if len(grants) >= MAX_GRANTS:
            grants.clear()  # crude but bounded: the next requests re-check in full
        grants[(key, recording_id)] = Grant(
            path, mimetype, etag, time.monotonic() + GRANT_SECONDS
        )
