"""GET /api/stats (CONTRACT §10, issue #13): each figure's exact value.

The calls are played as Twilio plays them (the voice webhooks, the agent's leg,
the queue) and the requests go through the API and the SMS webhook, on a clock
the test moves: the centre's days, waits and deadlines are then known to the
second. The centre is in Porto-Novo (UTC+1).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role, Service, Ticket
from app.models import types as model_types
from app.services import stats as service
from app.services.presence import set_status
from tests.conftest import CALLER, LINE
from tests.factories import make_token, make_user, sid
from tests.twiml import parse

CENTRE = ZoneInfo("Africa/Porto-Novo")
OTHER_LINE = "+2290121300001"
NO_CALLS = {
    "offered": 0,
    "answered": 0,
    "abandoned": 0,
    "short_abandoned": 0,
    "self_service": 0,
    "voicemails": 0,
    "abandonment_rate": None,
    "asa_seconds": None,
    "service_level": None,
    "aht_seconds": None,
}


class Clock:
    """The app's clock (app.models.types.utcnow, which every module uses)."""

    def __init__(self, monkeypatch) -> None:
        self.at = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
        clock = self

        class Frozen(datetime):
            @classmethod
            def now(cls, tz=None):
                return clock.at if tz is None else clock.at.astimezone(tz)

        monkeypatch.setattr(model_types, "datetime", Frozen)

    def local(self, *args: int) -> None:
        """Set to this wall-clock time in the centre."""
        self.at = datetime(*args, tzinfo=CENTRE).astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def chief(app) -> dict[str, str]:
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


def stats(client, chief, **query: str) -> dict:
    response = client.get("/api/stats", query_string=query, headers=chief)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- calls, as Twilio plays them -----------------------------------------------------


class Call_:
    def __init__(self, post, line: str = LINE) -> None:
        self.post = post
        self.sid = sid("CA")
        self.form = {"CallSid": self.sid, "From": CALLER, "To": line}

    def send(self, path: str, **extra: str):
        response = self.post(path, **{**self.form, **extra})
        assert response.status_code in (200, 204), response.data
        return parse(response.data) if response.status_code == 200 else None

    def arrive(self) -> None:
        self.send("/voice/incoming", CallStatus="ringing")

    def press(self, digits: str):
        return self.send("/voice/menu?lang=fr&attempt=1", Digits=digits)

    def agent_leg(self, agent, status: str) -> None:
        leg = {"CallSid": "CA" + self.sid[2:].upper(), "ParentCallSid": self.sid}
        self.post(
            "/voice/agent-status",
            **leg,
            To=f"client:{agent.identity}",
            CallStatus=status,
        )

    def hang_up(self, **extra: str) -> None:
        self.send("/voice/status", CallStatus="completed", **extra)


@pytest.fixture
def play(twilio_post):
    return lambda line=LINE: Call_(twilio_post, line)


def answered_call(play, clock, agent, wait: int, talk: int) -> None:
    set_status(agent, "available")
    db.session.commit()
    call = play()
    call.arrive()
    assert call.press("0").find("Dial/Client") is not None  # rung at once
    clock.advance(seconds=wait)
    call.agent_leg(agent, "in-progress")
    clock.advance(seconds=talk + 7)  # Twilio's own count of the talk wins
    call.send(
        "/voice/dial-result", DialCallStatus="completed", DialCallDuration=str(talk)
    )
    call.agent_leg(agent, "completed")
    call.hang_up(CallDuration=str(wait + talk + 30))


def queued_call(play, agents) -> Call_:
    """A caller who asks for an agent while everyone is on a call."""
    for agent in agents:
        set_status(agent, "busy", call_sid=sid("CA"))
    db.session.commit()
    call = play()
    call.arrive()
    assert call.press("0").find("Enqueue") is not None
    return call


def test_no_calls_and_no_requests_give_zeros_and_null_rates(client, chief):
    figures = stats(client, chief, **{"from": "2026-11-01", "to": "2026-11-30"})

    assert figures["calls"] == NO_CALLS
    assert figures["tickets"]["created"] == 0
    assert figures["tickets"]["median_resolution_hours"] is None
    assert figures["tickets"]["take_charge_met_rate"] is None
    assert figures["tickets"]["resolve_met_rate"] is None
    assert figures["tickets"]["backlog"] == {
        "0-2d": 0,
        "3-7d": 0,
        "8-30d": 0,
        "31d+": 0,
    }
    assert figures["satisfaction"] == {
        "asked": 0,
        "answered": 0,
        "average": None,
        "csat": None,
    }
    assert figures["messages"]["sms"] == {"sent": 0, "delivered": 0, "failed": 0}
    assert set(figures["messages"]) == {"sms", "whatsapp", "email"}


def test_a_day_of_calls_as_twilio_plays_them(client, chief, clock, play, agents):
    clock.local(2026, 11, 24, 9, 0)
    first, second = agents
    answered_call(play, clock, first, wait=12, talk=180)
    answered_call(play, clock, second, wait=30, talk=120)
    # Everyone busy: one waits 40 s and hangs up, one gives up after 3 s.
    queue = queued_call(play, agents)
    clock.advance(seconds=40)
    queue.send("/voice/queue-result", QueueResult="hangup", QueueTime="40")
    queue.hang_up()
    short = queued_call(play, agents)
    clock.advance(seconds=3)
    short.hang_up()  # no queue result: our clock measures the wait
    # Information only: the menu served them.
    info = play()
    info.arrive()
    info.press("3")
    info.hang_up()
    # Nobody signed in: a message for a callback, no wait for an agent.
    for agent in agents:
        set_status(agent, "offline")
    db.session.commit()
    message = play()
    message.arrive()
    record = message.press("0").find("Record")
    message.send(record.get("action"), RecordingSid=sid("RE"), RecordingDuration="9")
    message.hang_up()

    figures = stats(client, chief, **{"from": "2026-11-24", "to": "2026-11-24"})

    assert figures["calls"] == {
        "offered": 6,
        "answered": 2,
        "abandoned": 1,
        "short_abandoned": 1,
        "self_service": 1,
        "voicemails": 1,
        "abandonment_rate": 0.3333,  # 1 / (2 + 1): the short one aside
        "asa_seconds": 21.0,  # (12 + 30) / 2
        "service_level": 0.3333,  # 12 s only, of 12, 30 and 40 s
        "aht_seconds": 150.0,  # (180 + 120) / 2
    }
    # Another day, another line: nothing.
    assert (
        stats(client, chief, **{"from": "2026-11-25", "to": "2026-11-25"})["calls"]
        == NO_CALLS
    )
    other = stats(
        client, chief, **{"from": "2026-11-24", "to": "2026-11-24", "line": OTHER_LINE}
    )
    assert other["calls"]["offered"] == 0
    # A "+" typed unencoded in the query string arrives as a space.
    same = stats(
        client, chief, **{"from": "2026-11-24", "to": "2026-11-24", "line": LINE[1:]}
    )
    assert same["calls"]["offered"] == 6


def test_an_abandon_in_3_seconds_is_short_and_the_threshold_is_a_setting(
    app, client, chief, clock, play, agents
):
    call = queued_call(play, agents)
    clock.advance(seconds=3)
    call.send("/voice/queue-result", QueueResult="hangup", QueueTime="3")
    period = {"from": "2026-11-23", "to": "2026-11-23"}

    short = stats(client, chief, **period)["calls"]
    app.config["SHORT_ABANDON_SECONDS"] = 3
    counted = stats(client, chief, **period)["calls"]

    assert (short["abandoned"], short["short_abandoned"]) == (0, 1)
    assert short["abandonment_rate"] is None  # nobody answered, nobody abandoned
    assert short["service_level"] is None
    assert (counted["abandoned"], counted["short_abandoned"]) == (1, 0)
    assert counted["abandonment_rate"] == 1.0
    assert counted["service_level"] == 0.0


def test_a_dial_answered_without_the_agents_leg_callback_is_answered(
    client, chief, clock, play, agents
):
    # Twilio's status callbacks of the agent's leg may be lost: the <Dial>
    # action still says the agent answered and how long they talked.
    set_status(agents[0], "available")
    db.session.commit()
    call = play()
    call.arrive()
    call.press("0")
    clock.advance(seconds=100)
    call.send("/voice/dial-result", DialCallStatus="completed", DialCallDuration="90")
    call.hang_up()

    calls = stats(client, chief, **{"from": "2026-11-23", "to": "2026-11-23"})["calls"]

    assert (calls["answered"], calls["abandoned"]) == (1, 0)
    assert calls["asa_seconds"] == 10.0
    assert calls["aht_seconds"] == 90.0


def test_service_level_counts_an_answer_at_the_threshold_itself(
    app, client, chief, clock, play, agents
):
    answered_call(play, clock, agents[0], wait=20, talk=60)
    answered_call(play, clock, agents[1], wait=21, talk=60)

    calls = stats(client, chief, **{"from": "2026-11-23", "to": "2026-11-23"})["calls"]

    assert calls["service_level"] == 0.5
    assert calls["asa_seconds"] == 20.5


# --- requests ------------------------------------------------------------------------


def new_request(client, chief, **fields) -> str:
    body = {"phone": CALLER, "channel": "web", "category": "payment", **fields}
    response = client.post("/api/tickets", json=body, headers=chief)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"].replace("-", "")


def change(client, chief, reference: str, **fields) -> None:
    response = client.patch(f"/api/tickets/{reference}", json=fields, headers=chief)
    assert response.status_code == 200, response.get_json()


def test_a_request_waiting_for_the_citizen_over_a_weekend_is_not_late(
    client, chief, clock, twilio_post
):
    # Friday 09:00: an urgent request (answer within 2 days of 9.5 h).
    clock.local(2026, 11, 27, 9, 0)
    urgent = new_request(client, chief, channel="counter")
    change(client, chief, urgent, priority="urgent")
    clock.local(2026, 11, 27, 9, 30)
    change(client, chief, urgent, status="in_progress")  # taken within 4 h
    clock.local(2026, 11, 27, 10, 0)
    change(client, chief, urgent, status="waiting")
    # Monday 09:00 another request, which nobody takes in charge.
    clock.local(2026, 11, 30, 9, 0)
    new_request(client, chief, channel="phone", category="pension")
    # Tuesday 10:00, the urgent one's first due (Tuesday 09:00) has passed
    # while the citizen was being waited for: not late.
    clock.local(2026, 12, 1, 10, 0)
    period = {"from": "2026-11-23", "to": "2026-12-06"}
    waiting = stats(client, chief, **period)["tickets"]
    assert waiting["resolve_met_rate"] is None
    assert waiting["by_status"]["waiting"] == 1
    # The citizen answers; resolved Wednesday 16:00, within the moved due.
    change(client, chief, urgent, status="in_progress")
    clock.local(2026, 12, 2, 16, 0)
    change(client, chief, urgent, status="resolved", resolution="Payé ce jour.")
    # The citizen rates it 4 by SMS.
    twilio_post("/sms/incoming", MessageSid=sid("SM"), From=CALLER, To=LINE, Body="4")

    tickets = stats(client, chief, **period)["tickets"]
    satisfaction = stats(client, chief, **period)["satisfaction"]

    assert tickets["created"] == 2
    assert tickets["by_channel"]["counter"] == 1
    assert tickets["by_channel"]["phone"] == 1
    assert tickets["by_category"] == {"payment": 1, "pension": 1}
    assert tickets["by_service"] == {"none": 2}
    assert tickets["resolved"] == 1
    assert tickets["median_resolution_hours"] == 127.0  # Fri 09:00 to Wed 16:00
    # Monday's take-charge due (Tuesday 09:00: a day is 9.5 h) has passed.
    assert tickets["take_charge_met_rate"] == 0.5
    assert tickets["resolve_met_rate"] == 1.0
    assert tickets["backlog"] == {"0-2d": 1, "3-7d": 0, "8-30d": 0, "31d+": 0}
    assert satisfaction == {"asked": 1, "answered": 1, "average": 4.0, "csat": 1.0}


def test_days_end_at_the_centres_midnight_not_utcs(client, chief, clock):
    # 23:30 in Porto-Novo is 22:30 UTC; 00:30 the next day is still 23:30 UTC.
    clock.local(2026, 11, 29, 23, 30)
    new_request(client, chief)
    clock.local(2026, 11, 30, 0, 30)
    new_request(client, chief)

    sunday = stats(client, chief, **{"from": "2026-11-29", "to": "2026-11-29"})
    monday = stats(client, chief, **{"from": "2026-11-30", "to": "2026-11-30"})

    assert sunday["tickets"]["created"] == 1
    assert monday["tickets"]["created"] == 1


def test_the_day_series_group_by_the_centres_day(app, clock, client, chief):
    clock.local(2026, 11, 29, 23, 30)
    new_request(client, chief)
    clock.local(2026, 11, 30, 0, 30)
    new_request(client, chief)
    new_request(client, chief)

    scope = service.scope_for(date(2026, 11, 28), date(2026, 11, 30))
    assert service.tickets_by_day(scope) == {
        date(2026, 11, 29): 1,
        date(2026, 11, 30): 2,
    }


def test_texts_to_citizens_by_channel_and_outcome(client, chief, clock, twilio_post):
    new_request(client, chief)
    new_request(client, chief, category="pension")
    sent = db.session.scalars(
        select(Message).where(Message.direction == "outbound").order_by(Message.id)
    ).all()
    assert len(sent) == 2  # the two acknowledgments
    twilio_post(
        "/sms/status", MessageSid=sent[0].message_sid, MessageStatus="delivered"
    )
    twilio_post(
        "/sms/status",
        MessageSid=sent[1].message_sid,
        MessageStatus="undelivered",
        ErrorCode="30003",
    )

    messages = stats(client, chief, **{"from": "2026-11-23", "to": "2026-11-23"})[
        "messages"
    ]

    assert messages["sms"] == {"sent": 2, "delivered": 1, "failed": 1}
    assert messages["email"] == {"sent": 0, "delivered": 0, "failed": 0}


def test_a_service_sees_its_own_requests(client, chief, clock):
    db.session.add(Service(key="pensions", name="Pensions"))
    db.session.commit()
    mine = new_request(client, chief, category="pension")
    new_request(client, chief)
    change(client, chief, mine, service="pensions")

    period = {"from": "2026-11-23", "to": "2026-11-23"}
    theirs = stats(client, chief, **period, service="pensions")["tickets"]
    everyone = stats(client, chief, **period)["tickets"]

    assert theirs["created"] == 1
    assert theirs["by_service"] == {"pensions": 1}
    assert everyone["by_service"] == {"pensions": 1, "none": 1}


def test_a_duplicate_withdrawn_is_no_request(client, chief, clock):
    kept = new_request(client, chief)
    withdrawn = new_request(client, chief)
    ticket = db.session.scalar(select(Ticket).filter_by(reference=withdrawn))
    ticket.withdrawn = True  # as attach_call leaves it (test_softphone_workspace)
    db.session.commit()

    tickets = stats(client, chief, **{"from": "2026-11-23", "to": "2026-11-23"})[
        "tickets"
    ]

    assert kept != withdrawn
    assert tickets["created"] == 1


# --- who may ask, and what is refused ------------------------------------------------


def test_only_supervisors_and_admins_see_the_figures(client, app):
    agent = make_user("awa@example.org", Role.AGENT)
    admin = make_user("admin@example.org", Role.ADMIN)
    period = {"from": "2026-11-01", "to": "2026-11-30"}

    def status(user=None) -> int:
        headers = {"Authorization": f"Bearer {make_token(user)}"} if user else {}
        return client.get(
            "/api/stats", query_string=period, headers=headers
        ).status_code

    assert status() == 401
    assert status(agent) == 403
    assert status(admin) == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"to": "2026-11-30"}, 400),
        ({"from": "2026-11-31", "to": "2026-12-01"}, 400),
        ({"from": "2026-12-01", "to": "2026-11-30"}, 400),
        ({"from": "2026-11-01", "to": "2026-11-30", "service": "nope"}, 404),
        ({"from": "2026-11-01", "to": "2026-11-30", "line": "+22900000000"}, 404),
    ],
)
def test_a_bad_question_gets_a_clear_answer(client, chief, query, code):
    response = client.get("/api/stats", query_string=query, headers=chief)

    assert response.status_code == code
    assert response.get_json()["error"]["message"]
