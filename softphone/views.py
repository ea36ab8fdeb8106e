"""Softphone endpoints (CONTRACT §7): the page, its token, presence, live events."""

import json
import logging
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy import select

from app.api.auth import api_login_required
from app.api.errors import ApiError, error_response, handle_api_error
from app.callers.views import ticket_page
from app.events import KEEPALIVE, agent_channel, broker
from app.extensions import csrf, db
from app.labels import choices as label_choices
from app.menus import category_choices
from app.models import Call, Presence, Service, TicketStatus
from app.models.types import utcnow
from app.references import InvalidReference, parse_reference
from app.serializers import ticket_json
from app.services.answered_calls import (
    OPEN_STATUSES,
    AttachError,
    attach_call,
    visible_ticket,
)
from app.services.followups import commit_and_dispatch
from app.services.presence import (
    STATUSES,
    DeviceNotRegistered,
    device_changed,
    heartbeat,
    set_status,
)
from app.telephony import SoftphoneNotConfigured
from config import ROOT
from softphone.supervision import agent_states, waiting_calls

bp = Blueprint(
    "softphone",
    __name__,
    url_prefix="/softphone",
    template_folder="templates",
    static_folder="static",
)
bp.register_error_handler(ApiError, handle_api_error)
# Bearer clients carry no CSRF token; session writes are checked in api.auth.
csrf.exempt(bp)

log = logging.getLogger(__name__)

TOKEN_TTL = 15 * 60  # short: the page refreshes it on tokenWillExpire
KEEPALIVE_SECONDS = 15
VOICE_SDK = ROOT / "node_modules" / "@twilio" / "voice-sdk" / "dist"


@bp.get("")
@login_required
def page() -> str:
    # Reading the page changes nothing: presence is written when the agent sets it.
    presence = db.session.get(Presence, current_user.id)
    return render_template(
        "softphone/index.html",
        presence=presence.status if presence else "offline",
        categories=category_choices(str(get_locale() or "fr")[:2]),
        services=db.session.scalars(select(Service).order_by(Service.name)).all(),
        # Every status but closed: a ticket is closed by the journey, not here.
        statuses=[status for status in TicketStatus if status != TicketStatus.CLOSED],
        open_statuses=OPEN_STATUSES,
        labels={group: dict(label_choices(group)) for group in LABELLED},
        ticket_page=ticket_page(REFERENCE_SLOT),
        caller_page=url_for("callers.show", phone=PHONE_SLOT),
    )


# The script shows these stored values as words (app.labels).
LABELLED = (
    "status",
    "category",
    "presence",
    "direction",
    "message_status",
    "call_status",
)
# Placeholders the script replaces in a page's address.
REFERENCE_SLOT, PHONE_SLOT = "0000-0000", "PHONE"


@bp.get("/supervision")
@login_required
def supervision() -> str:
    """The live queue and the agents' presence, for supervisors; htmx asks for
    the tables alone every few seconds (no page reload)."""
    if not current_user.is_supervisor:
        abort(403)
    template = (
        "softphone/_supervision_tables.html"
        if request.headers.get("HX-Request")
        else "softphone/supervision.html"
    )
    return render_template(
        template, waiting=waiting_calls(), agents=agent_states(), now=utcnow()
    )


@bp.get("/vendor/twilio.min.js")
@login_required
def voice_sdk() -> Response:
    """The Twilio Voice SDK from the npm registry, served by us: no CDN."""
    return send_from_directory(VOICE_SDK, "twilio.min.js", max_age=86400)


@bp.get("/token")
@api_login_required()
def token() -> Response:
    user = g.api_user
    try:
        jwt = current_app.extensions["twilio"].access_token(user.identity, TOKEN_TTL)
    except SoftphoneNotConfigured:
        raise ApiError(
            503,
            "not_configured",
            "the softphone needs TWILIO_ACCOUNT_SID, TWILIO_API_KEY, "
            "TWILIO_API_SECRET and TWILIO_TWIML_APP_SID",
        ) from None
    return jsonify({"identity": user.identity, "token": jwt, "ttl": TOKEN_TTL})


def _presence_json(presence: Presence) -> Response:
    return jsonify(
        {
            "identity": g.api_user.identity,
            "status": presence.status,
            "device_registered": presence.device_registered,
        }
    )


@bp.post("/presence")
@api_login_required()
def presence() -> Response:
    body = request.get_json(silent=True)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in STATUSES:
        raise ApiError(
            400, "invalid_status", f"status must be one of: {', '.join(STATUSES)}"
        )
    try:
        current = set_status(g.api_user, status)
    except DeviceNotRegistered:
        raise ApiError(
            409,
            "device_not_registered",
            "your softphone is not connected (network or microphone): calls "
            "cannot reach you until it is ready",
        ) from None
    db.session.commit()
    return _presence_json(current)


@bp.post("/attach")
@api_login_required()
def attach() -> Response:
    """Attach the call the agent is on to one of the caller's open tickets,
    instead of the new one: `{"call_sid", "reference"}` -> the ticket."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    call_sid, reference = body.get("call_sid"), body.get("reference")
    if not isinstance(call_sid, str) or not 0 < len(call_sid) <= 64:
        raise ApiError(400, "invalid_call_sid", "'call_sid' must be the call's SID")
    if not isinstance(reference, str):
        raise ApiError(400, "invalid_reference", "'reference' must be a reference")
    try:
        compact = parse_reference(reference[:16])
    except InvalidReference as error:
        raise ApiError(400, "invalid_reference", str(error)) from None
    ticket = visible_ticket(compact, g.api_user)
    if ticket is None:
        raise ApiError(404, "not_found", f"no ticket {reference[:16]}")
    call = db.session.scalar(select(Call).filter_by(call_sid=call_sid))
    if call is None:
        raise ApiError(404, "not_found", "no such call")
    try:
        attach_call(call, ticket, g.api_user)
    except AttachError as error:
        db.session.rollback()
        raise ApiError(error.status, error.code, str(error)) from None
    commit_and_dispatch()
    return jsonify({**ticket_json(ticket), "call_sid": call.call_sid})


def _registered(body: object) -> bool | None:
    value = body.get("registered") if isinstance(body, dict) else None
    return value if isinstance(value, bool) else None


@bp.post("/device")
@api_login_required()
def device() -> Response:
    """The page's Twilio device registered or dropped (a dropped one is not rung)."""
    registered = _registered(request.get_json(silent=True))
    if registered is None:
        raise ApiError(400, "invalid_device", "registered must be true or false")
    current = device_changed(g.api_user, registered)
    db.session.commit()
    return _presence_json(current)


@bp.post("/heartbeat")
@api_login_required()
def beat() -> tuple[str, int]:
    """The open page says it is still there, and whether its device is ready;
    without a beat for a minute the agent is not rung."""
    heartbeat(g.api_user, _registered(request.get_json(silent=True)))
    db.session.commit()
    return "", 204


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


EVENTS_RETRY_SECONDS = 5


@bp.get("/events")
@api_login_required()
def events() -> Response:
    """Server-Sent Events for this agent: `screenpop` when a call rings them."""
    channel = agent_channel(g.api_user.id)
    try:
        # Subscribed before the first byte: a screen-pop right after "ready" arrives.
        subscription = broker().subscribe(channel)
    except RedisError:
        log.warning("live events unavailable: Redis cannot be reached")
        response = error_response(
            503,
            "events_unavailable",
            "live events are unavailable for now (Redis cannot be reached); "
            "the page tries again",
        )
        response.headers["Retry-After"] = str(EVENTS_RETRY_SECONDS)
        return response
    db.session.remove()  # a stream may stay open for hours: hold no connection

    def stream() -> Iterator[str]:
        yield _sse("ready", {"channel": channel})
        try:
            for item in subscription.messages(KEEPALIVE_SECONDS):
                yield ": keep-alive\n\n" if item is KEEPALIVE else _sse(*item)
        except RedisError:
            # Ended cleanly: the browser's EventSource reconnects by itself.
            log.warning("live events stream ended: Redis connection lost")

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    return response
