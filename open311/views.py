"""Open311 GeoReport v2 (CONTRACT §9.4), under /open311/v2.

Reads are public, as the spec has them, and say nothing about who filed a
request; filing one needs an API token in `api_key`. Every answer, errors
included, is in the format the address ends with (.json or .xml). The routes
take every method so a wrong one gets the spec's error list, not a page.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import HTTPException

from app.api.auth import token_user
from app.extensions import db
from app.models import Ticket
from app.references import InvalidReference, parse_reference
from open311 import records
from open311.answers import FORMATS, answer, error
from open311.filing import FilingError, file_request, read_filing

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Ids asked for at once in GET requests.<fmt>?service_request_id=a,b
MOST_IDS = 50


def _language(values: dict[str, Any]) -> str | None:
    """The `locale` asked for ("en", "fr_FR"...), if the centre speaks it."""
    asked = values.get("locale")
    if isinstance(asked, str) and asked[:2].lower() in current_app.config["LANGUAGES"]:
        return asked[:2].lower()
    return None


def _answering(
    allowed: tuple[str, ...],
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """An unknown format is 404, another method 405, both as the spec's errors;
    the view runs in the language asked for (French first)."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(fmt: str, **kwargs: Any) -> Response:
            if fmt not in FORMATS:
                return error(fmt, 404, f"unknown format '{fmt[:16]}': use json or xml")
            # HEAD is a GET without the body (Werkzeug drops it).
            if request.method not in allowed and not (
                request.method == "HEAD" and "GET" in allowed
            ):
                response = error(fmt, 405, f"{request.method} is not allowed here")
                response.headers["Allow"] = ", ".join(allowed)
                return response
            lang = _language(request.values) or current_app.config["LANGUAGES"][0]
            with force_locale(lang):
                return view(fmt, lang, **kwargs)

        return wrapper

    return decorator


# By code too: the app's own 500 handler, by code, would come first otherwise.
@bp.errorhandler(500)
@bp.errorhandler(HTTPException)
def refused(failure: HTTPException) -> Response:
    """What Werkzeug refuses in our views (a body over MAX_CONTENT_LENGTH, an
    unexpected fault's 500) is the spec's error list too, never a staff page."""
    fmt = (request.view_args or {}).get("fmt", "xml")
    status = failure.code or 500
    return error(fmt, status, failure.description if status < 500 else "server error")


@bp.route("/services.<fmt>", methods=METHODS)
@_answering(("GET",))
def services(fmt: str, lang: str) -> Response:
    """The categories the centre's lines offer."""
    return answer(fmt, "services", "service", records.service_rows(lang))


def _posted() -> dict[str, Any] | None:
    """The form (the spec's encoding) or a JSON object; None if unreadable."""
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else None
    return request.form.to_dict()


@bp.route("/requests.<fmt>", methods=METHODS)
@_answering(("GET", "POST"))
def requests(fmt: str, lang: str) -> Response:
    """POST files a request; GET reads the requests named in service_request_id."""
    if request.method == "GET":
        return _listed(fmt, lang)
    values = _posted()
    if values is None:
        return error(fmt, 400, "the body is neither a form nor a JSON object")
    key = values.get("api_key")
    user = token_user(key) if isinstance(key, str) else None
    if user is None:
        return error(fmt, 403, "api_key is missing or not valid")
    try:
        filing = read_filing(values, set(records.categories(lang)))
    except FilingError as refused:
        return error(fmt, 400, str(refused))
    language = _language(values)
    ticket = file_request(filing, user, language)
    with force_locale(language or lang):
        notice = records.service_notice(ticket)
    row = {
        "service_request_id": ticket.display_reference,
        "service_notice": notice,
        "account_id": None,
    }
    return answer(fmt, "service_requests", "request", [row])


def _ticket(reference: str) -> Ticket | None:
    try:
        compact = parse_reference(reference)
    except InvalidReference:
        return None
    return db.session.scalar(select(Ticket).filter_by(reference=compact))


def _tickets(references: list[str]) -> list[Ticket]:
    """The requests asked for, in the order asked, each once, the unknown and
    malformed left out: one query with their services (agency_responsible),
    not two per id."""
    compact = []
    for reference in references:
        try:
            compact.append(parse_reference(reference))
        except InvalidReference:
            continue
    found = {
        ticket.reference: ticket
        for ticket in db.session.scalars(
            select(Ticket)
            .where(Ticket.reference.in_(compact))
            .options(joinedload(Ticket.service))
        )
    }
    return [
        found[reference] for reference in dict.fromkeys(compact) if reference in found
    ]


def _listed(fmt: str, lang: str) -> Response:
    given = request.args.get("service_request_id", "").split(",")
    asked = [part.strip() for part in given if part.strip()]
    if not asked:
        return error(fmt, 400, "service_request_id is required (comma-separated)")
    if len(asked) > MOST_IDS:
        return error(fmt, 400, f"at most {MOST_IDS} service_request_id at once")
    rows = [records.request_row(ticket, lang) for ticket in _tickets(asked)]
    return answer(fmt, "service_requests", "request", rows)


@bp.route("/requests/<reference>.<fmt>", methods=METHODS)
@_answering(("GET",))
def request_status(fmt: str, lang: str, reference: str) -> Response:
    """One request's status and dates, by its reference."""
    ticket = _ticket(reference)
    if ticket is None:
        return error(fmt, 404, f"no request {reference[:16]}")
    row = records.request_row(ticket, lang)
    return answer(fmt, "service_requests", "request", [row])


@bp.route("/<path:rest>", methods=METHODS)
def unknown(rest: str) -> Response:
    """Any other address under /open311/v2: the spec's 404, in its format."""
    fmt = rest.rsplit(".", 1)[-1] if "." in rest else "xml"
    return error(fmt, 404, "no such Open311 resource")
