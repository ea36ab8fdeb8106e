"""The live wallboard (/stats/wallboard): who may see it, callers waiting put
there by the voice webhooks, agents and their calls, today's figures exact for
a seeded set of calls, and the judgements' thresholds."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Presence, Role, Ticket
from app.models.agents import agent_lines
from app.services import live, stats
from app.services.presence import set_status
from stats.wallboard import (
    clock,
    judge_abandonment,
    judge_service_level,
    judge_wait,
)
from tests.conftest import CALLER, HOTLINE, LINE
from tests.factories import PASSWORD, make_caller, make_ticket, make_user, sid

LIVE = "/stats/wallboard/live?lang=en"


def login(client, user) -> None:
    client.post("/login", data={"email": user.email, "password": PASSWORD})


@pytest.fixture
def supervisor(app, client):
    chef = make_user("chef@example.org", Role.SUPERVISOR)
    login(client, chef)
    return chef


def tile(html: str, words: str) -> str:
    """The big value of the tile named `words`."""
    found = re.search(
        rf"<dt>{re.escape(words)}</dt>\s*<dd class=\"value\"><span[^>]*>([^<]*)</span>",
        html,
    )
    assert found, f"no tile {words!r}"
    return unescape(found.group(1))


def judged(html: str, words: str) -> tuple[str, str]:
    """(level, words) of the judged tile named `words`."""
    found = re.search(
        rf"<div class=\"tile (\w+)\">\s*<dt>{re.escape(words)}</dt>.*?"
        r"<dd class=\"judged\">([^<]*)</dd>",
        html,
        re.S,
    )
    assert found, f"no judged tile {words!r}"
    return found.group(1), unescape(found.group(2))


def either(seconds: int) -> set[str]:
    """The clock of `seconds`, or of one more: the request takes a moment."""
    return {clock(seconds), clock(seconds + 1)}


# --- who may see it ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stats/wallboard", "/stats/wallboard/live"])
def test_supervisors_and_admins_only(app, client, path):
    assert client.get(path).status_code == 302  # to the sign-in page
    login(client, make_user("awa@example.org", Role.AGENT))
    assert client.get(path).status_code == 403
    client.post("/logout")
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    assert client.get(path).status_code == 200
    client.post("/logout")
    login(client, make_user("admin@example.org", Role.ADMIN))
    assert client.get(path).status_code == 200


def test_page_polls_the_tiles_and_works_without_javascript(supervisor, client):
    page = client.get("/stats/wallboard?lang=en&line=%2B2290121300001")
    html = page.get_data(as_text=True)
    assert html.count("<h1") == 1
    assert 'hx-get="/stats/wallboard/live?line=%2B2290121300001"' in html
    assert 'hx-trigger="every 5s"' in html
    assert 'hx-swap="innerHTML"' in html
    assert 'http-equiv="refresh"' not in html
    assert (
        '<noscript><p class="wallboard-refresh">'
        '<a href="/stats/wallboard?line=%2B2290121300001">Refresh</a>'
    ) in html
    assert '<option value="+2290121300001" selected>Hotline Trésor 1</option>' in html
    assert "/static/wallboard.js" in html
    fragment = client.get(LIVE).get_data(as_text=True)
    assert "<h1" not in fragment
    assert "<html" not in fragment
    assert tile(fragment, "Waiting now") == "0"


def test_an_unknown_line_is_404(supervisor, client):
    assert client.get("/stats/wallboard?line=%2B2290199999999").status_code == 404
    assert client.get("/stats/wallboard/live?line=nonsense").status_code == 404
    # A "+" typed unencoded arrives as a space: still the line.
    assert client.get("/stats/wallboard/live?line= 2290121300001").status_code == 200


# --- callers waiting, through the voice webhooks -----------------------------------


def press_0(twilio_post, call_sid: str, from_: str = CALLER, to: str = LINE) -> None:
    form = {"CallSid": call_sid, "From": from_, "To": to}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    response = twilio_post(
        "/voice/menu?lang=fr&attempt=1", **form, CallStatus="in-progress", Digits="0"
    )
    assert b"<Enqueue" in response.data  # everyone busy: the caller waits


def test_two_callers_waiting_and_the_longest_wait(
    supervisor, client, twilio_post, agents
):
    set_status(agents[0], "busy", call_sid=sid("CA"))  # on another call
    db.session.commit()
    first, second = sid("CA"), sid("CA")
    press_0(twilio_post, first)
    press_0(twilio_post, second, from_="+2290197000001")
    call = db.session.scalar(select(Call).filter_by(call_sid=first))
    call.wanted_agent_at = datetime.now(UTC) - timedelta(seconds=45)
    db.session.commit()

    html = client.get(LIVE).get_data(as_text=True)
    assert tile(html, "Waiting now") == "2"
    assert tile(html, "Longest wait") in either(45)
    # Over 20 s, under 60 s: amber, and said in words.
    assert judged(html, "Longest wait") == ("warn", "Over 20 s")
    assert re.search(
        r'<th scope="row">Numéro vert</th>\s*<td>2</td>\s*'
        r'<td data-seconds="4[56]">00:4[56]</td>',
        html,
    )
    assert CALLER not in html  # a wall screen shows no caller's number

    # The other line alone: nobody waits there.
    other = client.get(f"{LIVE}&line={HOTLINE}").get_data(as_text=True)
    assert tile(other, "Waiting now") == "0"
    assert tile(other, "Longest wait") == "—"
    assert judged(other, "Longest wait") == ("none", "Nobody is waiting")


def test_an_answered_caller_no_longer_waits(supervisor, client, twilio_post, agents):
    agent = agents[0]
    set_status(agent, "available")
    db.session.commit()
    call_sid = sid("CA")
    form = {"CallSid": call_sid, "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    twilio_post("/voice/menu?lang=fr&attempt=1", **form, Digits="0")
    html = client.get(LIVE).get_data(as_text=True)
    # Rung to the agent, not answered yet: still waiting; the agent rings.
    assert tile(html, "Waiting now") == "1"
    assert tile(html, "Ringing now") == "1"
    twilio_post(
        "/voice/agent-status",
        CallSid=sid("CA"),
        ParentCallSid=call_sid,
        To=f"client:{agent.identity}",
        CallStatus="in-progress",
    )
    html = client.get(LIVE).get_data(as_text=True)
    assert tile(html, "Waiting now") == "0"
    assert tile(html, "On a call") == "1"


# --- agents ------------------------------------------------------------------------


def test_an_agent_on_a_call_for_90_seconds(supervisor, client, twilio_post, agents):
    agent, other = agents
    agent.name = "Awa Dossou"
    set_status(agent, "available")
    set_status(other, "available")
    db.session.commit()
    call_sid = sid("CA")
    form = {"CallSid": call_sid, "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    twilio_post("/voice/menu?lang=fr&attempt=1", **form, Digits="0")
    ringing = db.session.scalar(
        select(Presence).filter_by(call_sid=call_sid, status="ringing")
    )
    answering = agent if ringing.user_id == agent.id else other
    twilio_post(
        "/voice/agent-status",
        CallSid=sid("CA"),
        ParentCallSid=call_sid,
        To=f"client:{answering.identity}",
        CallStatus="in-progress",
    )
    call = db.session.scalar(select(Call).filter_by(call_sid=call_sid))
    call.answered_at = datetime.now(UTC) - timedelta(seconds=90)
    db.session.commit()

    html = client.get(LIVE).get_data(as_text=True)
    name = answering.name
    found = re.search(
        rf'<th scope="row">{re.escape(name)}</th>\s*<td>Numéro vert</td>\s*'
        r'<td data-seconds="(\d+)">([^<]*)</td>',
        html,
    )
    assert found, html
    assert int(found.group(1)) in (90, 91)
    assert found.group(2) in either(90)
    assert (tile(html, "On a call"), tile(html, "Available now")) == ("1", "1")


def test_agents_by_state(app, agents):
    now = datetime.now(UTC)
    available, ringing = agents
    set_status(available, "available")
    set_status(ringing, "ringing")
    talking = make_user("yao@example.org", Role.AGENT)
    call = Call(call_sid=sid("CA"), line=LINE, status="in-progress")
    call.answered_at = now - timedelta(seconds=30)
    db.session.add(call)
    set_status(talking, "busy", call_sid=call.call_sid)
    # Busy and not ready (no call), a call long over, a page gone silent, a
    # device dropped, offline, never signed in: all away.
    set_status(make_user("not-ready@example.org", Role.AGENT), "busy")
    ended = Call(call_sid=sid("CA"), line=LINE, status="completed")
    db.session.add(ended)
    set_status(make_user("stuck@example.org", Role.AGENT), "busy", ended.call_sid)
    silent = set_status(make_user("silent@example.org", Role.AGENT), "available")
    silent.last_seen = now - timedelta(minutes=5)
    # Its softphone's device dropped: routing rings nobody there.
    dropped = set_status(make_user("dropped@example.org", Role.AGENT), "available")
    dropped.device_registered = False
    set_status(make_user("gone@example.org", Role.AGENT), "offline")
    make_user("never@example.org", Role.AGENT)
    # Not agents: an inactive account, a supervisor who never took a call.
    make_user("left@example.org", Role.AGENT).active = False
    make_user("chef@example.org", Role.SUPERVISOR)
    # A supervisor on the softphone counts like an agent.
    set_status(make_user("chef2@example.org", Role.SUPERVISOR), "available")
    db.session.commit()

    assert live.agent_counts(now) == {
        "available": 2,
        "ringing": 1,
        "on_call": 1,
        "away": 6,
    }
    [on_call] = live.agents_on_call(now)
    assert (on_call.name, on_call.line, on_call.talking) == (
        "yao",
        LINE,
        timedelta(seconds=30),
    )


def test_agents_of_a_line(app, agents):
    now = datetime.now(UTC)
    elsewhere, everywhere = agents
    set_status(elsewhere, "available")
    set_status(everywhere, "available")
    db.session.execute(agent_lines.insert().values(user_id=elsewhere.id, line=HOTLINE))
    db.session.commit()
    assert live.agent_counts(now, LINE)["available"] == 1
    assert live.agent_counts(now, HOTLINE)["available"] == 2
    assert live.agent_counts(now)["available"] == 2


# --- today's figures ---------------------------------------------------------------


def seed_calls(now: datetime) -> None:
    """Today on the green number: 4 answered (3 within 20 s), 1 abandoned,
    1 short abandon, 1 self-service; today on the hotline, 1 answered in time;
    yesterday, calls that would change every figure."""

    def call(line: str, started: datetime, wait: int | None, answered: bool):
        row = Call(call_sid=sid("CA"), line=line, status="completed")
        row.started_at = started
        row.ended_at = started + timedelta(minutes=3)
        if wait is not None:
            row.wanted_agent_at = started + timedelta(seconds=30)
            row.wait_seconds = wait
        if answered:
            row.answered_at = row.wanted_agent_at + timedelta(seconds=wait)
            row.talk_seconds = 100
        db.session.add(row)

    today = now - timedelta(seconds=1)
    for wait in (10, 10, 16, 40):
        call(LINE, today, wait, answered=True)
    call(LINE, today, 30, answered=False)  # abandoned
    call(LINE, today, 2, answered=False)  # a short abandon: not counted
    call(LINE, today, None, answered=False)  # self-service
    call(HOTLINE, today, 5, answered=True)
    yesterday = now - timedelta(days=1)
    for _ in range(3):
        call(LINE, yesterday, 50, answered=False)
        call(LINE, yesterday, 90, answered=True)
    caller = make_caller()
    make_ticket(caller, line=LINE)
    make_ticket(caller, line=HOTLINE)
    make_ticket(caller, line=LINE, created_at=yesterday)
    make_ticket(caller, line=LINE, withdrawn=True)  # a duplicate: no request
    db.session.commit()


def test_todays_figures_of_the_centre(supervisor, client):
    seed_calls(datetime.now(UTC))
    html = client.get(LIVE).get_data(as_text=True)
    assert tile(html, "Calls") == "8"
    assert tile(html, "Answered") == "5"
    # 1 abandoned of 6 (5 answered + 1 abandoned): 17 %; 4 of 6 in time: 67 %.
    assert tile(html, "Abandonment") == "17%"
    assert judged(html, "Abandonment") == ("bad", "Far above target (5%)")
    assert tile(html, "Service level") == "67%"
    assert judged(html, "Service level") == ("warn", "Below target (80%)")
    assert tile(html, "Average wait before an answer") == "00:16"  # 81 s / 5
    assert tile(html, "Tickets opened") == "2"
    assert "1 call abandoned" in html


def test_todays_figures_of_one_line(supervisor, client):
    seed_calls(datetime.now(UTC))
    html = client.get(f"{LIVE}&line={LINE}").get_data(as_text=True)
    assert tile(html, "Calls") == "7"
    assert tile(html, "Answered") == "4"
    assert tile(html, "Abandonment") == "20%"  # 1 of 5
    assert tile(html, "Service level") == "60%"  # 3 of 5
    assert judged(html, "Service level") == ("warn", "Below target (80%)")
    assert tile(html, "Average wait before an answer") == "00:19"  # 76 s / 4
    assert tile(html, "Tickets opened") == "1"


def test_in_french(supervisor, client):
    seed_calls(datetime.now(UTC))
    html = client.get("/stats/wallboard/live?lang=fr").get_data(as_text=True)
    assert tile(html, "En attente") == "0"
    assert tile(html, "Niveau de service") == "67\N{NO-BREAK SPACE}%"
    assert judged(html, "Abandons") == (
        "bad",
        "Très au-dessus de l'objectif (5\N{NO-BREAK SPACE}%)",
    )
    assert "1 appel abandonné" in html


def test_tickets_created_is_ticket_figures_created(app):
    now = datetime.now(UTC)
    seed_calls(now)
    today = now.astimezone(ZoneInfo(app.config["CENTRE_TIMEZONE"])).date()
    for line in (None, LINE, HOTLINE):
        scope = stats.scope_for(today, today, line=line)
        created = stats.ticket_figures(scope, now)["created"]
        assert stats.tickets_created(scope) == created
    assert stats.tickets_created(stats.scope_for(today, today)) == 2
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 4


# --- the judgements ----------------------------------------------------------------


def test_thresholds(app):
    with app.test_request_context("/?lang=en"):
        assert [judge_service_level(v).level for v in (None, 0.8, 0.79, 0.6, 0.59)] == [
            "none",
            "ok",
            "warn",
            "warn",
            "bad",
        ]
        assert [judge_abandonment(v).level for v in (None, 0.05, 0.06, 0.1, 0.11)] == [
            "none",
            "ok",
            "warn",
            "warn",
            "bad",
        ]
        waits = (None, 20, 21, 60, 61)
        assert [judge_wait(w and timedelta(seconds=w)).level for w in waits] == [
            "none",
            "ok",
            "warn",
            "warn",
            "bad",
        ]
        assert judge_wait(timedelta(seconds=61)).words == "Over 60 s"
        assert judge_service_level(0.9).words == "On target (80%)"


def test_clock():
    assert clock(None) == "—"
    assert clock(0) == "00:00"
    assert clock(timedelta(seconds=90)) == "01:30"
    assert clock(59.6) == "01:00"
    assert clock(3599) == "59:59"
    assert clock(timedelta(hours=1, seconds=61)) == "1:01:01"
    assert clock(-3) == "00:00"
