"""What staff do on a ticket page: one small form per action (CSRF via
Flask-WTF), each turned into the TicketChange the API would make, so the rules
stay in app.services.tickets."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from app.extensions import db
from app.labels import choices
from app.models import Service, Ticket, TicketStatus, User
from app.services.tickets import TicketChange, TicketChangeError

# As long as a note through the API (app.api.schemas.MAX_NOTE).
MAX_TEXT = 2000
ACTIONS = (
    "take",
    "assign",
    "status",
    "resolve",
    "note",
    "message",
    "priority",
    "hold",
    "reopen",
)
# The actions whose text the citizen receives, and the text it goes in.
PREVIEWED = {"message": "public_note", "resolve": "resolved"}

# What the page says once it is done.
DONE = {
    "take": _l("You are now in charge of this request."),
    "assign": _l("Assignment saved."),
    "status": _l("Status changed."),
    "resolve": _l("The answer was recorded; the citizen receives it."),
    "note": _l("Internal note added."),
    "message": _l("Message sent to the citizen."),
    "priority": _l("Priority changed."),
    "hold": _l("Legal hold changed."),
    "reopen": _l("The request was reopened."),
}
# The rules' refusals (TicketChangeError.code), in the page's language.
REFUSED = {
    "resolution_required": _l(
        "Write the answer the citizen will receive: it is needed to resolve."
    ),
    "already_resolved": _l(
        "The request is resolved already: send a public message to tell the "
        "citizen more."
    ),
    "resolution_without_resolving": _l("An answer goes with the status Resolved."),
    "invalid_transition": _l("A closed request can only be reopened."),
}
FORBIDDEN = {
    "hold": _l("Only a supervisor or an administrator may change a legal hold."),
    "assign": _l("Agents may only put themselves in charge of a request."),
}


def offered(ticket: Ticket, viewer: User) -> set[str]:
    """The actions the page offers now. The rules stay change_ticket's: this
    only leaves out buttons that could do nothing or would be refused."""
    status = ticket.status
    answered = status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    shown = {"note", "message", "status", "priority"}
    if status != TicketStatus.CLOSED:
        shown.add("assign")
        if ticket.assignee_id != viewer.id:
            shown.add("take")
    shown.add("reopen" if answered else "resolve")
    if viewer.is_supervisor:
        shown.add("hold")
    return shown


def refusal(action: str, error: TicketChangeError) -> str:
    if error.code == "forbidden":
        return str(FORBIDDEN.get(action, _l("You may not do this.")))
    return str(REFUSED.get(error.code, error))


class ActionForm(FlaskForm):
    """Take and reopen: a button and its CSRF token."""


class TextForm(FlaskForm):
    text = TextAreaField(
        _l("Text"),
        validators=[DataRequired(_l("Write something first.")), Length(max=MAX_TEXT)],
    )


class ResolveForm(FlaskForm):
    # An empty answer is the rule's refusal (resolution_required), not the form's.
    text = TextAreaField(_l("The answer"), validators=[Length(max=MAX_TEXT)])


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"))


class PriorityForm(FlaskForm):
    priority = SelectField(_l("Priority"))


class HoldForm(FlaskForm):
    hold = HiddenField(validators=[AnyOf(["0", "1"])])  # the hold asked for


class AssignForm(FlaskForm):
    service = SelectField(_l("Service"))
    assignee = SelectField(_l("Person in charge"))


def _people(ticket: Ticket, viewer: User) -> list[User]:
    """Whom the viewer may name: anyone active for a supervisor; an agent,
    themselves (and whoever is in charge now, to leave them be)."""
    query = select(User).where(User.active.is_(True)).order_by(User.name, User.email)
    if not viewer.is_supervisor:
        query = query.where(or_(User.id == viewer.id, User.id == ticket.assignee_id))
    return list(db.session.scalars(query))


def forms(ticket: Ticket, viewer: User, posted: str | None = None) -> dict:
    """Every action's form; the one `posted` reads the request, the others not."""

    def make(action: str, cls: type[FlaskForm], **data: object) -> FlaskForm:
        if action == posted:
            return cls(prefix=action)
        return cls(prefix=action, formdata=None, data=data)

    built = {
        "take": make("take", ActionForm),
        "reopen": make("reopen", ActionForm),
        "note": make("note", TextForm),
        "message": make("message", TextForm),
        "resolve": make("resolve", ResolveForm),
        "status": make("status", StatusForm, status=ticket.status),
        "priority": make("priority", PriorityForm, priority=ticket.priority),
        "hold": make("hold", HoldForm, hold="0" if ticket.hold else "1"),
        "assign": make(
            "assign",
            AssignForm,
            service=ticket.service.key if ticket.service else "",
            assignee=str(ticket.assignee_id or ""),
        ),
    }
    built["status"].status.choices = choices("status")
    built["priority"].priority.choices = choices("priority")
    services = db.session.scalars(select(Service).order_by(Service.name))
    built["assign"].service.choices = [("", str(_l("Centre intake (no service)")))] + [
        (service.key, service.name) for service in services
    ]
    built["assign"].assignee.choices = [("", str(_l("Nobody")))] + [
        (str(user.id), user.name or user.email) for user in _people(ticket, viewer)
    ]
    return built


def change_for(action: str, form: FlaskForm, viewer: User) -> TicketChange:
    """The change a validated form asks for."""
    if action == "take":
        return TicketChange(assignee=viewer)
    if action == "reopen":
        return TicketChange(status=TicketStatus.REOPENED.value)
    if action == "note":
        return TicketChange(note=form.text.data.strip())
    if action == "message":
        return TicketChange(note=form.text.data.strip(), note_public=True)
    if action == "resolve":
        return TicketChange(resolution=(form.text.data or "").strip())
    if action == "status":
        return TicketChange(status=form.status.data)
    if action == "priority":
        return TicketChange(priority=form.priority.data)
    if action == "hold":
        return TicketChange(hold=form.hold.data == "1")
    if action == "assign":
        key, person = form.service.data, form.assignee.data
        service = db.session.scalar(select(Service).filter_by(key=key)) if key else None
        user = db.session.get(User, int(person)) if person else None
        return TicketChange(
            service=service,
            unset_service=service is None,
            assignee=user,
            unassign=user is None,
        )
    raise ValueError(f"unknown action {action}")
