"""The pages' error pages: styled, in the user's language, with a way back.

The JSON API and Twilio's webhooks keep their own answers (JSON errors, TwiML,
bare statuses): only a page a person reads gets one of these.
"""

import logging

from flask import Flask, g, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from app.api.errors import handle_http_error
from app.extensions import login_manager
from app.webhooks import WEBHOOK_PREFIXES

log = logging.getLogger(__name__)

# What a person reads for each status: a title and what to do next.
MESSAGES = {
    400: (
        _l("The request could not be understood"),
        _l("Something in what was sent is not right. Go back and try again."),
    ),
    403: (
        _l("You may not open this page"),
        _l("Your role does not give access to it. Ask a supervisor if you need it."),
    ),
    404: (
        _l("Page not found"),
        _l("The address may be mistyped, or what it showed no longer exists."),
    ),
    405: (
        _l("This action is not possible here"),
        _l("The page was reached in a way it does not take. Go back and use its form."),
    ),
    410: (
        _l("No longer available"),
        _l(
            "What this address showed was deleted or is missing from the storage. "
            "Go back to the request; if it matters, tell a supervisor."
        ),
    ),
    429: (
        _l("Too many attempts"),
        _l("Wait a minute before trying again."),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l(
            "The error has been logged. Try again in a moment; if it lasts, "
            "tell a supervisor."
        ),
    ),
}


def is_page_request() -> bool:
    """Whether a person's page asked: not the API (JSON) nor a Twilio webhook."""
    return not request.path.startswith(("/api/", *WEBHOOK_PREFIXES))


def error_page(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    if status not in MESSAGES:
        status = 500 if status >= 500 else 400
    if status == 500:
        # The fault may be the database: the page must not ask it who is signed
        # in (the user loader, or a user object the rollback expired). It shows
        # as to a visitor, which needs no query at all.
        g._login_user = login_manager.anonymous_user()
    title, advice = MESSAGES[status]
    # What our own code said when it refused (abort(400, description=...)):
    # precise, if in English; Werkzeug's stock sentences and any 5xx detail
    # are left out.
    detail = error.description
    if status >= 500 or detail == type(error).description:
        detail = None
    page = render_template(
        "errors/page.html", status=status, title=title, advice=advice, detail=detail
    )
    return page, error.code or status


def _handle(error: HTTPException):  # type: ignore[no-untyped-def]
    if error.response is not None:
        # The raiser made its own answer (the sign-in throttle's page): kept.
        return error.response
    if request.path.startswith("/api/"):
        return handle_http_error(error)  # what the API's own routing_error answers
    if not is_page_request():
        return error  # Twilio's webhooks: the bare status, as before
    return error_page(error)


def init_app(app: Flask) -> None:
    """After the blueprints: the API's app-wide 404 and 405 handler is replaced
    (a code takes one handler), and answers the same for /api/ through ours.

    An unexpected exception reaches the 500 handler as an InternalServerError
    (Flask has logged it by then); blueprints with handlers of their own (the
    API, the webhooks) answer theirs first.
    """
    app.register_error_handler(HTTPException, _handle)
    for code in (404, 405, 500):
        app.register_error_handler(code, _handle)
