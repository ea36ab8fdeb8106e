"""The JSON twins of the public pages (CONTRACT §9.1), for integrators:
POST /api/public/requests and GET /api/public/status. No token and no CSRF
(nothing here acts on a session); the same budget per address as the pages,
and the API's JSON errors."""

from typing import Any

from flask import Blueprint, Response, current_app
from flask_limiter import RequestLimit
from werkzeug.exceptions import HTTPException

from app.api.errors import (
    ApiError,
    error_response,
    handle_api_error,
    handle_http_error,
    handle_unexpected,
)
from app.api.routes import api_route
from app.extensions import csrf
from app.menus import category_choices
from app.services.followups import commit_and_dispatch
from portal import schemas
from portal.filing import WebRequest, file_request
from portal.limits import public_limit, retry_after
from portal.lookup import filed_ticket

bp = Blueprint("public_api", __name__, url_prefix="/api/public")
csrf.exempt(bp)

# The same words for an unknown reference and a wrong contact: no enumeration.
NOT_FOUND = "no request with this reference and this contact"


def _http_error(error: HTTPException) -> Response:
    # A 429 carries the answer _too_many made (with its Retry-After).
    if error.response is not None:
        return error.response
    return handle_http_error(error)


bp.register_error_handler(ApiError, handle_api_error)
bp.register_error_handler(HTTPException, _http_error)
bp.register_error_handler(Exception, handle_unexpected)


def _too_many(limit: RequestLimit) -> Response:
    seconds = retry_after(limit)
    response = error_response(
        429,
        "too_many_requests",
        f"too many requests from this address: try again in {seconds} seconds",
    )
    response.headers["Retry-After"] = str(seconds)
    return response


# On the blueprint, so the count is taken before the body is read: a refused
# body counts like any other (a limit on the view would come after api_route's
# validation).
public_limit(on_breach=_too_many)(bp)


def _category(key: str) -> str:
    known = {key for key, _ in category_choices("fr")}
    if key not in known:
        choices = ", ".join(sorted(known))
        raise ApiError(400, "invalid_category", f"'category' must be one of: {choices}")
    return key


@api_route(
    bp,
    "POST",
    "/requests",
    summary="File a request as a citizen (channel web); no token",
    status=201,
    body=schemas.PublicRequest,
    response=schemas.PublicReference,
    errors=[429],
    login=False,
)
def create_request(body: schemas.PublicRequest) -> dict[str, Any]:
    ticket = file_request(
        WebRequest(
            category=_category(body.category),
            description=body.description,
            phone=body.phone,
            email=body.email,
            name=body.name,
            language=current_app.config["BABEL_DEFAULT_LOCALE"],
        )
    )
    reference = ticket.display_reference
    commit_and_dispatch()
    return {"reference": reference}


@api_route(
    bp,
    "GET",
    "/status",
    summary="A request's status, to the phone or e-mail that filed it; no token",
    query=schemas.StatusQuery,
    response=schemas.PublicStatus,
    errors=[404, 429],
    login=False,
)
def request_status(query: schemas.StatusQuery) -> dict[str, Any]:
    ticket = filed_ticket(
        query.reference, query.contact, current_app.config["DEFAULT_REGION"]
    )
    if ticket is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    return {
        "reference": ticket.display_reference,
        "status": ticket.status,
        "updated_at": ticket.updated_at,
        "resolve_due": ticket.resolve_due,
    }
