"""Recordings: Twilio's status callback, and the audio for those who may hear it."""

import logging

import click
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    render_template,
    request,
    send_file,
    send_from_directory,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api.auth import api_login_required
from app.api.errors import (
    ApiError,
    handle_api_error,
    handle_http_error,
    handle_unexpected,
)
from app.api.routes import api_route
from app.dbguard import is_database_outage
from app.errors import error_page
from app.extensions import db
from app.lines import current_lines
from app.menus import menu_for
from app.models import Call, Recording, Ticket
from app.services.calls import call_for
from app.services.followups import commit_and_dispatch
from app.services.recordings import (
    attach,
    mark_for_fetch_at_once,
    note_absent,
    recording_for,
)
from app.services.tickets import ticket_for_call
from app.services.visibility import may_listen
from app.spool import keep_failed_request, save_request
from app.webhooks import form_text, twilio_signed
from recordings import grants, pages
from recordings.access import audit_listening, is_first_range
from recordings.jobs import (
    requeue_stalled_fetches,
    schedule_fetch,
    schedule_find_caller,
)
from recordings.retention import expired, kept_for_hold, purge
from recordings.storage import StorageError, storage_for

log = logging.getLogger(__name__)

bp = Blueprint("recordings", __name__, template_folder="templates")
# `flask cron` also retries fetches whose enqueue was lost (Redis down).
bp.record_once(
    lambda state: state.app.extensions.setdefault("periodic_jobs", []).append(
        (requeue_stalled_fetches, "default")
    )
)

# The personal-data service (app.services.privacy) exports and erases audio
# through the same storage, without the core importing this feature.
bp.record_once(
    lambda state: state.app.extensions.setdefault("recordings.storage_for", storage_for)
)

PURPOSES = ("complaint", "callback")


@bp.post("/voice/recording")
@twilio_signed
def callback() -> tuple[str, int]:
    if not form_text("RecordingSid", 64) or not form_text("CallSid", 64):
        return "RecordingSid and CallSid are required", 400
    # Most callbacks only say the voicemail is ready: one statement then.
    recording_id = mark_for_fetch_at_once(request.form)
    if recording_id is not None:
        schedule_fetch(recording_id)
        return "", 204
    # Recording callbacks carry no To: the line is the call's, if we know it.
    known = db.session.scalar(select(Call).filter_by(call_sid=form_text("CallSid", 64)))
    line = current_lines().for_number(known.line if known else None)
    call = known or call_for(
        request.form, line.number, current_app.config["DEFAULT_REGION"]
    )
    purpose = request.args.get("purpose")
    recording = recording_for(
        request.form, call, "voicemail" if purpose in PURPOSES else "call"
    )
    # No media URL (none sent, or not on Twilio's host): nothing to fetch.
    fetch = (
        recording.status == "completed"
        and recording.media_status is None
        and recording.media_url is not None
    )
    if fetch:
        recording.media_status = "pending"  # a repeated callback fetches nothing more
    # The voicemail action usually attached it already: no ticket to load then.
    ticket = None
    if recording.ticket_id is None or recording.status == "absent":
        ticket = db.session.scalar(select(Ticket).filter_by(origin_call_id=call.id))
    if ticket is None and recording.ticket_id is None and purpose in PURPOSES:
        # The voicemail action never came (hang-up, fault): file the ticket here.
        menu = menu_for(line)
        category = request.args.get("category")
        keys = {key for key, _ in menu.categories_for(line)}
        lang = menu.language(request.args.get("lang"), line.language)
        ticket, _ = ticket_for_call(
            call, purpose, category if category in keys else None, lang
        )
    if ticket is not None:
        attach(recording, ticket)
        if recording.status == "absent":
            note_absent(recording, ticket)
    recording_id = recording.id
    # No webhook brought the caller's number yet (this callback has none):
    # Twilio is asked in a job, which then texts the caller their reference.
    unknown_caller = call.caller_id is None and ticket is not None
    call_id = call.id
    commit_and_dispatch()
    if fetch:
        schedule_fetch(recording_id)
    if unknown_caller:
        schedule_find_caller(call_id)
    return "", 204


@bp.cli.command("purge")
@click.option(
    "--dry-run", is_flag=True, help="Say what would be removed; remove nothing."
)
def purge_command(dry_run: bool) -> None:
    """Delete recording media past its retention time (metadata is kept)."""
    app = current_app._get_current_object()
    items = expired(app)
    for item in items:
        click.echo(
            f"{'would remove' if dry_run else 'removed'} {item.recording.recording_sid}"
            f" (line {item.line or '?'}, {item.age_days} days, {item.size} bytes)"
        )
    if not dry_run:
        purge(app, items)
    total = sum(item.size for item in items)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(items)} recording(s), {total} bytes")
    held = kept_for_hold(app)
    if held:
        click.echo(f"kept {held} recording(s) past their time: tickets on legal hold")
    if not dry_run:
        # Half-downloads of killed workers, well past any fetch still running.
        swept = storage_for(app).sweep_partials(older_than_seconds=24 * 3600)
        if swept:
            click.echo(f"removed {swept} unfinished download(s)")


@bp.cli.command("fetch")
def fetch_command() -> None:
    """Try again to fetch recordings that are pending or failed."""
    waiting = db.session.scalars(
        select(Recording.id).where(
            Recording.media_status.in_(("pending", "fetching", "failed"))
        )
    ).all()
    for recording_id in waiting:
        db.session.get(Recording, recording_id).media_status = "pending"
    db.session.commit()
    handed = sum(1 for recording_id in waiting if schedule_fetch(recording_id))
    click.echo(f"handed {handed} of {len(waiting)} recording(s) to the fetch job")


MAX_ID = 2**31 - 1  # PostgreSQL's integer
AUDIO = {
    "content": {
        media: {"schema": {"type": "string", "format": "binary"}}
        for media in ("audio/mpeg", "audio/wav")
    },
    "headers": {
        "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
        "ETag": {"schema": {"type": "string"}},
    },
}


# The credential is checked in _check_playback, not by api_route: a seek may
# reuse the grant its playback's start left (login=False; 401/403 still apply).
@api_route(
    bp,
    "GET",
    # Bounded as the column is: a larger id is no route (404), not an overflow.
    f"/api/recordings/<int(min=1, max={MAX_ID}):recording_id>/audio",
    summary="A recording's audio, with Range support so a player can seek",
    login=False,
    errors=[401, 403, 404, 410, 416],
    parameters={
        "recording_id": {
            "description": "a recording's `id`",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
    },
    headers={
        "Range": {
            "description": "bytes=START-[END] or bytes=-LAST: a part of the audio "
            "(206), or 416 if outside it; a malformed Range is ignored (RFC 9110)",
            "schema": {
                "type": "string",
                "format": "byte-range",
                "examples": ["bytes=0-", "bytes=100-199"],
            },
        }
    },
    responses={
        200: {"description": "The whole audio", **AUDIO},
        206: {"description": "The part of the audio that Range asked for", **AUDIO},
        304: {"description": "Not modified since the ETag given in If-None-Match"},
    },
)
def audio(recording_id: int) -> Response:
    """The stored audio, with Range support so the player can seek."""
    # A playback's start is always checked in full; a seek may reuse the grant
    # its start left. Whatever the range, a request checked in full is audited.
    fresh = is_first_range(request.headers.get("Range"))
    grant = None if fresh else grants.find(grants.credential_key(), recording_id)
    if grant is None:
        grant = _check_playback(recording_id)
    response = send_file(
        grant.path,
        mimetype=grant.mimetype,
        conditional=True,
        etag=grant.etag or True,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@api_login_required()
def _check_playback(recording_id: int) -> grants.Grant:
    """The full check: credential, right to listen, stored file; the history."""
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        raise ApiError(404, "not_found", f"no recording {recording_id}")
    user = g.api_user
    if not may_listen(user, recording):
        raise ApiError(403, "forbidden", "you may not listen to this recording")
    if recording.media_status == "purged":
        raise ApiError(
            410, "purged", "this recording was deleted after its retention time"
        )
    if recording.media_status == "erased":
        raise ApiError(
            410, "erased", "this recording was deleted with the caller's personal data"
        )
    if recording.media_status != "stored" or not recording.storage_key:
        raise ApiError(404, "not_stored", "the audio is not stored (yet)")
    try:
        path = storage_for(current_app).local_path(recording.storage_key)
    except StorageError:
        raise ApiError(404, "not_stored", "the stored audio is missing") from None
    if path is None or not path.is_file():
        raise ApiError(404, "not_stored", "the stored audio is missing")
    audit_listening(recording, user)
    mimetype = "audio/mpeg" if recording.media_format == "mp3" else "audio/wav"
    grants.give(grants.credential_key(), recording.id, path, mimetype, recording.sha256)
    return grants.Grant(path, mimetype, recording.sha256, 0.0)


@bp.errorhandler(Exception)
def errors(error: Exception) -> Response | HTTPException | tuple[str, int]:
    """The callback keeps what failed for later; the API answers JSON errors."""
    if isinstance(error, ApiError):
        return handle_api_error(error)
    if isinstance(error, HTTPException):
        if request.path.startswith("/api/"):
            return handle_http_error(error)
        return error if request.endpoint == "recordings.callback" else error_page(error)
    if request.endpoint == "recordings.callback":
        log.exception("recording callback failed")
    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback failed too")
    if request.endpoint == "recordings.callback":
        # Twilio never retries a recording callback: keep it on disk, for
        # `spool replay` if the database was away, else in spool/failed/.
        if not is_database_outage(error):
            keep_failed_request(error)
            return "recording callback failed; kept for a person to look at", 500
        save_request(error)
        return "", 204
    if request.path.startswith("/api/"):
        return handle_unexpected(error)
    log.exception("recordings page %s failed", request.path)
    return error_page(InternalServerError())  # the pages' own error page


# --- Supervisor pages: the recordings list and the player ---------------------------
# Server-rendered, behind the staff login; queries and filters are in pages.py.


@bp.get("/recordings")
@login_required
def index() -> str:
    if not current_user.is_supervisor:
        abort(403)
    offered = pages.choices(get_locale().language)
    filters, bad = pages.parse_filters(request.args, offered)
    if bad:
        flash(
            _(
                "Filter not understood (%(names)s): showing all recordings.",
                names=", ".join(str(name) for name in bad),
            ),
            "error",
        )
    page = pages.recordings_page(filters, request.args.get("page", 1, type=int))
    return render_template(
        "recordings/index.html", page=page, offered=offered, pages=pages
    )


@bp.get("/recordings/<int:recording_id>")
@login_required
def player(recording_id: int) -> str:
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        abort(404)
    if not may_listen(current_user, recording):
        abort(403)
    context = pages.player_context(recording, get_locale().language)
    return render_template("recordings/player.html", pages=pages, **context)


@bp.get("/recordings/static/vendor/wavesurfer.js")
def wavesurfer() -> Response:
    """wavesurfer.js as npm installed it (package-lock.json pins it), never a CDN."""
    return send_from_directory(
        pages.WAVESURFER.parent, pages.WAVESURFER.name, mimetype="text/javascript"
    )
