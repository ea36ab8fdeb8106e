"""The agent desk: the tickets one may see, a search, requests from other channels."""

import re

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.lines import current_lines
from app.menus import category_choices
from app.models import Ticket
from app.phone import to_e164
from app.references import InvalidReference, parse_reference
from app.services.callers import caller_for
from app.services.followups import commit_and_dispatch
from app.services.ticket_list import by_phone, newest_first
from app.services.tickets import open_ticket
from app.services.visibility import visible_tickets
from app.tickets.forms import NewRequestForm

bp = Blueprint("tickets", __name__)
DESK_ROWS = 100  # the newest; older ones are found by the search


def _search(query, text: str):
    """A reference (with or without the dash) or a phone number, as typed."""
    if re.fullmatch(r"[\d\s\-]{8,9}", text):
        try:
            return query.where(Ticket.reference == parse_reference(text)), True
        except InvalidReference:
            pass
    phone = to_e164(text, current_app.config["DEFAULT_REGION"])
    if phone is None:
        return query, False
    return query.where(by_phone(phone)), True


def _form() -> NewRequestForm:
    lang = str(get_locale() or "fr")[:2]
    return NewRequestForm(current_app.config["DEFAULT_REGION"], category_choices(lang))


def _desk(form: NewRequestForm, text: str = "", mine: bool = False) -> str:
    query = select(Ticket).where(visible_tickets(current_user))
    if text:
        query, understood = _search(query, text)
        if not understood:
            flash(_("Search by reference (1234-5678) or phone number."), "error")
    if mine:
        query = query.where(Ticket.assignee_id == current_user.id)
    page = newest_first(query, DESK_ROWS)
    return render_template(
        "tickets/index.html", tickets=page.tickets, form=form, q=text, mine=mine
    )


@bp.get("/")
@login_required
def index() -> str:
    text = (request.args.get("q") or "").strip()[:64]
    return _desk(_form(), text, mine=request.args.get("mine") == "1")


@bp.post("/tickets")
@login_required
def create() -> tuple[str, int] | Response:
    """A walk-in, an e-mail or the web form, registered at the desk."""
    form = _form()
    if not form.validate_on_submit():
        return _desk(form), 400
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
