"""The IVR as pure functions: (menu, state, input) -> TwiML; no HTTP, no database.

Views pass a `url(endpoint, **params)` function so the TwiML points back at the app;
the state a call carries between steps (language, attempt, category) travels in
those URLs' query strings, which Twilio signs with the rest of the request.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_date
from twilio.twiml.voice_response import Gather, VoiceResponse

from app.lines import Line
from app.menus import Menu, normalise
from ivr.hours import spoken_hours

UrlFor = Callable[..., str]

# After this many plays without a valid choice the caller is handed on (CONTRACT §3).
MAX_PLAYS = 3
GATHER_TIMEOUT = 6  # seconds of silence before Twilio gives up on a key
REFERENCE_TIMEOUT = 10  # typing eight digits takes longer
MAX_MESSAGE_SECONDS = 180
AGENT_RING_SECONDS = 20  # then the next agent, or the queue
# Twilio's limits on <Gather hints>: 500 phrases of at most 100 characters.
MAX_HINTS, MAX_HINT_LENGTH = 500, 100


@dataclass(frozen=True)
class Step:
    """What to answer, and what the call now wants if the caller hangs up."""

    twiml: VoiceResponse
    # "agent", "complaint" or "callback": the call must end with a ticket.
    intent: str | None = None
    category: str | None = None
    # The caller asked for a person: the view finds one (see ring()).
    wants_agent: bool = False


@dataclass(frozen=True)
class Ring:
    """One agent to ring, with what their softphone shows before they answer."""

    identity: str
    call_sid: str
    caller: str
    line: str
    tried: tuple[int, ...]  # agent ids rung so far, this one included


def _say(target: VoiceResponse | Gather, menu: Menu, lang: str, text: str) -> None:
    voice = menu.voices[lang]
    target.say(text, voice=voice.voice, language=voice.language)


def _offer_other_language(target: Gather, menu: Menu, lang: str) -> None:
    """'For English, press 9', in the other language's own voice."""
    other = menu.other_language(lang)
    if other != lang:
        _say(target, menu, other, menu.say(other, "other_language"))


def _notice(digits: str, speech: str) -> str:
    """Why a menu is played again: a wrong key, words not understood, or silence."""
    if digits:
        return "invalid_choice"
    return "not_understood" if speech else "no_input"


def _gather(
    response: VoiceResponse,
    menu: Menu,
    lang: str,
    action: str,
    hints: tuple[str, ...] = (),
    **options: object,
) -> Gather:
    """A <Gather> for keys and speech, then a <Redirect> to the same action."""
    kept: dict[str, str] = {}
    for hint in hints:
        if len(hint) <= MAX_HINT_LENGTH:
            kept.setdefault(normalise(hint), hint)  # each phrase once, as first given
    if kept:
        options["hints"] = ", ".join(list(kept.values())[:MAX_HINTS])
    gather = response.gather(
        input="dtmf speech",
        action=action,
        method="POST",
        language=menu.voices[lang].language,
        speech_timeout="auto",
        **options,
    )
    # No input: Twilio falls through to the next verb, so the same action hears
    # about the silence and can count it as a retry.
    response.redirect(action, method="POST")
    return gather


def main_menu(
    menu: Menu,
    line: Line,
    lang: str,
    url: UrlFor,
    attempt: int = 1,
    greet: bool = False,
    notice: str | None = None,
) -> VoiceResponse:
    response = VoiceResponse()
    action = url("ivr.menu", lang=lang, attempt=attempt)
    gather = _gather(
        response,
        menu,
        lang,
        action,
        menu.hints_for(lang),
        num_digits=1,
        timeout=GATHER_TIMEOUT,
    )
    if notice:
        _say(gather, menu, lang, menu.say(lang, notice))
    if greet:
        _say(gather, menu, lang, menu.say(lang, "welcome", line=line.name))
    # Early, so that a caller of the other language need not sit through the menu.
    _offer_other_language(gather, menu, lang)
    _say(gather, menu, lang, menu.say(lang, "main_menu"))
    return response


def route_main(
    menu: Menu,
    line: Line,
    lang: str,
    attempt: int,
    digits: str,
    speech: str,
    url: UrlFor,
) -> Step:
    """The main menu's answer to one key press, spoken word or silence."""
    action = menu.option_for(lang, digits, speech)
    if action == "complaint":
        return Step(category_menu(menu, line, lang, url))
    if action == "follow_up":
        return Step(follow_up_prompt(menu, lang, url))
    if action == "information":
        response = VoiceResponse()
        hours = spoken_hours(line.hours, lang) if line.hours is not None else ""
        if hours:
            _say(response, menu, lang, menu.say(lang, "opening_hours", hours=hours))
        else:
            _say(response, menu, lang, menu.say(lang, "centre_hours"))
        _say(response, menu, lang, menu.say(lang, "information"))
        response.redirect(url("ivr.main", lang=lang), method="POST")
        return Step(response)
    if action == "agent":
        return Step(VoiceResponse(), intent="agent", wants_agent=True)
    if action == "other_language":
        return Step(main_menu(menu, line, menu.other_language(lang), url))
    if action == "repeat":
        return Step(main_menu(menu, line, lang, url, attempt))
    if attempt >= MAX_PLAYS:
        # Three plays and still no choice: a person should take it from here.
        return Step(VoiceResponse(), intent="agent", wants_agent=True)
    notice = _notice(digits, speech)
    return Step(main_menu(menu, line, lang, url, attempt + 1, notice=notice))


def to_agent(
    menu: Menu, lang: str, url: UrlFor, ring: Ring | None, record: bool = False
) -> VoiceResponse:
    """Ring one agent's softphone, or take a message when nobody can answer.

    With `record`, the caller is told first and the call is recorded on two
    channels (caller and agent apart) from the moment the agent answers.
    """
    response = VoiceResponse()
    if ring is None:
        _say(response, menu, lang, menu.say(lang, "agent_unavailable"))
        _voicemail(response, menu, lang, url, purpose="callback")
        return response
    recording = {}
    if record:
        _say(response, menu, lang, menu.say(lang, "agent_recording_notice"))
        recording = {
            "record": "record-from-answer-dual",
            "recording_status_callback": url("recordings.callback"),
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": "completed absent",
        }
    tried = ",".join(str(agent) for agent in ring.tried)
    dial = response.dial(
        action=url("ivr.dial_result", lang=lang, tried=tried),
        method="POST",
        answer_on_bridge=True,
        timeout=AGENT_RING_SECONDS,
        **recording,
    )
    client = dial.client(
        status_callback=url("ivr.agent_status"),
        status_callback_method="POST",
        status_callback_event="ringing answered completed",
    )
    client.identity(ring.identity)
    # Read by the softphone as call.customParameters before the agent answers.
    client.parameter(name="callSid", value=ring.call_sid)
    client.parameter(name="caller", value=ring.caller)
    client.parameter(name="line", value=ring.line)
    return response


def hold(menu: Menu, lang: str, url: UrlFor, queue_name: str) -> VoiceResponse:
    """Every agent is on a call: wait in the line's queue."""
    response = VoiceResponse()
    _say(response, menu, lang, menu.say(lang, "please_hold"))
    response.enqueue(
        queue_name,
        action=url("ivr.queue_result", lang=lang),
        method="POST",
        wait_url=url("ivr.queue_wait", lang=lang),
        wait_url_method="POST",
    )
    return response


def queue_wait(
    menu: Menu, lang: str, url: UrlFor, position: int | None, pause: int = 5
) -> VoiceResponse:
    """What a waiting caller hears, again and again: now and then the position
    and the way out, else a short silence; a key is heard at any moment."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        action=url("ivr.queue_choice", lang=lang),
        method="POST",
        timeout=pause,
    )
    if position:
        _say(gather, menu, lang, menu.say(lang, "queue_position", position=position))
        _say(gather, menu, lang, menu.say(lang, "queue_options"))
    return response


def leave_queue() -> VoiceResponse:
    response = VoiceResponse()
    response.leave()
    return response


def closed(menu: Menu, lang: str, url: UrlFor) -> Step:
    """An agent was asked for after hours: say so and take a message."""
    response = VoiceResponse()
    _say(response, menu, lang, menu.say(lang, "closed"))
    _voicemail(response, menu, lang, url, purpose="callback")
    return Step(response, intent="callback")


def closed_menu(
    menu: Menu,
    line: Line,
    lang: str,
    url: UrlFor,
    now: datetime,
    attempt: int = 1,
    notice: str | None = None,
) -> VoiceResponse:
    """Out of hours: the hours, then follow a request (2) or leave a message (1).

    Silence leads to the message, so that nobody who called is lost.
    """
    response = VoiceResponse()
    action = url("ivr.closed", lang=lang, attempt=attempt)
    gather = _gather(
        response,
        menu,
        lang,
        action,
        menu.hints_for(lang),
        num_digits=1,
        timeout=GATHER_TIMEOUT,
    )
    if notice:
        _say(gather, menu, lang, menu.say(lang, notice))
    _say(gather, menu, lang, menu.say(lang, "closed"))
    _offer_other_language(gather, menu, lang)
    if line.hours is not None:
        if now.astimezone(line.timezone).date() in line.hours.holidays:
            _say(gather, menu, lang, menu.say(lang, "holiday"))
        hours = spoken_hours(line.hours, lang)
        if hours:
            _say(gather, menu, lang, menu.say(lang, "opening_hours", hours=hours))
    _say(gather, menu, lang, menu.say(lang, "closed_menu"))
    return response


def route_closed(
    menu: Menu,
    line: Line,
    lang: str,
    attempt: int,
    digits: str,
    speech: str,
    url: UrlFor,
    now: datetime,
) -> Step:
    """The closed menu's answer; the main menu's keys keep their meaning."""
    action = menu.option_for(lang, digits, speech)
    if action == "follow_up":
        return Step(follow_up_prompt(menu, lang, url))
    if action == "other_language":
        other = menu.other_language(lang)
        return Step(closed_menu(menu, line, other, url, now))
    if action in ("repeat", "information"):
        return Step(closed_menu(menu, line, lang, url, now, attempt))
    if action is None and (digits or speech) and attempt < MAX_PLAYS:
        notice = _notice(digits, speech)
        return Step(closed_menu(menu, line, lang, url, now, attempt + 1, notice))
    # A complaint, an agent, silence or three wrong tries: all become a message.
    return Step(voicemail(menu, lang, url, "callback"), intent="callback")


def category_menu(
    menu: Menu,
    line: Line,
    lang: str,
    url: UrlFor,
    attempt: int = 1,
    notice: str | None = None,
) -> VoiceResponse:
    response = VoiceResponse()
    categories = menu.categories_for(line)
    action = url("ivr.category", lang=lang, attempt=attempt)
    # One key is enough for up to nine categories; more need the hash key.
    digits = {"num_digits": 1} if len(categories) <= 9 else {"finish_on_key": "#"}
    hints = _category_hints(categories, lang) + menu.hints_for(lang, "repeat")
    gather = _gather(
        response, menu, lang, action, hints, timeout=GATHER_TIMEOUT, **digits
    )
    if notice:
        _say(gather, menu, lang, menu.say(lang, notice))
    _say(gather, menu, lang, menu.say(lang, "category_menu"))
    for number, (_, labels) in enumerate(categories, start=1):
        label = labels.get(lang) or next(iter(labels.values()))
        _say(
            gather,
            menu,
            lang,
            menu.say(lang, "category_option", label=label, digit=number),
        )
    _say(gather, menu, lang, menu.say(lang, "category_repeat"))
    return response


def _label_words(label: str) -> list[str]:
    """The words of a category label that speech is matched on (see below)."""
    return [word for word in re.findall(r"\w+", label) if len(normalise(word)) >= 5]


def _category_hints(
    categories: tuple[tuple[str, dict[str, str]], ...], lang: str
) -> tuple[str, ...]:
    words: dict[str, str] = {}
    for _, labels in categories:
        for word in _label_words(labels.get(lang, "")):
            words.setdefault(normalise(word), word.lower())
    return tuple(words.values())


def _category_by_speech(
    categories: tuple[tuple[str, dict[str, str]], ...], lang: str, speech: str
) -> str | None:
    said = set(normalise(speech).split())
    for key, labels in categories:
        words = {
            word for word in normalise(labels.get(lang, "")).split() if len(word) >= 5
        }
        if said & words:
            return key
    return None


def route_category(
    menu: Menu,
    line: Line,
    lang: str,
    attempt: int,
    digits: str,
    speech: str,
    url: UrlFor,
) -> Step:
    categories = menu.categories_for(line)
    if digits == "*" or (not digits and menu.said(lang, "repeat", speech)):
        return Step(category_menu(menu, line, lang, url, attempt))
    chosen = None
    if digits.isascii() and digits.isdigit() and 1 <= int(digits) <= len(categories):
        chosen = categories[int(digits) - 1][0]
    elif not digits and speech:
        chosen = _category_by_speech(categories, lang, speech)
    if chosen is None and attempt < MAX_PLAYS:
        notice = _notice(digits, speech)
        return Step(category_menu(menu, line, lang, url, attempt + 1, notice=notice))
    # Chosen, or three tries without one: take the message anyway, nothing is lost.
    response = VoiceResponse()
    _voicemail(response, menu, lang, url, purpose="complaint", category=chosen)
    return Step(response, intent="complaint", category=chosen)


def _voicemail(
    response: VoiceResponse,
    menu: Menu,
    lang: str,
    url: UrlFor,
    purpose: str,
    category: str | None = None,
    action_endpoint: str = "ivr.voicemail",
) -> None:
    """The recording notice, then <Record>, then what happens if nothing was said."""
    params = {"lang": lang, "purpose": purpose, "category": category}
    action = url(action_endpoint, **params)
    _say(response, menu, lang, menu.say(lang, "recording_notice"))
    _say(response, menu, lang, menu.say(lang, "record_instructions"))
    response.record(
        action=action,
        method="POST",
        timeout=5,
        finish_on_key="#",
        max_length=MAX_MESSAGE_SECONDS,
        play_beep=True,
        recording_status_callback=url("recordings.callback", **params),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )
    # Twilio skips the action when it heard nothing and goes on to the next verb:
    # the same action then files the ticket without a recording.
    response.redirect(action, method="POST")


def voicemail(
    menu: Menu, lang: str, url: UrlFor, purpose: str, category: str | None = None
) -> VoiceResponse:
    response = VoiceResponse()
    _voicemail(response, menu, lang, url, purpose, category)
    return response


def spoken_reference(reference: str) -> str:
    """'1 2 3 4, 5 6 7 8': digit by digit, with a pause between the halves."""
    return f"{' '.join(reference[:4])}, {' '.join(reference[4:])}"


def reference_announcement(
    menu: Menu, lang: str, reference: str, by_sms: bool, recorded: bool = True
) -> VoiceResponse:
    response = VoiceResponse()
    if not recorded:
        _say(response, menu, lang, menu.say(lang, "no_message"))
    spoken = f"{menu.say(lang, 'reference_intro')} {spoken_reference(reference)}."
    # Said twice: callers write it down the second time.
    _say(response, menu, lang, spoken)
    _say(response, menu, lang, spoken)
    if by_sms:
        _say(response, menu, lang, menu.say(lang, "reference_sms"))
    _say(response, menu, lang, menu.say(lang, "goodbye"))
    response.hangup()
    return response


def follow_up_prompt(
    menu: Menu, lang: str, url: UrlFor, attempt: int = 1, notice: str | None = None
) -> VoiceResponse:
    response = VoiceResponse()
    action = url("ivr.follow_up", lang=lang, attempt=attempt)
    # No hints: the menu's words would only lead speech away from digits.
    gather = _gather(
        response, menu, lang, action, finish_on_key="#", timeout=REFERENCE_TIMEOUT
    )
    if notice:
        _say(gather, menu, lang, menu.say(lang, notice))
    _say(gather, menu, lang, menu.say(lang, "follow_up_prompt"))
    return response


def follow_up_retry(
    menu: Menu, lang: str, attempt: int, notice: str, url: UrlFor, agents: bool
) -> Step:
    """Ask for the reference again; after three tries, a person or a message.

    `agents` is False out of hours: then the message is taken straight away.
    """
    if attempt < MAX_PLAYS:
        return Step(follow_up_prompt(menu, lang, url, attempt + 1, notice=notice))
    if not agents:
        response = VoiceResponse()
        _say(response, menu, lang, menu.say(lang, notice))
        _voicemail(response, menu, lang, url, purpose="callback")
        return Step(response, intent="callback")
    response = VoiceResponse()
    action = url("ivr.follow_up_help", lang=lang)
    gather = _gather(
        response,
        menu,
        lang,
        action,
        menu.hints_for(lang, "agent"),
        num_digits=1,
        timeout=GATHER_TIMEOUT,
    )
    _say(gather, menu, lang, menu.say(lang, notice))
    _say(gather, menu, lang, menu.say(lang, "follow_up_help"))
    return Step(response)


def route_follow_up_help(
    menu: Menu,
    line: Line,
    lang: str,
    attempt: int,
    digits: str,
    speech: str,
    url: UrlFor,
) -> Step:
    """0 (or "conseiller") rings an agent; anything else, or silence, a message."""
    if menu.option_for(lang, digits, speech) == "agent":
        return Step(VoiceResponse(), intent="agent", wants_agent=True)
    return Step(voicemail(menu, lang, url, "callback"), intent="callback")


def status_report(
    menu: Menu,
    line: Line,
    lang: str,
    reference: str,
    status: str,
    updated_at: datetime,
    url: UrlFor,
) -> VoiceResponse:
    response = VoiceResponse()
    day = format_date(updated_at.astimezone(line.timezone), format="long", locale=lang)
    text = menu.say(
        lang,
        "status_report",
        reference=spoken_reference(reference),
        status=menu.statuses[lang].get(status, status),
        date=day,
    )
    _say(response, menu, lang, text)
    response.redirect(url("ivr.main", lang=lang), method="POST")
    return response


def technical_problem(menu: Menu, lang: str, url: UrlFor) -> VoiceResponse:
    """The apology and voicemail served when the app cannot do better (no database)."""
    response = VoiceResponse()
    _say(response, menu, lang, menu.say(lang, "technical_problem"))
    _voicemail(
        response, menu, lang, url, purpose="callback", action_endpoint="ivr.fallback"
    )
    return response


def goodbye(menu: Menu, lang: str) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, menu, lang, menu.say(lang, "goodbye"))
    response.hangup()
    return response
