"""Focal points (CONTRACT §8.3): who answers for a service's requests, and
their personal links, one per ticket, that open that ticket and nothing else.

A link is a random token; only its SHA-256 is kept, so the table leaks no link.
It works while its row is not revoked, its focal point not removed, its ticket
not closed and still in the focal point's service: all four are checked at
each use, so nothing has to be swept when a ticket closes.
"""

import enum
import re
import secrets
from dataclasses import dataclass

from flask import current_app, has_request_context, request
from sqlalchemy import select, update

from app.extensions import db
from app.models import Service, Ticket, TicketEvent, TicketStatus
from app.models.journey import FocalLink, FocalPoint
from app.models.types import utcnow
from app.models.users import hash_token
from app.phone import to_e164
from app.services import notices
from app.services.refused import Refused

# The path a link opens (the `focal` blueprint serves it).
LINK_PATH = "/f/"


def actor_name(focal_point: FocalPoint) -> str:
    """Who the history says acted: a focal point has no staff e-mail."""
    return f"focal point: {focal_point.name} ({focal_point.service.key})"


def focal_point_named(service: Service, name: str) -> FocalPoint | None:
    """The service's focal point of that name, removed ones included: adding a
    removed person again brings them back rather than making a second row."""
    return db.session.scalars(
        select(FocalPoint)
        .filter_by(service_id=service.id, name=name)
        .order_by(FocalPoint.id)
    ).first()


def save_focal_point(
    service: Service,
    name: str,
    phone: str | None,
    email: str | None,
    head: bool | None,
) -> tuple[FocalPoint, bool]:
    """Add a focal point, or update the one of that name; (focal point, created).

    `phone` is E.164 already; a value left out (None) keeps the one on file.
    """
    focal_point = focal_point_named(service, name)
    created = focal_point is None
    if focal_point is None:
        focal_point = FocalPoint(service=service, name=name)
        db.session.add(focal_point)
    if phone is not None:
        focal_point.phone_e164 = phone
    if email is not None:
        focal_point.email = email
    if head is not None or created:
        focal_point.head = bool(head)
    focal_point.removed_at = None
    return focal_point, created


def clean_name(name: str) -> str:
    """A focal point's name as the history will write it, spaces tidied."""
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise Refused("name", "name_length", "1 to 120 characters")
    return name


def submit_focal_point(
    service: Service,
    name: str,
    phone: str | None,
    email: str | None,
    head: bool | None,
    *,
    replace: bool = False,
) -> tuple[FocalPoint, bool]:
    """Check a focal point as typed (a phone in any format, an e-mail) and save
    it: what `flask services focal-point` and the administration pages do.

    A phone or e-mail left out (None, or blank) keeps the one on file, unless
    `replace`: a form that shows both sends both, so a blank one is removed.
    One of them must remain, or nobody can reach the focal point.
    """
    name = clean_name(name)
    e164 = None
    if phone is not None and phone.strip():
        e164 = to_e164(phone, current_app.config["DEFAULT_REGION"])
        if e164 is None:
            raise Refused("phone", "phone_invalid", "not a phone number")
    clean_email = None
    if email is not None and email.strip():
        clean_email = email.strip().lower()
        if (
            not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", clean_email)
            or len(clean_email) > 254
        ):
            raise Refused("email", "email_invalid", "not an e-mail address")
    existing = focal_point_named(service, name)
    on_file = (
        existing is not None
        and not replace
        and bool(existing.phone_e164 or existing.email)
    )
    if e164 is None and clean_email is None and not on_file:
        raise Refused("phone", "contact_missing", "give a phone or an e-mail (or both)")
    focal_point, created = save_focal_point(service, name, e164, clean_email, head)
    if replace:
        focal_point.phone_e164 = e164
        focal_point.email = clean_email
    return focal_point, created


def remove_focal_point(focal_point: FocalPoint) -> int:
    """Mark them removed and revoke every link they hold; how many were revoked."""
    now = utcnow()
    focal_point.removed_at = focal_point.removed_at or now
    revoked = db.session.execute(
        update(FocalLink)
        .where(
            FocalLink.focal_point_id == focal_point.id,
            FocalLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return revoked.rowcount


def active_focal_points(service_id: int) -> list[FocalPoint]:
    return list(
        db.session.scalars(
            select(FocalPoint)
            .where(
                FocalPoint.service_id == service_id,
                FocalPoint.removed_at.is_(None),
            )
            .order_by(FocalPoint.id)
        )
    )


def link_url(token: str) -> str:
    """The full URL of a link: it is sent by SMS or e-mail, so it must be
    absolute: under PUBLIC_BASE_URL like the status callbacks, else under the
    address the request that sent it came to."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        base = request.host_url if has_request_context() else "http://localhost"
    return f"{base.rstrip('/')}{LINK_PATH}{token}"


def create_link(focal_point: FocalPoint, ticket: Ticket) -> str:
    """A new personal link of `focal_point` to `ticket`; returns its URL, the
    only place the token ever appears."""
    # 128 random bits, beyond guessing, and short enough that the SMS carrying
    # the link stays one segment (a 43-character token made it two).
    token = secrets.token_urlsafe(16)
    db.session.add(
        FocalLink(
            focal_point_id=focal_point.id,
            ticket_id=ticket.id,
            token_hash=hash_token(token),
        )
    )
    return link_url(token)


def revoke_links(ticket: Ticket, keep_service_id: int | None = None) -> int:
    """Revoke the ticket's links, but those of `keep_service_id`'s focal points."""
    query = update(FocalLink).where(
        FocalLink.ticket_id == ticket.id, FocalLink.revoked_at.is_(None)
    )
    if keep_service_id is not None:
        theirs = select(FocalPoint.id).where(FocalPoint.service_id == keep_service_id)
        query = query.where(FocalLink.focal_point_id.not_in(theirs))
    return db.session.execute(query.values(revoked_at=utcnow())).rowcount


def service_changed(ticket: Ticket, actor: str) -> None:
    """The ticket moved to another service (or back to the centre): the old
    service's links die, and each focal point of the new one gets their own,
    by SMS and/or e-mail. Each link sent is an event; the token never is."""
    # ticket.service, not service_id: the id follows only at the next flush.
    service = ticket.service
    revoke_links(ticket, keep_service_id=service.id if service else None)
    if service is None:
        return
    for focal_point in active_focal_points(service.id):
        if not (focal_point.phone_e164 or focal_point.email):
            continue
        url = create_link(focal_point, ticket)
        recipient = notices.Recipient(
            focal_point.name, focal_point.phone_e164, focal_point.email
        )
        # One notice per focal point: each link is personal. notify_staff
        # greets them by the recipient's name.
        notices.notify_staff(ticket, "focal_link", [recipient], link=url)
        ticket.record("focal_link", actor, focal_point=focal_point.name)


class LinkState(enum.Enum):
    OPEN = "open"
    DEAD = "dead"  # unknown, revoked, focal point removed, ticket moved: 404
    CLOSED = "closed"  # the ticket was closed: the link did its job, 410


@dataclass(frozen=True)
class FocalAccess:
    link: FocalLink
    focal_point: FocalPoint
    ticket: Ticket


def check(token: str) -> tuple[LinkState, FocalAccess | None]:
    """What a token opens: (state, access), access only when OPEN.

    Unknown and revoked look the same to the caller; only a live link to a
    closed ticket says so (410), since it was valid. A use is noted in
    last_used_at, committed with the request.
    """
    if not token or len(token) > 128:
        return LinkState.DEAD, None
    link = db.session.scalar(select(FocalLink).filter_by(token_hash=hash_token(token)))
    if link is None or link.revoked_at is not None:
        return LinkState.DEAD, None
    focal_point = link.focal_point
    ticket = db.session.get(Ticket, link.ticket_id)
    if (
        ticket is None
        or focal_point.removed_at is not None
        or ticket.service_id != focal_point.service_id
    ):
        return LinkState.DEAD, None
    if ticket.status == TicketStatus.CLOSED or _closed_since(ticket, link):
        return LinkState.CLOSED, None
    link.last_used_at = utcnow()
    return LinkState.OPEN, FocalAccess(link, focal_point, ticket)


def _closed_since(ticket: Ticket, link: FocalLink) -> bool:
    """Whether the ticket was closed after the link was sent: a link dies for
    good with its ticket's closing, and reopening (an appeal) does not bring it
    back; the appeal's own service assignment sends new links."""
    if not ticket.appeal:
        return False  # never reopened, so never closed and still open
    closed = (
        select(TicketEvent.id)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == "status",
            TicketEvent.at >= link.created_at,
            TicketEvent.detail["new"].as_string() == TicketStatus.CLOSED.value,
        )
        .limit(1)
    )
    return db.session.scalar(closed) is not None
