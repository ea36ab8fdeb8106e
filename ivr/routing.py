"""Option 0: claim and ring the longest-idle agent, then the next, then the queue."""

import logging
import re

from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from app.events import agent_channel, broker
from app.extensions import db
from app.lines import Line
from app.menus import Menu
from app.models import Call, Recording, Ticket, User
from app.models.types import utcnow
from app.serializers import empty_history, recording_json, ticket_json
from app.services.call_times import wanted_agent
from app.services.callers import history_for
from app.services.people import numbers_of_caller
from app.services.presence import (
    agents_online,
    callers_ahead,
    claim_agent,
    claimed_for,
    join_queue,
)
from app.services.visibility import may_listen
from app.webhooks import public_url
from ivr import menu as ivr

log = logging.getLogger(__name__)


def queue_name(line: Line) -> str:
    """One Twilio queue per line (a name of at most 64 characters)."""
    return "ecoute-" + re.sub(r"\D", "", line.number)


def parse_tried(text: str | None) -> tuple[int, ...]:
    ids = [
        int(part)
        for part in (text or "").split(",")
        if part.isdigit() and len(part) < 10
    ]
    return tuple(ids[:50])


def screen_pop(agent: User, call: Call, line: Line) -> None:
    """Push the caller's history, as this agent may see it, before they answer."""
    phone = call.caller.phone_e164 if call.caller else None
    history = (history_for(phone, agent) if phone else None) or empty_history(
        phone or call.from_raw
    )
    payload = {
        **history,
        "call_sid": call.call_sid,
        "line": line.number,
        "recordings": hearable_recordings(agent, call.caller_id),
    }
    try:
        broker().publish(agent_channel(agent.id), "screenpop", payload)
    except Exception:
        # The call must ring even if the page cannot be told: log, go on.
        log.exception("screen-pop for agent %s not delivered", agent.id)


def hearable_recordings(agent: User, caller_id: int | None) -> list[dict]:
    """The stored recordings of the caller, all their numbers, that this agent
    may hear, newest first."""
    if caller_id is None:
        return []
    recordings = db.session.scalars(
        select(Recording)
        .join(Call, Recording.call_id == Call.id)
        .where(
            Call.caller_id.in_(numbers_of_caller(caller_id)),
            Recording.media_status == "stored",
        )
        .order_by(Recording.created_at.desc())
        .limit(20)
    )
    return [
        {**recording_json(recording), "audio": f"/api/recordings/{recording.id}/audio"}
        for recording in recordings
        if may_listen(agent, recording)
    ]


def publish_ticket(agent: User, ticket: Ticket, call_sid: str) -> None:
    """Open the call's ticket on the agent's screen once they have answered."""
    try:
        payload = {**ticket_json(ticket), "call_sid": call_sid}
        broker().publish(agent_channel(agent.id), "ticket", payload)
    except Exception:
        log.exception("ticket for agent %s not delivered", agent.id)


def ring(
    menu: Menu, line: Line, lang: str, call: Call | None, tried: tuple[int, ...] = ()
) -> VoiceResponse:
    """The next agent to ring for this call, the queue, or a voicemail."""
    if not line.is_open(utcnow()):
        return ivr.closed(menu, lang, public_url).twiml
    if call is None:
        return ivr.to_agent(menu, lang, public_url, None)
    agent = claimed_for(call.call_sid)
    # First come, first served: while others wait in the queue, a new caller
    # joins its end instead of taking the agent the head is about to get.
    if agent is None and (tried or call.queued_at or not callers_ahead(call)):
        agent = claim_agent(line.number, call.call_sid, exclude=tried)
    if agent is not None:
        wanted_agent(call)
        screen_pop(agent, call, line)
        caller = call.caller.phone_e164 if call.caller else call.from_raw
        target = ivr.Ring(
            agent.identity, call.call_sid, caller, line.number, (*tried, agent.id)
        )
        return ivr.to_agent(menu, lang, public_url, target, line.record_calls)
    if agents_online(line.number):
        # Everyone is on a call: wait for the next free agent.
        wanted_agent(call)
        join_queue(call)
        return ivr.hold(menu, lang, public_url, queue_name(line))
    return ivr.to_agent(menu, lang, public_url, None)
