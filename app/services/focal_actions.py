"""What a focal point does through their link (CONTRACT §8.3), as the staff
changes the rules already know, so the SLA clock and the citizen's texts
follow. Apart from focal_points because tickets.py calls that one."""

from app.models import Ticket, TicketStatus
from app.services.focal_points import FocalAccess, actor_name
from app.services.tickets import TicketChange, change_ticket, move

ACTIONS = ("note", "resolve", "ask", "send_back")


def act(access: FocalAccess, action: str, text: str) -> None:
    """Apply one of ACTIONS to the link's ticket, in the focal point's name.

    Raises tickets.TicketChangeError when the rules refuse it.
    """
    ticket = access.ticket
    actor = actor_name(access.focal_point)
    if action == "note":
        change = TicketChange(note=text)
    elif action == "resolve":
        change = TicketChange(resolution=text)
    elif action == "ask":
        # Waiting pauses the clock; the public note is what the citizen is texted.
        change = TicketChange(status=TicketStatus.WAITING, note=text, note_public=True)
    elif action == "send_back":
        _send_back(ticket, text, actor)
        return
    else:
        raise ValueError(f"unknown action {action}")
    change_ticket(ticket, change, actor)


# A department still working on it, from the centre's point of view.
HANDLED = (TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.WAITING)


def _send_back(ticket: Ticket, reason: str, actor: str) -> None:
    """Back to the centre: no service, the reason as an internal note.

    The centre expects a sent-back request where it dispatches requests: in its
    intake (no service) and `new`, or `assigned` when someone at the centre is
    in charge of it, so the desk sees at once it has to go somewhere else. The
    clock keeps running (a wrong department is no pause for the citizen), and
    the citizen is not texted: where the request goes inside is the centre's
    business. A resolved or reopened ticket keeps its status: the answer given,
    or the appeal, still stands.
    """
    change_ticket(ticket, TicketChange(unset_service=True, note=reason), actor)
    if ticket.status in HANDLED:
        back = TicketStatus.ASSIGNED if ticket.assignee_id else TicketStatus.NEW
        if back != ticket.status:
            move(ticket, back.value, actor, reason="sent_back")
