"""The work queue (filters, saved views, pages, CSV) and requests from other channels.

The queries and rules are in app.services.work_queue; these views read the
query string, call it and render. An htmx request gets the results alone.
"""

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.labels import centre_zone
from app.lines import current_lines
from app.menus import category_choices
from app.models import Ticket
from app.models.types import utcnow
from app.services import work_queue
from app.services.callers import caller_for
from app.services.followups import commit_and_dispatch
from app.services.tickets import open_ticket
from app.tickets.export import csv_lines
from app.tickets.forms import NewRequestForm

bp = Blueprint("tickets", __name__)

# The words of each filter, for a message naming those not understood.
FILTER_NAMES = {
    "status": _l("status"),
    "priority": _l("priority"),
    "category": _l("category"),
    "service": _l("service"),
    "assignee": _l("person in charge"),
    "line": _l("line"),
    "channel": _l("channel"),
    "created_from": _l("created from"),
    "created_to": _l("created to"),
    "overdue": _l("overdue"),
    "escalated": _l("escalated"),
    "appeals": _l("appeals"),
    "sort": _l("order"),
    "after": _l("page"),
}
SAVED_VIEW_NAMES = {
    "mine": _l("Mine"),
    "unassigned": _l("Unassigned"),
    "overdue": _l("Overdue"),
    "waiting": _l("Waiting for the citizen"),
    "appeals": _l("Appeals"),
}
SORT_NAMES = {
    "newest": _l("Newest first"),
    "oldest": _l("Oldest first"),
    "due": _l("Due soonest"),
    "priority": _l("Priority"),
}


def ticket_url(ticket: Ticket) -> str:
    """The ticket's page: `tickets.show` where it is registered, else its path."""
    if "tickets.show" in current_app.view_functions:
        return url_for("tickets.show", reference=ticket.display_reference)
    return f"/tickets/{ticket.display_reference}"


def view_url(filters: work_queue.Filters, after: str | None = None) -> str:
    """The queue's address for a view, at the page after `after`."""
    cursor = {"after": after} if after else {}
    return url_for("tickets.index", **filters.args(), **cursor)


def _language() -> str:
    return str(get_locale() or "fr")[:2]


def _problems(bad: list[str]) -> list[str]:
    problems = []
    if "q" in bad:
        problems.append(_("Search by reference (1234-5678) or phone number."))
    names = [str(FILTER_NAMES[name]) for name in bad if name in FILTER_NAMES]
    if names:
        problems.append(
            _(
                "Filter not understood (%(names)s): left out of the list.",
                names=", ".join(names),
            )
        )
    return problems


@bp.get("/")
@login_required
def index() -> tuple[str, int, dict[str, str]]:
    choices = work_queue.offered(_language())
    filters, bad = work_queue.parse_filters(request.args, choices)
    now = utcnow()
    cursor = request.args.get("after") or None
    try:
        page = work_queue.queue_page(filters, current_user, cursor, now=now)
    except work_queue.InvalidCursor:
        bad.append("after")
        cursor = None
        page = work_queue.queue_page(filters, current_user, now=now)
    # An htmx request (the filters, a page turned, the refresh) gets the
    # results alone; a history restore needs the whole page.
    partial = bool(
        request.headers.get("HX-Request")
        and not request.headers.get("HX-History-Restore-Request")
    )
    context = {
        "filters": filters,
        "cursor": cursor,
        "page": page,
        "problems": _problems(bad),
        "now": now,
        "partial": partial,
        "choices": choices,
        "due_of": work_queue.due_of,
        "ticket_url": ticket_url,
        "view_url": view_url,
        "sort_names": SORT_NAMES,
        "saved_views": work_queue.SAVED_VIEWS,
        "saved_view_names": SAVED_VIEW_NAMES,
        "counts": page.views,
        "current_view": work_queue.saved_view_named(filters),
    }
    headers = {"Vary": "HX-Request"}
    if partial:
        if request.headers.get("HX-Trigger") != "results":
            # The address the filters or a page link pushes: only the filters
            # chosen, not every empty field of the form. (The refresh every
            # 30 s, triggered by #results itself, pushes nothing.)
            headers["HX-Push-Url"] = view_url(filters, cursor)
        # htmx swaps no 4xx answer: the results say what went wrong instead.
        return render_template("tickets/_results.html", **context), 200, headers
    status = 400 if bad else 200
    return render_template("tickets/index.html", **context), status, headers


@bp.get("/tickets/export.csv")
@login_required
def export() -> Response:
    """The queue's current view as CSV, streamed a keyset page at a time."""
    filters, bad = work_queue.parse_filters(
        request.args, work_queue.offered(_language())
    )
    if bad:
        message = " ".join(_problems(bad))
        return Response(message + "\n", 400, mimetype="text/plain")
    rows = work_queue.all_rows(filters, current_user)
    name = f"tickets-{utcnow().astimezone(centre_zone()):%Y%m%d-%H%M}.csv"
    return Response(
        stream_with_context(csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _form() -> NewRequestForm:
    return NewRequestForm(
        current_app.config["DEFAULT_REGION"], category_choices(_language())
    )


@bp.get("/tickets/new")
@login_required
def new() -> str:
    return render_template("tickets/new.html", form=_form())


# POST /tickets is the form's first address, kept for the scripts that use it.
@bp.post("/tickets")
@bp.post("/tickets/new")
@login_required
def create() -> tuple[str, int] | Response:
    """A walk-in, an e-mail or the web form, registered at the desk."""
    form = _form()
    if not form.validate_on_submit():
        return render_template("tickets/new.html", form=form), 400
    line = current_lines().lines[0]
    ticket = open_ticket(
        caller_for(form.e164),
        form.channel.data,
        form.category.data,
        (form.description.data or "").strip() or None,
        line.number,
        line.language,
        current_user.email,
    )
    reference = ticket.display_reference
    commit_and_dispatch()
    flash(_("Request registered under %(reference)s.", reference=reference), "info")
    return redirect(url_for("tickets.index", q=reference))
