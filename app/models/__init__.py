"""Every table of Écoute, imported here so Alembic and the app see them all."""

from app.models.agents import Presence, Service
from app.models.callers import Caller
from app.models.calls import Call
from app.models.channels import Attachment, ChannelReceipt
from app.models.journey import Erasure, FocalLink, FocalPoint, SlaAlert
from app.models.messages import Message
from app.models.recordings import Recording
from app.models.tickets import Ticket, TicketEvent, TicketStatus
from app.models.users import ApiToken, Role, User

__all__ = [
    "ApiToken",
    "Attachment",
    "Call",
    "Caller",
    "ChannelReceipt",
    "Erasure",
    "FocalLink",
    "FocalPoint",
    "Message",
    "Presence",
    "Recording",
    "Role",
    "Service",
    "SlaAlert",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "User",
]
