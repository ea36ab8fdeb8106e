"""What staff read instead of the stored values: statuses, kinds, channels,
priorities, presence, history actions and categories, in the page's language.

One place, so a page never shows `in_progress` or `complaint`, and a value the
code learns later still reads as itself rather than breaking a page.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l

from app.menus import category_choices

STATUSES = {
    "new": _l("New"),
    "assigned": _l("Assigned"),
    "in_progress": _l("In progress"),
    "waiting": _l("Waiting for the citizen"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
    "reopened": _l("Reopened"),
}
PRIORITIES = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}
KINDS = {
    "complaint": _l("Complaint"),
    "request": _l("Request"),
    "callback": _l("Callback"),
}
CHANNELS = {
    "phone": _l("Phone"),
    "sms": _l("SMS"),
    "whatsapp": _l("WhatsApp"),
    "web": _l("Web form"),
    "counter": _l("Counter"),
    "email": _l("E-mail"),
    "ussd": _l("USSD"),
}
PRESENCE = {
    "available": _l("Available"),
    "ringing": _l("Ringing"),
    "busy": _l("Busy"),
    "offline": _l("Offline"),
}
ROLES = {
    "agent": _l("Agent"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
}
VISIBILITY = {"internal": _l("Internal note"), "public": _l("Public message")}
DIRECTIONS = {"inbound": _l("Received"), "outbound": _l("Sent")}
MESSAGE_STATUSES = {
    "held": _l("Held until the call ends"),
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "undelivered": _l("Not delivered"),
    "failed": _l("Failed"),
    "logged": _l("Logged (not sent)"),
    "superseded": _l("Replaced by a later text"),
    "read": _l("Read"),
    "received": _l("Received"),
}
ACTORS = {"system": _l("Écoute"), "caller": _l("The citizen"), "twilio": _l("Twilio")}
ACTIONS = {
    "created": _l("Request registered"),
    "status": _l("Status changed"),
    "assigned": _l("Person in charge changed"),
    "service": _l("Service changed"),
    "category": _l("Category changed"),
    "priority": _l("Priority changed"),
    "note": _l("Note"),
    "resolution": _l("Answer given"),
    "hold": _l("Legal hold"),
    "focal_link": _l("Link sent to a focal point"),
    "sla_reminder": _l("Deadline reminder"),
    "escalation": _l("Escalation"),
    "erased": _l("Personal data erased"),
    "rating": _l("Citizen's rating"),
    "satisfaction_asked": _l("Satisfaction asked"),
    "call": _l("Call"),
    "recording": _l("Recording"),
    "recording_stored": _l("Recording stored"),
    "recording_failed": _l("Recording lost"),
    "recording_purged": _l("Recording deleted (retention)"),
    "recording_deleted_at_twilio": _l("Recording deleted at Twilio"),
    "listened": _l("Recording listened to"),
    "no_message": _l("Voicemail without a message"),
    "sms_queued": _l("Text queued"),
    "sms_sent": _l("Text sent"),
    "email_sent": _l("E-mail sent"),
    "email_queued": _l("E-mail queued"),
    "email_rewritten": _l("E-mail rewritten"),
    "email_received": _l("E-mail received"),
    "attachment_skipped": _l("Attachment not kept (too large)"),
    "attachment_downloaded": _l("Attachment downloaded"),
    "sms_failed": _l("Text failed"),
    "sms_status": _l("Text delivery status"),
    "sms_rewritten": _l("Text rewritten"),
    "sms_superseded": _l("Text replaced"),
    "sms_status_request": _l("Status asked by text"),
    "call_attached": _l("Call attached by staff"),
    "duplicate": _l("Closed as a duplicate"),
}
# Twilio's call statuses.
CALL_STATUSES = {
    "queued": _l("Queued"),
    "ringing": _l("Ringing"),
    "in-progress": _l("In progress"),
    "completed": _l("Completed"),
    "busy": _l("Busy"),
    "failed": _l("Failed"),
    "no-answer": _l("No answer"),
    "canceled": _l("Cancelled"),
}
GROUPS = {
    "status": STATUSES,
    "priority": PRIORITIES,
    "kind": KINDS,
    "channel": CHANNELS,
    "presence": PRESENCE,
    "role": ROLES,
    "visibility": VISIBILITY,
    "direction": DIRECTIONS,
    "message_status": MESSAGE_STATUSES,
    "action": ACTIONS,
    "actor": ACTORS,
    "call_status": CALL_STATUSES,
}


def label(value: object, group: str) -> str:
    """The words for `value` in `group` ("status", "category", ...); the value
    itself when it has none (a value added later, a free actor name)."""
    if value is None:
        return "—"
    key = getattr(value, "value", value)
    if group == "category":
        return dict(category_choices(_language())).get(str(key), str(key))
    return str(GROUPS[group].get(str(key), key))


def choices(group: str) -> list[tuple[str, str]]:
    """(value, words) for a select, in the page's language."""
    if group == "category":
        return category_choices(_language())
    return [(key, str(words)) for key, words in GROUPS[group].items()]


def centre_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CENTRE_TIMEZONE"])


def local_time(moment: datetime | None, form: str = "short") -> str:
    """An instant in the centre's time zone (Babel's is set to it)."""
    return "—" if moment is None else format_datetime(moment, form)


def _language() -> str:
    locale = get_locale()
    return locale.language if locale else "fr"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["label_choices"] = choices
    app.jinja_env.globals["centre_zone"] = centre_zone
