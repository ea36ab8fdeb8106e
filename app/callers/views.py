"""The caller page, `/callers/<phone>`: who the person is, with a form to edit
the profile, and every ticket and call of every one of their numbers.

The same person and the same rules as GET and PATCH /api/callers/<phone>
(app.services.people): someone the viewer may not see is a 404, as a number
the centre never met, and an agent's lists hold only what visibility lets
them see.
"""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from app.callers.forms import ProfileForm
from app.extensions import db
from app.models import Call, Ticket, User
from app.phone import to_e164
from app.services import people
from app.services.people import Person, ProfileError
from app.services.visibility import caller_calls_visible_to, visible_tickets

bp = Blueprint("callers", __name__, url_prefix="/callers")

# Newest first; a person with more than this is a rare caller, and the desk's
# search finds the older ones.
LIST_LIMIT = 200


def ticket_page(reference: str) -> str:
    """The ticket page's address (`tickets.show`, built alongside this page:
    its plain path until it is part of the app)."""
    try:
        return url_for("tickets.show", reference=reference)
    except BuildError:
        return f"/tickets/{reference}"


def _number(phone: str) -> str:
    number = to_e164(phone[:32], current_app.config["DEFAULT_REGION"])
    if number is None:
        abort(404)
    return number


def _visible_person(number: str) -> Person:
    """As the API: a person the viewer may not see does not exist for them."""
    person = people.person_of(number)
    if person is None or not people.may_see(current_user, person):
        abort(404)
    return person


def _tickets(person: Person) -> list[Ticket]:
    query = (
        select(Ticket)
        .where(Ticket.caller_id.in_(person.ids), visible_tickets(current_user))
        .options(
            joinedload(Ticket.assignee),
            joinedload(Ticket.service),
            joinedload(Ticket.caller),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(LIST_LIMIT)
    )
    return list(db.session.scalars(query))


def _calls(person: Person) -> list[Call]:
    query = (
        select(Call)
        .where(Call.caller_id.in_(person.ids))
        .options(joinedload(Call.caller))
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(LIST_LIMIT)
    )
    if not current_user.is_supervisor:
        numbers = people.person_numbers(person.root.id)
        query = query.where(caller_calls_visible_to(current_user.id, numbers))
    return list(db.session.scalars(query))


def _agents(calls: list[Call]) -> dict[int, User]:
    ids = {call.agent_id for call in calls if call.agent_id is not None}
    if not ids:
        return {}
    found = db.session.scalars(select(User).where(User.id.in_(ids)))
    return {user.id: user for user in found}


def _form(person: Person, fresh: bool = False) -> ProfileForm:
    """The form as posted, or (`fresh`, or a GET) filled from the profile."""
    fresh = fresh or request.method == "GET"
    form = ProfileForm(
        current_app.config["DEFAULT_REGION"],
        person.caller.phone_e164,
        **({"formdata": None} if fresh else {}),
    )
    if fresh:
        form.name.data = person.root.name or ""
        form.matricule.data = person.root.matricule or ""
        form.email.data = person.root.email or ""
        form.phones.data = "\n".join(person.phones)
    return form


def _page(person: Person, form: ProfileForm, saved: bool = False) -> str:
    calls = _calls(person)
    # htmx swaps the person's part of the page; a plain request gets it all.
    template = (
        "callers/_person.html"
        if request.headers.get("HX-Request")
        else ("callers/show.html")
    )
    return render_template(
        template,
        person=person,
        form=form,
        saved=saved,
        tickets=_tickets(person),
        calls=calls,
        agents=_agents(calls),
        limit=LIST_LIMIT,
        ticket_page=ticket_page,
    )


@bp.get("/<phone>")
@login_required
def show(phone: str) -> str:
    person = _visible_person(_number(phone))
    return _page(person, _form(person))


@bp.post("/<phone>")
@login_required
def update(phone: str) -> str | Response | tuple[str, int]:
    """The profile form: the rules of PATCH /api/callers/<phone>."""
    number = _number(phone)
    person = _visible_person(number)
    form = _form(person)
    htmx = bool(request.headers.get("HX-Request"))
    # htmx swaps only a 2xx answer: a refused form comes back as 200 to it,
    # with its errors and what was typed; a plain POST gets a 400.
    refused = 200 if htmx else 400
    if not form.validate_on_submit():
        return _page(person, form), refused
    people.lock_people()  # before the person is read again, as the API does
    person = _visible_person(number)
    try:
        person = people.change_profile(person, form.change(), current_user)
    except ProfileError as error:
        db.session.rollback()
        person = _visible_person(number)
        if error.code == "forbidden":
            form.phones.errors.append(
                _("One of these numbers belongs to a caller you may not see.")
            )
        else:
            form.phones.errors.append(str(error))
        return _page(person, form), refused
    db.session.commit()
    if htmx:
        return _page(person, _form(person, fresh=True), saved=True)
    flash(_("Profile saved."), "success")
    return redirect(url_for("callers.show", phone=number))
