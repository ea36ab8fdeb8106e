"""POST /ussd (CONTRACT §9.2): check the key, read the form, answer CON or END."""

import hmac
import logging
from pathlib import Path

from babel.dates import format_date
from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.lines import LANGUAGES, Line, current_lines
from app.menus import as_title, category_label, menu_for
from app.phone import to_e164
from app.references import format_reference
from app.services.followups import commit_and_dispatch
from app.sms_text import sms_texts
from app.webhooks import form_text
from ivr.hours import spoken_hours
from ussd.menu import FollowUp, Screen, UssdMenu, inputs_of
from ussd.texts import load_ussd_texts, ussd_texts
from ussd.tickets import file_once, ticket_of_phone

log = logging.getLogger(__name__)

bp = Blueprint("ussd", __name__)

TEXTS_FILE = Path(__file__).resolve().parents[1] / "config" / "ussd.yaml"
# Longer than any session's inputs on a phone keypad: beyond it, not a phone.
MAX_TEXT = 200


@bp.record_once
def _load_texts(state: BlueprintSetupState) -> None:
    # Read once at start-up: a malformed file stops it, naming the file and line.
    state.app.extensions["ussd_texts"] = load_ussd_texts(TEXTS_FILE)


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status, mimetype="text/plain")


def _key_is_right() -> bool:
    secret = current_app.config.get("USSD_SECRET")
    key = request.args.get("key", "")
    # Unset, the channel is closed; compared in constant time so the key cannot
    # be guessed a character at a time from how long a refusal takes.
    return bool(secret) and hmac.compare_digest(key.encode(), secret.encode())


def _line() -> Line:
    # One USSD code for the whole centre: its first line (CONTRACT §1).
    return current_lines().lines[0]


def _menu(line: Line) -> UssdMenu:
    voice_menu = menu_for(line)
    lang = voice_menu.language(current_app.config["USSD_LANGUAGE"], line.language)
    categories = tuple(
        (key, as_title(category_label(labels, lang)))
        for key, labels in voice_menu.categories_for(line)
    )
    hours = spoken_hours(line.hours, lang) if line.hours is not None else ""
    information = [
        voice_menu.say(lang, "opening_hours", hours=hours)
        if hours
        else voice_menu.say(lang, "centre_hours")
    ]
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        page = str(base).rstrip("/") + "/public"
        information.append(ussd_texts().get(lang, "web_page", url=page))
    return UssdMenu(ussd_texts(), lang, categories, tuple(information))


@bp.post("/ussd")
def session() -> Response:
    if not _key_is_right():
        return _plain("Forbidden", 403)
    line = _line()
    menu = _menu(line)
    text = request.form.get("text") or ""
    session_id = form_text("sessionId", 200)
    if len(text) > MAX_TEXT or not session_id:
        return _plain(menu.end("not_understood").body)
    phone = to_e164(form_text("phoneNumber", 64), current_app.config["DEFAULT_REGION"])
    step = menu.answer(inputs_of(text))
    if isinstance(step, Screen):
        return _plain(step.body)
    if isinstance(step, FollowUp):
        return _plain(_follow_up(menu, line, step.typed, phone).body)
    ticket = file_once(session_id, phone, step.category, line, menu.lang)
    if ticket is None:
        return _plain(menu.end("not_understood").body)
    answer = menu.filed(format_reference(ticket.reference), ticket.caller is not None)
    commit_and_dispatch()  # the acknowledgment SMS goes once the ticket is there
    return _plain(answer.body)


def _follow_up(menu: UssdMenu, line: Line, typed: str, phone: str | None) -> Screen:
    ticket = ticket_of_phone(typed, phone)
    if ticket is None:
        return menu.unknown_reference()
    day = format_date(
        ticket.updated_at.astimezone(line.timezone), "long", locale=menu.lang
    )
    words = sms_texts().status(menu.lang, ticket.status)
    return menu.status(format_reference(ticket.reference), words, day)


@bp.errorhandler(Exception)
def apologise(error: Exception) -> Response | HTTPException:
    """A session never ends on a 5xx, which the phone shows as a bare failure:
    the database away or a bug, the caller reads an apology."""
    if isinstance(error, HTTPException):
        return error
    log.exception("USSD session failed; the caller is told of a technical problem")
    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback failed too")
    lang = current_app.config.get("USSD_LANGUAGE")
    lang = lang if lang in LANGUAGES else LANGUAGES[0]
    return _plain(Screen(ussd_texts().get(lang, "technical_problem"), False).body)
