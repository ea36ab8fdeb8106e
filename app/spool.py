"""Callbacks kept on disk while the database is down, replayed when it is back.

Twilio does not retry status and recording callbacks: one refused during an
outage is lost, and with it a recording or a caller's hang-up. So the verified
form is written to instance/spool/ and `flask --app wsgi spool replay` feeds it
to the same view again.
"""

import json
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, current_app, request
from werkzeug.datastructures import MultiDict

from app.extensions import db

log = logging.getLogger(__name__)


def spool_dir(app: Flask) -> Path:
    return Path(app.instance_path) / "spool"


def save_request() -> Path:
    """Write the current (already signature-checked) webhook to the spool."""
    directory = spool_dir(current_app)
    directory.mkdir(parents=True, exist_ok=True)
    entry = {
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "form": list(request.form.items(multi=True)),
    }
    # A name of our own, never from the request; temp file + rename is atomic.
    name = f"{secrets.token_hex(8)}.json"
    temporary = directory / f".{name}.tmp"
    temporary.write_text(json.dumps(entry))
    os.replace(temporary, directory / name)
    log.error("database unavailable: %s kept in the spool as %s", request.path, name)
    return directory / name


def replay(app: Flask) -> tuple[int, int]:
    """Replay every spooled callback in arrival order; (replayed, still failing)."""
    directory = spool_dir(app)
    if not directory.is_dir():
        return 0, 0
    files = sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime)
    done = failed = 0
    for path in files:
        entry = json.loads(path.read_text())
        url = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
        form = MultiDict(entry["form"])
        with app.test_request_context(url, method="POST", data=form):
            endpoint, values = request.url_rule.endpoint, request.view_args
            view = app.view_functions[endpoint]
            # Checked when it arrived; the spool is ours, so skip the signature.
            status = _call_unsigned(view, values)
        if status < 300:
            path.unlink()
            done += 1
        else:
            failed += 1
    return done, failed


def _call_unsigned(view, values: dict) -> int:  # type: ignore[no-untyped-def]
    unsigned = getattr(view, "__wrapped__", view)
    try:
        result = unsigned(**values)
    except Exception:
        log.exception("spooled callback still failing")
        db.session.rollback()
        return 500
    status = (
        result[1] if isinstance(result, tuple) else getattr(result, "status_code", 200)
    )
    return int(status)
