"""Which tickets a staff member may see: an agent never sees another service's."""

from sqlalchemy import ColumnElement, or_, select, true

from app.extensions import db
from app.models import Call, Recording, Ticket, User
from app.models.agents import user_services


def visible_tickets(user: User) -> ColumnElement[bool]:
    """A filter: supervisors and admins see all; an agent sees the centre's intake
    (no service yet), their own services' tickets and the tickets assigned to them."""
    if user.is_supervisor:
        return true()
    their_services = select(user_services.c.service_id).where(
        user_services.c.user_id == user.id
    )
    return or_(
        Ticket.service_id.is_(None),
        Ticket.service_id.in_(their_services),
        Ticket.assignee_id == user.id,
    )


def may_see(user: User, ticket: Ticket) -> bool:
    if user.is_supervisor or ticket.service_id is None or ticket.assignee_id == user.id:
        return True
    return any(service.id == ticket.service_id for service in user.services)


def may_listen(user: User, recording: Recording) -> bool:
    """Supervisors and admins: all; an agent: their tickets' and their calls'."""
    if user.is_supervisor:
        return True
    if recording.ticket_id is not None:
        ticket = db.session.get(Ticket, recording.ticket_id)
        if ticket is not None and ticket.assignee_id == user.id:
            return True
    if recording.call_id is not None:
        call = db.session.get(Call, recording.call_id)
        if call is not None and call.agent_id == user.id:
            return True
    return False
