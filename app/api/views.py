"""JSON API: tickets, caller history (CONTRACT §6)."""

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import HTTPException

from app.api import openapi
from app.api.auth import api_login_required
from app.api.errors import (
    ApiError,
    handle_api_error,
    handle_http_error,
    handle_unexpected,
)
from app.api.json_body import UnsafeJSON
from app.extensions import csrf, db
from app.lines import current_lines
from app.menus import category_choices
from app.models import (
    Message,
    Recording,
    Role,
    Service,
    Ticket,
    TicketStatus,
    User,
)
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.serializers import empty_history, ticket_detail_json, ticket_json
from app.services.callers import caller_for, history_for
from app.services.followups import commit_and_dispatch
from app.services.ticket_list import InvalidCursor, by_phone, newest_first
from app.services.tickets import (
    TicketChange,
    TicketChangeError,
    change_ticket,
    open_ticket,
)
from app.services.visibility import visible_tickets
from app.sla import PRIORITIES

bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer-token clients carry no CSRF token; session users are checked in api.auth.
csrf.exempt(bp)
bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(HTTPException, handle_http_error)
bp.register_error_handler(Exception, handle_unexpected)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def routing_error(error: HTTPException) -> Response | HTTPException:
    # Unknown paths and methods fail before any blueprint is chosen: answer JSON
    # under /api/ all the same, and leave the rest of the site alone.
    if request.path.startswith("/api/"):
        return handle_http_error(error)
    return error


MAX_DESCRIPTION = 5000
MAX_NOTE = 2000
VISIBILITIES = ("internal", "public")
API_CHANNELS = ("web", "counter", "email", "phone")


def _phone(value: Any, field: str = "phone") -> str:
    phone = to_e164(
        value if isinstance(value, str) else None, current_app.config["DEFAULT_REGION"]
    )
    if phone is None:
        raise ApiError(400, "invalid_phone", f"'{field}' is not a phone number")
    return phone


def _known_categories() -> set[str]:
    return {key for key, _ in category_choices("fr")}


def _category(value: Any) -> str:
    if not isinstance(value, str) or value not in _known_categories():
        known = ", ".join(sorted(_known_categories()))
        raise ApiError(400, "invalid_category", f"'category' must be one of: {known}")
    return value


def _ticket_or_404(reference: str) -> Ticket:
    try:
        compact = parse_reference(reference)
    except InvalidReference as error:
        raise ApiError(400, "invalid_reference", str(error)) from None
    # Another service's ticket is answered as missing: its existence is not shared.
    ticket = db.session.scalar(
        select(Ticket).filter_by(reference=compact).where(visible_tickets(g.api_user))
    )
    if ticket is None:
        raise ApiError(404, "not_found", f"no ticket {reference}")
    return ticket


def _json_body(allowed: set[str]) -> dict[str, Any]:
    try:
        body = current_app.json.loads(request.get_data()) if request.is_json else None
    except UnsafeJSON as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(
            400, "unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}"
        )
    return body


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400, "invalid_parameter", f"'{name}' must be a number from {low} to {high}"
        )
    return int(raw)


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document())


@bp.get("/tickets")
@api_login_required()
def list_tickets() -> Response:
    query = select(Ticket).where(visible_tickets(g.api_user))
    if request.args.get("phone"):
        query = query.where(by_phone(_phone(request.args["phone"])))
    status = request.args.get("status")
    if status:
        if status not in TicketStatus.__members__.values():
            raise ApiError(400, "invalid_status", f"unknown status '{status[:40]}'")
        query = query.where(Ticket.status == status)
    if request.args.get("line"):
        query = query.where(Ticket.line == _phone(request.args["line"], "line"))
    if request.args.get("category"):
        query = query.where(Ticket.category == request.args["category"][:64])
    limit = _int_arg("limit", current_app.config["API_PAGE_LIMIT"], 1, 500)
    offset = _int_arg("offset", 0, 0, 10**7)
    cursor = request.args.get("cursor")
    if cursor and offset:
        raise ApiError(400, "invalid_parameter", "give 'cursor' or 'offset', not both")
    try:
        page = newest_first(query, limit, cursor, offset)
    except InvalidCursor:
        raise ApiError(
            400, "invalid_cursor", "'cursor' must be the 'next' of an earlier page"
        ) from None
    return jsonify(
        {"tickets": [ticket_json(ticket) for ticket in page.tickets], "next": page.next}
    )


def _detail(ticket: Ticket) -> dict[str, Any]:
    recordings = db.session.scalars(
        select(Recording)
        .filter_by(ticket_id=ticket.id)
        .options(joinedload(Recording.call))  # recording_json names its call
        .order_by(Recording.id)
    )
    messages = db.session.scalars(
        # Staff notices carry focal points' links: not the citizen's messages.
        select(Message)
        .filter_by(ticket_id=ticket.id, audience="citizen")
        .order_by(Message.id)
    )
    return ticket_detail_json(ticket, list(recordings), list(messages))


@bp.get("/tickets/<reference>")
@api_login_required()
def get_ticket(reference: str) -> Response:
    return jsonify(_detail(_ticket_or_404(reference)))


@bp.post("/tickets")
@api_login_required()
def create_ticket() -> tuple[Response, int]:
    body = _json_body(
        {"phone", "channel", "category", "description", "line", "language"}
    )
    phone = _phone(body.get("phone"))
    channel = body.get("channel")
    if channel not in API_CHANNELS:
        raise ApiError(
            400,
            "invalid_channel",
            f"'channel' must be one of: {', '.join(API_CHANNELS)}",
        )
    category = _category(body.get("category"))
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION
    ):
        raise ApiError(
            400,
            "invalid_description",
            f"'description' must be text of at most {MAX_DESCRIPTION} characters",
        )
    lines = current_lines()
    line = lines.lines[0]
    if body.get("line") is not None:
        number = _phone(body.get("line"), "line")
        if number not in lines.by_number:
            raise ApiError(
                400, "invalid_line", f"{number} is not one of the centre's lines"
            )
        line = lines.by_number[number]
    language = body.get("language", line.language)
    if language not in ("fr", "en"):
        raise ApiError(400, "invalid_language", "'language' must be fr or en")
    ticket = open_ticket(
        caller_for(phone),
        channel,
        category,
        description.strip() if description else None,
        line.number,
        language,
        g.api_user.email,
    )
    commit_and_dispatch()
    return jsonify(_detail(ticket)), 201


def _service(value: Any) -> Service | None:
    if value is None:
        return None
    service = (
        db.session.scalar(select(Service).filter_by(key=value))
        if isinstance(value, str)
        else None
    )
    if service is None:
        raise ApiError(
            400, "invalid_service", "'service' must be a service key or null"
        )
    return service


def _assignee(value: Any, actor: User) -> User | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(
            400, "invalid_assignee", "'assignee' must be a staff e-mail or null"
        )
    user = db.session.scalar(select(User).filter_by(email=value.strip().lower()))
    if user is None or not user.active:
        raise ApiError(
            400, "invalid_assignee", f"no active staff member '{value[:254]}'"
        )
    if actor.role == Role.AGENT and user.id != actor.id:
        raise ApiError(403, "forbidden", "agents may only assign tickets to themselves")
    return user


@bp.patch("/tickets/<reference>")
@api_login_required()
def update_ticket(reference: str) -> Response:
    ticket = _ticket_or_404(reference)
    body = _json_body(
        {
            "status",
            "assignee",
            "category",
            "note",
            "service",
            "resolution",
            "priority",
            "hold",
        }
    )
    if not body:
        raise ApiError(
            400,
            "nothing_to_change",
            "send status, priority, hold, assignee, category, service, resolution"
            " or note",
        )
    change = TicketChange()
    if "status" in body:
        if body["status"] not in TicketStatus.__members__.values():
            raise ApiError(400, "invalid_status", "unknown status")
        change.status = body["status"]
    if "assignee" in body:
        change.assignee = _assignee(body["assignee"], g.api_user)
        change.unassign = body["assignee"] is None
    if "category" in body:
        change.category = _category(body["category"])
    if "service" in body:
        change.service = _service(body["service"])
        change.unset_service = body["service"] is None
    if "note" in body:
        change.note, change.note_public = _note(body["note"])
    if "priority" in body:
        if body["priority"] not in PRIORITIES:
            raise ApiError(
                400, "invalid_priority", f"priority is one of {', '.join(PRIORITIES)}"
            )
        change.priority = body["priority"]
    if "hold" in body:
        if not isinstance(body["hold"], bool):
            raise ApiError(400, "invalid_hold", "'hold' must be true or false")
        change.hold = body["hold"]
    if "resolution" in body:
        change.resolution = _text(
            body["resolution"], "resolution", "invalid_resolution"
        )
    try:
        change_ticket(ticket, change, g.api_user)
    except TicketChangeError as error:
        raise ApiError(error.status, error.code, str(error)) from None
    commit_and_dispatch()
    return jsonify(_detail(ticket))


def _note(value: Any) -> tuple[str, bool]:
    """A note as (text, public): a plain string, or {"text", "visibility"}."""
    if isinstance(value, dict):
        visibility = value.get("visibility", "internal")
        if set(value) - {"text", "visibility"} or visibility not in VISIBILITIES:
            raise ApiError(
                400,
                "invalid_note",
                '\'note\' is text, or {"text", "visibility": "internal|public"}',
            )
        return _text(value.get("text"), "note", "invalid_note"), visibility == "public"
    return _text(value, "note", "invalid_note"), False


def _text(value: Any, name: str, code: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NOTE:
        raise ApiError(
            400, code, f"'{name}' must be text of 1 to {MAX_NOTE} characters"
        )
    return value.strip()


@bp.get("/callers/<path:phone>/history")
@api_login_required()
def caller_history(phone: str) -> Response:
    number = _phone(phone)
    # Nobody by that number yet: an empty history is still a screen-pop.
    return jsonify(history_for(number, g.api_user) or empty_history(number))
