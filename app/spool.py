"""Callbacks kept on disk while the database is down, replayed when it is back.

Twilio does not retry status and recording callbacks (nor an inbound text that
got an answer): one refused during an outage is lost, and with it a recording, a
caller's hang-up or their message. So the verified form is written to
instance/spool/ with the reason, and `flask --app wsgi spool replay` feeds it to
the same view again. Only a database outage is spooled this way: a callback that
fails for another reason (a bug, bad data) would fail on every replay, so it is
put in spool/failed/ with its error, for a person to look at.
"""

import json
import logging
import os
import secrets
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from werkzeug.datastructures import MultiDict

from app.dbguard import is_database_outage
from app.extensions import db

log = logging.getLogger(__name__)

# A database error on this many replays in a row and the entry is put aside:
# an error that only looks like an outage must not be retried forever.
MAX_ATTEMPTS = 10
# Set in the WSGI environ of a replayed request, so a view can tell (an inbound
# text's reply then goes by SMS: Twilio is no longer waiting for TwiML).
REPLAY_KEY = "ecoute.spool_replay"


def spool_dir(app: Flask) -> Path:
    return Path(app.instance_path) / "spool"


def failed_dir(app: Flask) -> Path:
    return spool_dir(app) / "failed"


def is_replay() -> bool:
    return bool(request.environ.get(REPLAY_KEY))


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()[:2000]


def _write(directory: Path, entry: dict[str, Any], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # A name of our own, never from the request; temp file + rename is atomic.
    name = name or f"{secrets.token_hex(8)}.json"
    temporary = directory / f".{name}.tmp"
    temporary.write_text(json.dumps(entry))
    os.replace(temporary, directory / name)
    return directory / name


def keep_failed_request(error: BaseException) -> Path:
    """Keep a callback that failed for a reason other than the database.

    Saved where a replay does not look (spool/failed/), with the error: a bug
    is not fixed by trying again, but the caller's data is not thrown away.
    """
    entry = _entry(error)
    path = _write(failed_dir(current_app), entry)
    log.error("%s failed (%s): kept in %s", request.path, entry["reason"], path)
    return path


def save_request(error: BaseException) -> Path:
    """Write the current (already signature-checked) webhook to the spool."""
    path = _write(spool_dir(current_app), _entry(error))
    log.error("database unavailable: %s kept in the spool as %s", request.path, path)
    return path


def _entry(error: BaseException) -> dict[str, Any]:
    return {
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "form": list(request.form.items(multi=True)),
        "reason": _describe(error),
        "attempts": 0,
    }


@dataclass
class ReplayReport:
    replayed: int = 0
    waiting: int = 0  # the database is still unavailable: tried again next time
    failed: int = 0  # moved to spool/failed/ this time


def replay(app: Flask) -> ReplayReport:
    """Replay every spooled callback in arrival order.

    At the first database error the rest is left for the next replay: the
    database is still down, and trying each entry would only count attempts.
    """
    report = ReplayReport()
    directory = spool_dir(app)
    if not directory.is_dir():
        return report
    files = sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime)
    for index, path in enumerate(files):
        entry = json.loads(path.read_text())
        error = _replay_one(app, entry)
        if error is None:
            path.unlink()
            report.replayed += 1
            continue
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["reason"] = _describe(error)
        if is_database_outage(error) and entry["attempts"] < MAX_ATTEMPTS:
            arrived = path.stat().st_mtime
            _write(directory, entry, path.name)
            os.utime(path, (arrived, arrived))  # it keeps its place in the order
            report.waiting += len(files) - index
            break
        _write(failed_dir(app), entry, path.name)
        path.unlink()
        report.failed += 1
        log.error("spooled %s moved to failed/: %s", entry["path"], entry["reason"])
    return report


def _replay_one(app: Flask, entry: dict[str, Any]) -> BaseException | None:
    url = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
    form = MultiDict(entry["form"])
    with app.test_request_context(
        url, method="POST", data=form, environ_base={REPLAY_KEY: True}
    ):
        endpoint, values = request.url_rule.endpoint, request.view_args
        view = app.view_functions[endpoint]
        # Checked when it arrived; the spool is ours, so skip the signature.
        unsigned = getattr(view, "__wrapped__", view)
        try:
            result = unsigned(**values)
        except Exception as error:
            log.exception("spooled callback still failing")
            db.session.rollback()
            return error
        finally:
            db.session.remove()
    status = (
        result[1] if isinstance(result, tuple) else getattr(result, "status_code", 200)
    )
    if int(status) >= 300:
        return RuntimeError(f"the view answered {status}: {result!r}"[:500])
    return None
