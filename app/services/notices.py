"""PLACEHOLDER for the lead's staff notices module (due on main): the same
signature, sending nothing. Take main's version of this file on merge."""

from typing import NamedTuple

from app.models import Ticket


class Recipient(NamedTuple):
    name: str | None
    phone: str | None
    email: str | None


def notify_staff(
    ticket: Ticket, template: str, recipients: list[Recipient], **values: str
) -> None:
    """Nothing is sent until the real module lands."""
