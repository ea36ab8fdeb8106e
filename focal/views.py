"""GET /f/<token>: a focal point's one ticket; POSTs beside it for what they may
do with it. No login: the link is the key, and it opens nothing else."""

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.labels import centre_zone, label
from app.services.focal_actions import ACTIONS, act
from app.services.focal_points import FocalAccess, LinkState, check
from app.services.followups import commit_and_dispatch
from app.services.tickets import TicketChangeError
from focal import page
from focal.forms import TextForm

bp = Blueprint("focal", __name__, template_folder="templates", url_prefix="/f")

# What the page says once an action is done (send_back has a page of its own).
DONE = {
    "note": _l("Your note was added."),
    "resolve": _l("Your answer was recorded; the citizen receives it."),
    "ask": _l("Your question was sent to the citizen; the request waits for them."),
}


@bp.after_request
def _private(response: Response) -> Response:
    # The token is in the URL: never pass it on to another site, never keep
    # the page (a shared phone's back button, a proxy's cache).
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _open(token: str) -> FocalAccess | tuple[str, int]:
    """The link's access, or the page of a link that no longer works: the same
    404 for unknown, revoked, removed and moved, 410 once the ticket closed."""
    state, access = check(token)
    if access is None:
        status = 410 if state is LinkState.CLOSED else 404
        return render_template("focal/gone.html"), status
    return access


def _page(access: FocalAccess, forms: dict[str, TextForm]) -> str:
    ticket = access.ticket
    zone = centre_zone()
    return render_template(
        "focal/ticket.html",
        ticket=ticket,
        focal_point=access.focal_point,
        status=label(ticket.status, "status"),
        category=label(ticket.category, "category") if ticket.category else None,
        phone=page.masked(ticket.phone),
        take_charge_due=page.when(ticket.take_charge_due),
        resolve_due=page.when(ticket.resolve_due),
        zone=zone.key,
        history=page.history(ticket),
        forms=forms,
    )


def _forms() -> dict[str, TextForm]:
    return {action: TextForm(prefix=action, formdata=None) for action in ACTIONS}


@bp.get("/<token>")
def show(token: str) -> str | tuple[str, int]:
    access = _open(token)
    if not isinstance(access, FocalAccess):
        return access
    html = _page(access, _forms())
    db.session.commit()  # last_used_at
    return html


@bp.post("/<token>/<any(note, resolve, ask, send_back):action>")
def do(token: str, action: str) -> Response | str | tuple[str, int]:
    access = _open(token)
    if not isinstance(access, FocalAccess):
        return access
    form = TextForm(prefix=action)
    if not form.validate_on_submit():
        forms = _forms() | {action: form}
        return _page(access, forms), 400
    try:
        act(access, action, form.text.data.strip())
    except TicketChangeError as error:
        db.session.rollback()
        flash(_("This cannot be done now: %(reason)s", reason=str(error)), "error")
        access = _open(token)
        if not isinstance(access, FocalAccess):
            return access
        return _page(access, _forms() | {action: form}), error.status
    commit_and_dispatch()
    if action == "send_back":
        # The link died with it (the ticket left the service): say so kindly.
        return render_template("focal/sent_back.html")
    flash(str(DONE[action]), "info")
    return redirect(url_for("focal.show", token=token))
