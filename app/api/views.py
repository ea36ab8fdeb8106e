"""JSON API: tickets, caller history (CONTRACT §6)."""

from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    request,
    stream_with_context,
)
from pydantic import TypeAdapter
from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import HTTPException

from app.api import openapi, schemas
from app.api.errors import (
    ApiError,
    handle_api_error,
    handle_http_error,
    handle_unexpected,
)
from app.api.routes import api_route
from app.extensions import csrf, db
from app.labels import centre_zone
from app.lines import current_lines
from app.menus import category_choices
from app.models import (
    Message,
    Recording,
    Role,
    Service,
    Ticket,
    User,
)
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.serializers import empty_history, ticket_detail_json, ticket_json
from app.services.callers import caller_for, history_for
from app.services.followups import commit_and_dispatch
from app.services.ticket_export import (
    XLSX_TYPE,
    created_between,
    csv_lines,
    ticket_rows,
    workbook_chunks,
    write_workbook,
)
from app.services.ticket_list import InvalidCursor, by_phone, newest_first
from app.services.tickets import (
    TicketChange,
    TicketChangeError,
    change_ticket,
    open_ticket,
)
from app.services.visibility import visible_tickets

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


def _known_categories() -> set[str]:
    return {key for key, _ in category_choices("fr")}


def _category(value: str) -> str:
    if value not in _known_categories():
        known = ", ".join(sorted(_known_categories()))
        raise ApiError(400, "invalid_category", f"'category' must be one of: {known}")
    return value


# A caller's number in a path: any format, as schemas.Phone takes it.
PHONE = {"schema": TypeAdapter(schemas.Phone).json_schema()}


def phone_in_path(phone: str) -> str:
    """The E.164 form of a phone number in a URL; 400 invalid_phone otherwise."""
    number = to_e164(phone, current_app.config["DEFAULT_REGION"])
    if number is None:
        raise ApiError(400, "invalid_phone", f"'{phone[:32]}' is not a phone number")
    return number


REFERENCE = {
    "description": "Eight digits with a Luhn check digit, with or without the dash",
    "schema": {
        "type": "string",
        "pattern": r"^[0-9]{4}[- ]?[0-9]{4}$",
        "format": "ticket-reference",
        "examples": ["1234-5674"],
    },
}


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


@bp.get("/openapi.json")
def openapi_document() -> Response:
    choices = {
        "categories": sorted(_known_categories()),
        "lines": [line.number for line in current_lines().lines],
    }
    return jsonify(openapi.document(choices=choices))


@api_route(
    bp,
    "GET",
    "/tickets",
    summary="Tickets, newest first",
    query=schemas.TicketQuery,
    response=schemas.TicketList,
)
def list_tickets(query: schemas.TicketQuery) -> dict[str, Any]:
    found = select(Ticket).where(visible_tickets(g.api_user))
    if query.phone:
        found = found.where(by_phone(query.phone))
    if query.status:
        found = found.where(Ticket.status == query.status)
    if query.line:
        found = found.where(Ticket.line == query.line)
    if query.category:
        found = found.where(Ticket.category == query.category[:64])
    if query.cursor and query.offset:
        raise ApiError(400, "invalid_parameter", "give 'cursor' or 'offset', not both")
    limit = query.limit or current_app.config["API_PAGE_LIMIT"]
    try:
        page = newest_first(found, limit, query.cursor, query.offset)
    except InvalidCursor:
        raise ApiError(
            400, "invalid_cursor", "'cursor' must be the 'next' of an earlier page"
        ) from None
    tickets = [ticket_json(ticket) for ticket in page.tickets]
    return {"tickets": tickets, "next": page.next}


def _export_rows(query: schemas.ExportQuery) -> Iterator[list[str]]:
    zone = centre_zone()
    where = and_(
        visible_tickets(g.api_user), created_between(query.first, query.last, zone)
    )
    if query.status:
        where = and_(where, Ticket.status == query.status)
    return ticket_rows(where, zone)


def _export_name(query: schemas.ExportQuery, suffix: str) -> str:
    return f"tickets-{query.first.isoformat()}-{query.last.isoformat()}.{suffix}"


def _as_file(content: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": content,
        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
    }


# Supervisors' and admins' (CONTRACT §10): the whole centre's tickets.
EXPORTERS = (Role.SUPERVISOR, Role.ADMIN)


@api_route(
    bp,
    "GET",
    "/tickets/export.csv",
    summary="Tickets created over a period, as CSV (UTF-8 with a BOM)",
    query=schemas.ExportQuery,
    roles=EXPORTERS,
    responses={
        200: _as_file(
            {"text/csv": {"schema": {"type": "string"}}}, "One row per ticket"
        )
    },
)
def export_csv(query: schemas.ExportQuery) -> Response:
    # Streamed: each row is made and sent as the client reads, batch by batch.
    lines = csv_lines(_export_rows(query))
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename={_export_name(query, 'csv')}"
        },
    )


@api_route(
    bp,
    "GET",
    "/tickets/export.xlsx",
    summary="Tickets created over a period, as a workbook",
    query=schemas.ExportQuery,
    roles=EXPORTERS,
    responses={
        200: _as_file(
            {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "One row per ticket, under the header row",
        )
    },
)
def export_xlsx(query: schemas.ExportQuery) -> Response:
    path = write_workbook(_export_rows(query))
    return Response(
        workbook_chunks(path),
        mimetype=XLSX_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename={_export_name(query, 'xlsx')}"
        },
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


@api_route(
    bp,
    "GET",
    "/tickets/<reference>",
    summary="One ticket with its events, calls, recordings and messages",
    response=schemas.TicketDetail,
    errors=[404],
    parameters={"reference": REFERENCE},
)
def get_ticket(reference: str) -> dict[str, Any]:
    return _detail(_ticket_or_404(reference))


@api_route(
    bp,
    "POST",
    "/tickets",
    summary="A ticket from another channel (web, counter, e-mail, phone)",
    status=201,
    body=schemas.NewTicket,
    response=schemas.TicketDetail,
)
def create_ticket(body: schemas.NewTicket) -> dict[str, Any]:
    category = _category(body.category)
    lines = current_lines()
    line = lines.lines[0]
    if body.line is not None:
        if body.line not in lines.by_number:
            raise ApiError(
                400, "invalid_line", f"{body.line} is not one of the centre's lines"
            )
        line = lines.by_number[body.line]
    ticket = open_ticket(
        caller_for(body.phone),
        body.channel,
        category,
        body.description.strip() if body.description else None,
        line.number,
        body.language or line.language,
        g.api_user.email,
    )
    commit_and_dispatch()
    return _detail(ticket)


def _service(key: str | None) -> Service | None:
    if key is None:
        return None
    service = db.session.scalar(select(Service).filter_by(key=key))
    if service is None:
        raise ApiError(
            400, "invalid_service", "'service' must be a service key or null"
        )
    return service


def _assignee(email: str | None) -> User | None:
    if email is None:
        return None
    user = db.session.scalar(select(User).filter_by(email=email.strip().lower()))
    if user is None or not user.active:
        raise ApiError(
            400, "invalid_assignee", f"no active staff member '{email[:254]}'"
        )
    return user  # whom an agent may name is change_ticket's rule


@api_route(
    bp,
    "PATCH",
    "/tickets/<reference>",
    summary="Change status, priority, assignee, service or category; resolve; note",
    body=schemas.TicketChange,
    response=schemas.TicketDetail,
    errors=[404, 409],
    parameters={"reference": REFERENCE},
)
def update_ticket(reference: str, body: schemas.TicketChange) -> dict[str, Any]:
    ticket = _ticket_or_404(reference)
    given = body.model_fields_set
    change = TicketChange()
    if "status" in given:
        change.status = body.status
    if "assignee" in given:
        change.assignee = _assignee(body.assignee)
        change.unassign = body.assignee is None
    if "category" in given:
        change.category = _category(body.category)
    if "service" in given:
        change.service = _service(body.service)
        change.unset_service = body.service is None
    if isinstance(body.note, schemas.Note):
        change.note = body.note.text
        change.note_public = body.note.visibility == "public"
    elif "note" in given:
        change.note = body.note
    if "priority" in given:
        change.priority = body.priority
    if "hold" in given:
        change.hold = body.hold
    if "resolution" in given:
        change.resolution = body.resolution
    try:
        change_ticket(ticket, change, g.api_user)
    except TicketChangeError as error:
        raise ApiError(error.status, error.code, str(error)) from None
    commit_and_dispatch()
    return _detail(ticket)


@api_route(
    bp,
    "GET",
    "/callers/<path:phone>/history",
    summary="The screen-pop: everything the centre knows about a caller",
    response=schemas.History,
    parameters={"phone": PHONE},
)
def caller_history(phone: str) -> dict[str, Any]:
    number = phone_in_path(phone)
    # Nobody by that number yet: an empty history is still a screen-pop.
    return history_for(number, g.api_user) or empty_history(number)
