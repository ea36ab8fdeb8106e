"""GET /tickets/<reference>: one ticket, its timeline and what staff may do
with it; POSTs beside it for each action, the preview of the citizen's text,
and the files that came with the request.

Every form works without JavaScript (POST, redirect, GET); htmx sends the same
forms and gets back the ticket's part of the page alone (`HX-Request`).
"""

import logging

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import Attachment, Ticket
from app.references import InvalidReference, parse_reference
from app.services.attachments import (
    audit_download,
    content_disposition,
    served_type,
    stored_file,
)
from app.services.followups import (
    NOTE_IN_TEXT,
    can_text,
    citizen_email,
    citizen_text,
    commit_and_dispatch,
    email_address,
)
from app.services.tickets import TicketChangeError, change_ticket
from app.services.visibility import visible_tickets
from app.sms_text import segments
from app.tickets import actions, attachments, summary
from app.tickets.timeline import timeline
from app.tickets.views import bp

log = logging.getLogger(__name__)

# Tells the page's script that a 4xx answer is the ticket part to show (a
# refusal beside its form), not an error page to keep out.
PARTIAL_HEADER = "Ecoute-Partial"


def _ticket_or_404(reference: str) -> Ticket:
    """The ticket if the user may see it; another service's is as missing."""
    try:
        compact = parse_reference(reference)
    except InvalidReference:
        abort(404)
    ticket = db.session.scalar(
        select(Ticket).filter_by(reference=compact).where(visible_tickets(current_user))
    )
    if ticket is None:
        abort(404)
    return ticket


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _preview(ticket: Ticket, action: str, text: str) -> dict:
    """The text the citizen would receive, with its SMS segments; or the
    e-mail, for a request filed with an address and no number."""
    template, note = actions.PREVIEWED[action], text[:NOTE_IN_TEXT]
    if not can_text(ticket) and email_address(ticket):
        email = citizen_email(ticket, template, note=note)
        return {"subject": email.subject, "body": email.body, "sent": True}
    body = citizen_text(ticket, template, note=note)
    encoding, count = segments(body)
    return {
        "body": body,
        "characters": len(body),
        "encoding": encoding,
        "segments": count,
        "sent": can_text(ticket),
    }


def _render(
    ticket: Ticket,
    forms: dict[str, FlaskForm],
    status: int = 200,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    previews: dict[str, dict] | None = None,
) -> tuple[str, int, dict[str, str]]:
    context = {
        "ticket": ticket,
        "forms": forms,
        "errors": errors or {},
        "done": done,
        "previews": previews or {},
        "deadlines": summary.deadlines(ticket),
        "person": summary.caller(ticket),
        "caller_url": summary.caller_url,
        "entries": timeline(ticket, current_user),
        "attachments": attachments.listed(ticket.id),
        # A refused form stays on the page with what was typed, even if the
        # ticket changed meanwhile (resolved by someone else).
        "offered": actions.offered(ticket, current_user) | set(errors or {}),
    }
    # One address, two answers: a cache must tell them apart.
    headers = {"Vary": "HX-Request"}
    if _htmx():
        html = render_template("tickets/_ticket.html", **context)
        return html, status, headers | {PARTIAL_HEADER: "ticket"}
    return render_template("tickets/show.html", **context), status, headers


@bp.get("/tickets/<reference>")
@login_required
def show(reference: str) -> tuple[str, int, dict[str, str]]:
    ticket = _ticket_or_404(reference)
    return _render(ticket, actions.forms(ticket, current_user))


@bp.get("/tickets/<reference>/attachments/<int:attachment_id>")
@login_required
def attachment(reference: str, attachment_id: int) -> Response:
    """A file the citizen sent, to whoever may see its ticket: always saved,
    never shown in our origin (a citizen's HTML or SVG must not run there)."""
    ticket = _ticket_or_404(reference)
    kept = db.session.get(Attachment, attachment_id)
    if kept is None or kept.ticket_id != ticket.id:
        abort(404)  # another ticket's file is as missing as no file
    path = stored_file(kept)
    if path is None:
        log.warning("attachment %s: file missing from the storage", kept.id)
        abort(410, description=f"The file of attachment no. {kept.id} is missing.")
    audit_download(kept, current_user)
    db.session.commit()
    response = send_file(path, mimetype=served_type(kept.content_type), max_age=0)
    response.headers["Content-Disposition"] = content_disposition(kept.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Opened anyway (a saved file dragged back in): no script, no requests.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/tickets/<reference>/<any(" + ", ".join(actions.ACTIONS) + "):action>")
@login_required
def act(reference: str, action: str) -> Response | tuple[str, int, dict[str, str]]:
    ticket = _ticket_or_404(reference)
    forms = actions.forms(ticket, current_user, posted=action)
    form = forms[action]
    if action in actions.PREVIEWED and "preview" in request.form:
        # Without JavaScript, "Preview" shows the text and keeps what was typed.
        if not form.validate_on_submit():
            return _render(ticket, forms, 400)
        shown = _preview(ticket, action, form.text.data or "")
        return _render(ticket, forms, previews={action: shown})
    if not form.validate_on_submit():
        return _render(ticket, forms, 400)
    try:
        change_ticket(
            ticket, actions.change_for(action, form, current_user), current_user
        )
    except TicketChangeError as error:
        db.session.rollback()
        ticket = _ticket_or_404(reference)
        # The posted form reads the request again: what was typed is kept.
        forms = actions.forms(ticket, current_user, posted=action)
        errors = {action: actions.refusal(action, error)}
        return _render(ticket, forms, error.status, errors=errors)
    commit_and_dispatch()
    done = str(actions.DONE[action])
    if _htmx():  # the committed ticket, read again, with fresh forms
        return _render(ticket, actions.forms(ticket, current_user), done=done)
    flash(done, "success")
    return redirect(url_for("tickets.show", reference=ticket.display_reference))


@bp.get("/tickets/<reference>/<any(" + ", ".join(actions.ACTIONS) + "):action>")
@login_required
def act_again(reference: str, action: str) -> Response:
    """A refused form's page sits at its POST address: the language switch or a
    reload asks that address with GET, and gets the ticket's page."""
    lang = request.args.get("lang")
    return redirect(url_for("tickets.show", reference=reference, lang=lang))


@bp.post("/tickets/<reference>/preview/<any(message, resolve):action>")
@login_required
def preview(reference: str, action: str) -> str:
    """htmx asks it as the text is typed: the SMS as the citizen will read it."""
    ticket = _ticket_or_404(reference)
    text = (request.form.get(f"{action}-text") or "").strip()[: actions.MAX_TEXT]
    if not text:
        return render_template("tickets/_preview.html", preview=None, action=action)
    shown = _preview(ticket, action, text)
    return render_template("tickets/_preview.html", preview=shown, action=action)
