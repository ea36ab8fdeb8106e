"""The live wallboard (CONTRACT §10): callers waiting and the longest wait,
agents by state and their calls, today's figures; htmx asks for the tiles
again every few seconds, so the page never reloads."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app, render_template, request
from flask_babel import format_percent, format_time
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.labels import centre_zone
from app.lines import current_lines
from app.models.types import utcnow
from app.phone import to_e164
from app.services import live, stats
from stats.views import bp

POLL_SECONDS = 5
# The usual call-centre targets: 80 % of calls answered within
# SERVICE_LEVEL_SECONDS, at most 5 % abandoned.
SERVICE_LEVEL_TARGET, SERVICE_LEVEL_FLOOR = 0.8, 0.6
ABANDONMENT_TARGET, ABANDONMENT_CEILING = 0.05, 0.10
# A wait past this many times SERVICE_LEVEL_SECONDS is red, past once amber.
LONG_WAIT_FACTOR = 3


@dataclass(frozen=True)
class Judged:
    """How a figure stands against its target: a level the stylesheet colours
    ("ok", "warn", "bad", or "none" when there is nothing to judge) and the
    same in words, so colour is never the only sign."""

    level: str
    words: str


def clock(duration: timedelta | float | None) -> str:
    """mm:ss, or h:mm:ss from an hour on; "—" for no duration."""
    if duration is None:
        return "—"
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    minutes, second = divmod(max(0, round(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minute:02d}:{second:02d}"
    return f"{minutes:02d}:{second:02d}"


def judge_service_level(value: float | None) -> Judged:
    target = format_percent(SERVICE_LEVEL_TARGET)
    if value is None:
        return Judged("none", _("No call to measure yet"))
    if value >= SERVICE_LEVEL_TARGET:
        return Judged("ok", _("On target (%(target)s)", target=target))
    if value >= SERVICE_LEVEL_FLOOR:
        return Judged("warn", _("Below target (%(target)s)", target=target))
    return Judged("bad", _("Far below target (%(target)s)", target=target))


def judge_abandonment(value: float | None) -> Judged:
    limit = format_percent(ABANDONMENT_TARGET)
    if value is None:
        return Judged("none", _("No call to measure yet"))
    if value <= ABANDONMENT_TARGET:
        return Judged("ok", _("On target (at most %(limit)s)", limit=limit))
    if value <= ABANDONMENT_CEILING:
        return Judged("warn", _("Above target (%(limit)s)", limit=limit))
    return Judged("bad", _("Far above target (%(limit)s)", limit=limit))


def judge_wait(longest: timedelta | None) -> Judged:
    within = current_app.config["SERVICE_LEVEL_SECONDS"]
    if longest is None:
        return Judged("none", _("Nobody is waiting"))
    waited = longest.total_seconds()
    if waited <= within:
        return Judged("ok", _("Within %(seconds)s s", seconds=within))
    if waited <= within * LONG_WAIT_FACTOR:
        return Judged("warn", _("Over %(seconds)s s", seconds=within))
    return Judged("bad", _("Over %(seconds)s s", seconds=within * LONG_WAIT_FACTOR))


def _line_filter() -> str | None:
    """The ?line= asked for, as the line's E.164 number; an unknown one is 404.

    A "+" typed unencoded in the address arrives as a space: trimmed."""
    typed = request.args.get("line", "").strip()
    if not typed:
        return None
    number = to_e164(typed, current_app.config["DEFAULT_REGION"])
    if number not in current_lines().by_number:
        abort(404)
    return number


def _by_line(
    queues: list[live.LineQueue], line: str | None
) -> list[tuple[str, live.LineQueue | None]]:
    """Every line shown (its name, its queue if anyone waits), the centre's
    lines first in the lines file's order, then any other line callers wait on."""
    waiting = {queue.line: queue for queue in queues}
    lines = [known for known in current_lines().lines if line in (None, known.number)]
    rows = [(known.name, waiting.pop(known.number, None)) for known in lines]
    return rows + [(queue.line, queue) for queue in waiting.values()]


def board(line: str | None, now: datetime) -> dict[str, Any]:
    """What the tiles show, as of `now`."""
    queues = live.queues(now, line)
    longest = max((queue.longest for queue in queues), default=None)
    today = now.astimezone(centre_zone()).date()
    scope = stats.scope_for(today, today, line=line)
    calls = stats.call_figures(scope)
    names = {known.number: known.name for known in current_lines().lines}
    return {
        "now": now,
        "waiting": sum(queue.waiting for queue in queues),
        "longest": longest,
        "wait": judge_wait(longest),
        "by_line": _by_line(queues, line),
        "agents": live.agent_counts(now, line),
        "on_call": live.agents_on_call(now, line),
        "line_names": names,
        "calls": calls,
        "service_level": judge_service_level(calls["service_level"]),
        "abandonment": judge_abandonment(calls["abandonment_rate"]),
        "tickets_opened": stats.tickets_created(scope),
    }


def _render(template: str) -> str:
    if not current_user.is_supervisor:
        abort(403)
    line = _line_filter()
    now = utcnow()
    return render_template(
        template,
        line=line,
        lines=current_lines().lines,
        poll_seconds=POLL_SECONDS,
        clock=clock,
        percent=lambda value: "—" if value is None else format_percent(value),
        updated=format_time(now, "medium"),
        **board(line, now),
    )


@bp.get("/wallboard")
@login_required
def wallboard() -> str:
    return _render("stats/wallboard.html")


@bp.get("/wallboard/live")
@login_required
def wallboard_live() -> str:
    """The tiles alone, which htmx swaps in every POLL_SECONDS."""
    return _render("stats/_wallboard_live.html")
