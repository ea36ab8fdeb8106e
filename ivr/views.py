"""Voice webhooks: check the signature, read the form, call a service, answer TwiML."""

import logging
import re
from collections.abc import Callable
from functools import partial

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app.dbguard import is_database_outage
from app.extensions import db
from app.lines import Line, current_lines
from app.menus import Menu, menu_for
from app.models import Call, Ticket
from app.models.calls import FINAL_STATUSES
from app.models.types import utcnow
from app.references import InvalidReference, parse_reference
from app.services.answered_calls import answered
from app.services.call_times import (
    call_over,
    dial_completed,
    left_queue_unanswered,
)
from app.services.calls import (
    apply_status,
    call_for,
    end_at_once,
    log_arrival,
    note_intent,
    note_intent_at_once,
    parse_count,
)
from app.services.followups import call_ended, commit_and_dispatch
from app.services.presence import (
    agent_for_identity,
    callers_ahead,
    claim_agent,
    release,
    set_status,
)
from app.services.recordings import attach, recording_for
from app.services.tickets import has_ticket, link_call, ticket_for_call
from app.spool import keep_failed_request, save_request
from app.webhooks import form_text, public_url, twilio_signed, twiml
from ivr import menu as ivr
from ivr.routing import parse_tried, publish_ticket, ring

log = logging.getLogger(__name__)

bp = Blueprint("ivr", __name__, url_prefix="/voice")

PURPOSES = ("complaint", "callback")


def _line() -> Line:
    return current_lines().for_number(form_text("To", 64))


def _language(menu: Menu, line: Line) -> str:
    return menu.language(request.args.get("lang"), line.language)


def _where() -> tuple[Line, Menu, str]:
    """The line called, its menu, and the language the caller is hearing."""
    line = _line()
    voice_menu = menu_for(line)
    return line, voice_menu, _language(voice_menu, line)


def _attempt() -> int:
    value = request.args.get("attempt", "1")
    return (
        min(max(int(value), 1), ivr.MAX_PLAYS)
        if value.isdigit() and len(value) < 3
        else 1
    )


def _keys() -> str:
    """What the caller pressed; junk (letters, 5,000 characters) reads as invalid."""
    return form_text("Digits", 64)


def _speech() -> str:
    return form_text("SpeechResult", 500)


def _region() -> str:
    return current_app.config["DEFAULT_REGION"]


@bp.post("/incoming")
@twilio_signed
def incoming() -> Response:
    line = _line()
    menu = menu_for(line)
    lang = menu.language(None, line.language)
    now = utcnow()
    is_open = line.is_open(now)
    if form_text("CallSid", 64):
        # Out of hours, a hang-up anywhere in the closed menu is a callback.
        intent = None if is_open else "callback"
        log_arrival(request.form, line.number, _region(), lang, intent)
        db.session.commit()
    if not is_open:
        return twiml(ivr.closed_menu(menu, line, lang, public_url, now))
    return twiml(_main_menu_xml(menu, line, lang, greet=True))


def _main_menu_xml(menu: Menu, line: Line, lang: str, greet: bool) -> str:
    """The main menu's TwiML, rendered once per line and language.

    It is the same for every caller and the most played document, so the
    busiest webhooks do not rebuild it each time.
    """
    cache = current_app.extensions.setdefault("ivr.main_menu", {})
    key = (line.number, lang, greet, request.script_root)
    if key not in cache:
        cache[key] = str(ivr.main_menu(menu, line, lang, public_url, greet=greet))
    return cache[key]


@bp.post("/main")
@twilio_signed
def main() -> Response:
    """Back to the menu (after information or a status): the closed one out of hours."""
    line = _line()
    menu = menu_for(line)
    lang = _language(menu, line)
    now = utcnow()
    if not line.is_open(now):
        return twiml(ivr.closed_menu(menu, line, lang, public_url, now))
    return twiml(_main_menu_xml(menu, line, lang, greet=False))


def _answer_choice(route: Callable[..., ivr.Step]) -> Response:
    """Route a key press or spoken word, remembering what the caller asked for.

    The intent is written down so that a hang-up still ends in a ticket; menu
    steps that set none touch no database at all, and a key's answer that is
    the same for every caller (the category menu, the information) is rendered
    once per line, language and attempt.
    """
    line, voice_menu, lang = _where()
    attempt, keys, speech = _attempt(), _keys(), _speech()
    cache = current_app.extensions.setdefault("ivr.key_steps", {})
    # A partial (the closed menu, which depends on the day) is never cached.
    name = getattr(route, "__name__", None)
    key = (name, line.number, lang, attempt, keys, request.script_root)
    cacheable = name is not None and len(keys) == 1 and not speech
    if cacheable and key in cache:
        return twiml(cache[key])
    step = route(voice_menu, line, lang, attempt, keys, speech, public_url)
    if cacheable and step.intent is None and not step.wants_agent:
        cache[key] = str(step.twiml)
        return twiml(cache[key])
    call = None
    call_sid = form_text("CallSid", 64)
    if step.intent and call_sid:
        if not step.wants_agent and note_intent_at_once(
            call_sid, step.intent, step.category
        ):
            return twiml(step.twiml)  # written in one statement: nothing to commit
        call = call_for(request.form, line.number, _region())
        note_intent(call, step.intent, step.category)
    answer = ring(voice_menu, line, lang, call) if step.wants_agent else step.twiml
    db.session.commit()
    return twiml(answer)


@bp.post("/menu")
@twilio_signed
def menu() -> Response:
    return _answer_choice(ivr.route_main)


@bp.post("/category")
@twilio_signed
def category() -> Response:
    return _answer_choice(ivr.route_category)


@bp.post("/closed")
@twilio_signed
def closed() -> Response:
    return _answer_choice(partial(ivr.route_closed, now=utcnow()))


@bp.post("/follow-up-help")
@twilio_signed
def follow_up_help() -> Response:
    return _answer_choice(ivr.route_follow_up_help)


@bp.post("/follow-up")
@twilio_signed
def follow_up() -> Response:
    """A reference keyed or said: its status, told only to the phone that filed it."""
    line, voice_menu, lang = _where()
    is_open = line.is_open(utcnow())
    speech = _speech()
    typed = _keys() or re.sub(r"\D", "", speech)
    if not typed:
        return _follow_up_retry(line, voice_menu, lang, is_open, _notice_for(speech))
    try:
        reference = parse_reference(typed)
    except InvalidReference:
        return _follow_up_retry(line, voice_menu, lang, is_open, "reference_invalid")
    ticket = db.session.scalar(select(Ticket).filter_by(reference=reference))
    call = None
    if ticket is not None and form_text("CallSid", 64):
        call = call_for(request.form, line.number, _region())
    if ticket is None or call is None or not _filed_by(ticket, call):
        # Another phone hears what an unknown reference gets: no enumeration.
        return _follow_up_retry(line, voice_menu, lang, is_open, "reference_unknown")
    # The date read out is the last change before this call, not the call itself.
    answer = ivr.status_report(
        voice_menu,
        line,
        lang,
        ticket.reference,
        ticket.status,
        ticket.updated_at,
        public_url,
    )
    link_call(ticket, call, "follow_up")
    if call.intent == "callback" and not is_open:
        # Out of hours the call was a callback until now; the caller has their
        # answer, so hanging up after it files nothing.
        call.intent = None
    db.session.commit()
    return twiml(answer)


def _notice_for(speech: str) -> str:
    return "not_understood" if speech else "no_input"


def _filed_by(ticket: Ticket, call: Call) -> bool:
    return call.caller is not None and ticket.caller_id == call.caller.id


def _follow_up_retry(
    line: Line, voice_menu: Menu, lang: str, is_open: bool, notice: str
) -> Response:
    step = ivr.follow_up_retry(
        voice_menu, lang, _attempt(), notice, public_url, agents=is_open
    )
    if step.intent and form_text("CallSid", 64):
        note_intent(call_for(request.form, line.number, _region()), step.intent)
    db.session.commit()
    return twiml(step.twiml)


def _category_key(line: Line, voice_menu: Menu) -> str | None:
    wanted = request.args.get("category")
    keys = {key for key, _ in voice_menu.categories_for(line)}
    return wanted if wanted in keys else None


@bp.post("/voicemail")
@twilio_signed
def voicemail() -> Response:
    """The <Record> action: file the ticket, attach the message, read the reference."""
    line, voice_menu, lang = _where()
    if not form_text("CallSid", 64):
        return twiml(ivr.goodbye(voice_menu, lang))
    purpose = request.args.get("purpose")
    purpose = purpose if purpose in PURPOSES else "callback"
    category = _category_key(line, voice_menu)
    call = call_for(request.form, line.number, _region())
    note_intent(call, "complaint" if purpose == "complaint" else "callback", category)
    recorded = bool(form_text("RecordingSid", 64))
    # The recording row before the ticket, in the order the recording callback
    # takes them: the two may run at once and must not deadlock.
    recording = (
        recording_for(request.form, call, "voicemail", new=True) if recorded else None
    )
    ticket, created = ticket_for_call(call, purpose, category, lang)
    if recording is not None:
        attach(recording, ticket)
    elif created:
        ticket.record("no_message", "system", text="no message left — call back")
    by_sms = ticket.caller is not None
    reference = ticket.reference
    commit_and_dispatch()
    return twiml(
        ivr.reference_announcement(voice_menu, lang, reference, by_sms, recorded)
    )


@bp.post("/status")
@twilio_signed
def status() -> Response | tuple[str, int]:
    """Call status callback: late, repeated or out of order, it only moves forward."""
    if not form_text("CallSid", 64):
        return "CallSid is required", 400
    line = _line()
    # Most calls end with nothing more to do: one statement then (PostgreSQL).
    ended_now = end_at_once(request.form)
    if ended_now is not None and ended_now.settled:
        return "", 204
    call = call_for(request.form, line.number, _region())
    ended = ended_now is not None or apply_status(call, request.form)
    if ended and call.intent in ("agent", "callback"):
        # The caller is gone: the agent held or talking for them is free again.
        release(call.call_sid, talking=True)
    if ended:
        call_over(call)
    if ended and call.agent_id is not None:
        call_ended(call)  # texts held while an agent talked to the caller go now
    if ended and call.intent and not has_ticket(call):
        # The caller hung up before a ticket was filed: no caller is lost.
        purpose = "complaint" if call.intent == "complaint" else "callback"
        note = "caller hung up before leaving a message — call back"
        lang = call.language or line.language
        ticket_for_call(call, purpose, call.intent_category, lang, note=note)
    commit_and_dispatch()
    return "", 204


@bp.post("/dial-result")
@twilio_signed
def dial_result() -> Response:
    """The <Dial> to an agent ended: done if they talked, else the next agent."""
    line, voice_menu, lang = _where()
    dialled = form_text("DialCallStatus", 16)
    call = call_for(request.form, line.number, _region())
    if dialled in ("completed", "answered"):
        dial_completed(call, parse_count(request.form.get("DialCallDuration")))
        db.session.commit()
        return twiml(ivr.goodbye(voice_menu, lang))
    # The agent did not take it: free them (a failed leg means their softphone
    # is gone, so it leaves routing) before ringing anyone else.
    release(call.call_sid, dialled)
    tried = parse_tried(request.args.get("tried"))
    answer = ring(voice_menu, line, lang, call, tried)
    db.session.commit()
    return twiml(answer)


@bp.post("/agent-status")
@twilio_signed
def agent_status() -> tuple[str, int]:
    """The agent's leg: busy while it is up, free again when it ends."""
    agent = agent_for_identity(form_text("To", 128).removeprefix("client:"))
    parent = form_text("ParentCallSid", 64)
    if agent is None or not parent:
        return "", 204
    status_value = form_text("CallStatus", 16)
    if status_value == "in-progress":
        set_status(agent, "busy", call_sid=parent)
        call = db.session.scalar(select(Call).filter_by(call_sid=parent))
        if call is not None:
            # The call's ticket, in their charge and open on their screen.
            ticket = answered(call, agent)
            commit_and_dispatch()
            publish_ticket(agent, ticket, parent)
            return "", 204
    elif status_value in FINAL_STATUSES:
        # Only this call's hold on the agent ends: a late callback of an
        # earlier call never frees an agent who is on a new one.
        release(parent, status_value, talking=True)
    db.session.commit()
    return "", 204


# Twilio asks the wait URL again as soon as its TwiML ends: a short loop makes
# the caller at the head leave for a freed agent within a few seconds.
QUEUE_POLL_SECONDS = 5
ANNOUNCE_EVERY = 30  # seconds between two announcements of the position


@bp.post("/queue-wait")
@twilio_signed
def queue_wait() -> Response:
    """Played to a waiting caller in a loop; the head leaves for a freed agent."""
    line, voice_menu, lang = _where()
    call = call_for(request.form, line.number, _region())
    ahead = callers_ahead(call)
    if ahead == 0 and claim_agent(line.number, call.call_sid) is not None:
        db.session.commit()
        return twiml(ivr.leave_queue())
    db.session.commit()
    waited = parse_count(request.form.get("QueueTime")) or 0
    announce = waited % ANNOUNCE_EVERY < QUEUE_POLL_SECONDS
    return twiml(
        ivr.queue_wait(
            voice_menu,
            lang,
            public_url,
            ahead + 1 if announce else None,
            pause=QUEUE_POLL_SECONDS,
        )
    )


@bp.post("/queue-choice")
@twilio_signed
def queue_choice() -> Response:
    line, voice_menu, lang = _where()
    if _keys() == "1":
        # From "agent" to "callback": the queue's end then takes a message.
        note_intent(call_for(request.form, line.number, _region()), "callback")
        db.session.commit()
        return twiml(ivr.leave_queue())
    return twiml(ivr.queue_wait(voice_menu, lang, public_url, None))


@bp.post("/queue-result")
@twilio_signed
def queue_result() -> Response:
    """The caller left the queue: to a free agent, to voicemail, or hung up."""
    line, voice_menu, lang = _where()
    result = form_text("QueueResult", 32)
    call = call_for(request.form, line.number, _region())
    if result == "hangup":
        release(call.call_sid)
        left_queue_unanswered(call, parse_count(request.form.get("QueueTime")))
        # Over now, whenever its status callback comes (if ever): a caller who
        # is gone must not stay at the head of the queue.
        if call.advance_status("completed"):
            call.ended_at = utcnow()
        # No caller is lost: waiting and hanging up files a callback.
        note = "caller hung up while waiting for an agent — call back"
        ticket_for_call(call, "callback", None, call.language or lang, note=note)
        commit_and_dispatch()
        return twiml(ivr.goodbye(voice_menu, lang))
    if result == "leave" and call.intent != "callback":
        answer = ring(voice_menu, line, lang, call)  # an agent came free
    elif result == "bridged":
        answer = ivr.goodbye(voice_menu, lang)
    else:
        # Out of the queue for good (its end, an error): a message instead.
        note_intent(call, "callback")
        answer = ivr.voicemail(voice_menu, lang, public_url, "callback")
    db.session.commit()
    return twiml(answer)


@bp.post("/fallback")
@twilio_signed
def fallback() -> Response:
    """Twilio's "primary handler fails" URL: answers from memory, never the database."""
    _, voice_menu, lang = _where()
    if "purpose" in request.args:
        # The end of our own fallback voicemail: the recording callback files it.
        return twiml(ivr.goodbye(voice_menu, lang))
    return twiml(ivr.technical_problem(voice_menu, lang, public_url))


@bp.errorhandler(Exception)
def apologise(error: Exception) -> Response | HTTPException:
    """A voice webhook never answers 5xx: the caller hears an apology and voicemail."""
    if isinstance(error, HTTPException):
        return error
    log.exception(
        "voice webhook %s failed; serving the fallback voicemail", request.path
    )
    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback failed too")
    if request.endpoint == "ivr.status":
        # Twilio never retries a status callback; a lost one could lose a
        # caller who hung up waiting, so it is kept: for `spool replay` when the
        # database was away, in spool/failed/ (and a 500) when it is a bug.
        if not is_database_outage(error):
            keep_failed_request(error)
            return Response(status=500)
        save_request(error)
        return Response(status=204)
    line = _line()
    voice_menu = menu_for(line)
    return twiml(
        ivr.technical_problem(voice_menu, _language(voice_menu, line), public_url)
    )
