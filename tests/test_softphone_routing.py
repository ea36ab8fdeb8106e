"""Agents: tokens, presence, routing through signed webhooks, screen-pop, visibility."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from app.events import KEEPALIVE, agent_channel
from app.extensions import db
from app.models import Call, Presence, Recording, Role, Service, Ticket
from app.models.agents import agent_lines
from app.services.presence import set_status
from app.telephony import SoftphoneKeys, TwilioGateway
from ivr.routing import hearable_recordings
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.twiml import parse, spoken

API_KEY, API_SECRET, APP_SID = "SK" + "a" * 32, "s" * 32, "AP" + "b" * 32


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


def go_available(user, minutes_idle: int = 0) -> None:
    presence = set_status(user, "available")
    presence.since = datetime.now(UTC) - timedelta(minutes=minutes_idle)
    db.session.commit()


class Caller_:
    def __init__(self, post) -> None:
        self.post = post
        self.sid = sid("CA")
        self.form = {
            "CallSid": self.sid,
            "From": CALLER,
            "To": LINE,
            "CallStatus": "in-progress",
        }

    def twiml(self, path: str, **extra: str):
        response = self.post(path, **{**self.form, **extra})
        assert response.status_code == 200, response.data
        return parse(response.data)

    def press_0(self):
        self.post("/voice/incoming", **{**self.form, "CallStatus": "ringing"})
        return self.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")


@pytest.fixture
def caller(twilio_post):
    return Caller_(twilio_post)


# --- access tokens -----------------------------------------------------------------


@pytest.fixture
def gateway(app):
    """The real gateway (tokens are local JWTs: no request leaves the machine)."""
    real = TwilioGateway("AC" + "c" * 32, "token")
    app.extensions["twilio"] = real
    return real


def test_token_is_503_not_configured_without_the_softphone_keys(
    client, agents, gateway
):
    response = client.get("/softphone/token", headers=bearer(agents[0]))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_configured"


def test_token_claims(client, agents, gateway):
    gateway.softphone = SoftphoneKeys(API_KEY, API_SECRET, APP_SID)
    response = client.get("/softphone/token", headers=bearer(agents[0]))
    body = response.get_json()
    assert body["identity"] == f"agent_{agents[0].id}"
    claims = jwt.decode(body["token"], API_SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"]) == (API_KEY, "AC" + "c" * 32)
    assert claims["grants"]["identity"] == body["identity"]
    voice = claims["grants"]["voice"]
    assert voice["incoming"]["allow"] is True
    assert voice["outgoing"]["application_sid"] == APP_SID
    assert claims["exp"] - claims["nbf"] <= 15 * 60 + 1  # a short-lived token
    assert client.get("/softphone/token").status_code == 401


# --- presence ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["available", "busy", "offline"])
def test_presence_is_set_by_the_agent(client, agents, status):
    response = client.post(
        "/softphone/presence", json={"status": status}, headers=bearer(agents[0])
    )
    assert response.get_json()["status"] == status
    assert db.session.get(Presence, agents[0].id).status == status


@pytest.mark.parametrize("body", [{"status": "away"}, {}, ["available"], None])
def test_presence_rejects_bad_input(client, agents, body):
    response = client.post("/softphone/presence", json=body, headers=bearer(agents[0]))
    assert response.status_code == 400


def test_presence_needs_a_login(client):
    assert (
        client.post("/softphone/presence", json={"status": "available"}).status_code
        == 401
    )


# --- routing -----------------------------------------------------------------------


def test_longest_idle_available_agent_rings_with_the_call_parameters(caller, agents):
    first, second = agents
    go_available(first, minutes_idle=2)
    go_available(second, minutes_idle=30)  # idle longer: rings first
    root = caller.press_0()
    client = root.find("Dial/Client")
    assert client.findtext("Identity") == second.identity
    params = {p.get("name"): p.get("value") for p in client.iter("Parameter")}
    assert params == {"callSid": caller.sid, "caller": CALLER, "line": LINE}
    assert "enregistré" in spoken(root)  # the green number records agent calls
    assert root.find("Dial").get("record") == "record-from-answer-dual"


def test_no_answer_rings_the_next_agent_then_the_queue_or_voicemail(caller, agents):
    first, second = agents
    go_available(first, 10)
    go_available(second, 1)
    root = caller.press_0()
    action = root.find("Dial").get("action")
    assert root.find("Dial/Client").findtext("Identity") == first.identity
    root = caller.twiml(action, DialCallStatus="no-answer")
    assert root.find("Dial/Client").findtext("Identity") == second.identity
    action = root.find("Dial").get("action")
    root = caller.twiml(action, DialCallStatus="busy")
    # Both tried and still available (they ignored it): the caller waits in the queue.
    assert root.find("Enqueue") is not None


def test_answered_agent_call_ends_when_they_hang_up(caller, agents):
    go_available(agents[0])
    action = caller.press_0().find("Dial").get("action")
    root = caller.twiml(action, DialCallStatus="completed", DialCallDuration="95")
    assert root.find("Hangup") is not None


def test_nobody_signed_in_takes_a_callback_message(caller, agents):
    root = caller.press_0()
    assert "Aucun conseiller" in spoken(root)
    assert root.find("Record") is not None


def test_stale_heartbeat_means_offline(caller, agents):
    go_available(agents[0])
    db.session.get(Presence, agents[0].id).last_seen = datetime.now(UTC) - timedelta(
        minutes=5
    )
    db.session.commit()
    assert caller.press_0().find("Dial") is None


def test_agent_lines_limit_who_rings(caller, agents):
    first, second = agents
    db.session.execute(
        agent_lines.insert().values(user_id=first.id, line="+2290121300001")
    )
    go_available(first, 60)
    go_available(second, 1)
    assert caller.press_0().find("Dial/Client").findtext("Identity") == second.identity


def test_agent_leg_callbacks_set_busy_then_free(twilio_post, caller, agents):
    agent = agents[0]
    go_available(agent)
    caller.press_0()
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": caller.sid,
        "To": f"client:{agent.identity}",
    }
    # Claimed for this call before it was dialled: nobody else rings them.
    presence = db.session.get(Presence, agent.id)
    assert (presence.status, presence.call_sid) == ("ringing", caller.sid)
    twilio_post("/voice/agent-status", **leg, CallStatus="ringing")
    assert db.session.get(Presence, agent.id).status == "ringing"
    twilio_post("/voice/agent-status", **leg, CallStatus="in-progress")
    presence = db.session.get(Presence, agent.id)
    assert (presence.status, presence.call_sid) == ("busy", caller.sid)
    call = db.session.scalars(select(Call).filter_by(call_sid=caller.sid)).one()
    assert call.agent_id == agent.id  # they may now hear its recording
    twilio_post("/voice/agent-status", **leg, CallStatus="completed")
    assert db.session.get(Presence, agent.id).status == "available"


def end_agent_call(twilio_post, agent, parent: str) -> None:
    """The agent's leg of an earlier call ends: Twilio's completed callback."""
    twilio_post(
        "/voice/agent-status",
        CallSid=sid("CA"),
        ParentCallSid=parent,
        To=f"client:{agent.identity}",
        CallStatus="completed",
    )


def test_queue_everyone_busy_then_an_agent_frees_up(twilio_post, caller, agents):
    agent = agents[0]
    earlier = sid("CA")
    set_status(agent, "busy", call_sid=earlier)
    db.session.commit()
    root = caller.press_0()
    enqueue = root.find("Enqueue")
    wait = caller.twiml(enqueue.get("waitUrl"), QueuePosition="1", QueueTime="30")
    assert "position 1" in spoken(wait)
    assert "tapez 1" in spoken(wait)
    # Between two announcements a short wait, then Twilio asks again; a key
    # pressed meanwhile still counts.
    wait = caller.twiml(enqueue.get("waitUrl"), QueuePosition="1", QueueTime="12")
    assert spoken(wait) == ""
    assert wait.find("Gather").get("timeout") == "5"
    # The agent may not free themselves mid-call from the page...
    go_available(agent)
    assert db.session.get(Presence, agent.id).status == "busy"
    # ...their call's end does: the head of the queue claims them and leaves.
    end_agent_call(twilio_post, agent, earlier)
    assert (
        caller.twiml(enqueue.get("waitUrl"), QueueTime="40").find("Leave") is not None
    )
    presence = db.session.get(Presence, agent.id)
    assert (presence.status, presence.call_sid) == ("ringing", caller.sid)
    root = caller.twiml(enqueue.get("action"), QueueResult="leave")
    assert root.find("Dial/Client").findtext("Identity") == agent.identity


def test_press_1_in_the_queue_leaves_a_message(caller, agents):
    set_status(agents[0], "busy", call_sid=sid("CA"))
    db.session.commit()
    enqueue = caller.press_0().find("Enqueue")
    wait = caller.twiml(enqueue.get("waitUrl"), QueuePosition="1")
    choice = wait.find("Gather").get("action")
    assert caller.twiml(choice, Digits="1").find("Leave") is not None
    root = caller.twiml(enqueue.get("action"), QueueResult="leave")
    assert root.find("Record") is not None


def test_hang_up_in_the_queue_files_a_callback(caller, agents, sms):
    set_status(agents[0], "busy", call_sid=sid("CA"))
    db.session.commit()
    enqueue = caller.press_0().find("Enqueue")
    caller.twiml(enqueue.get("action"), QueueResult="hangup", QueueTime="45")
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert "waiting for an agent" in ticket.description
    assert len(sms.sent) == 1


def test_out_of_hours_option_0_is_a_message(twilio_post, agents, monkeypatch):
    monkeypatch.setattr(
        "ivr.routing.utcnow", lambda: datetime(2026, 11, 22, 22, tzinfo=UTC)
    )
    go_available(agents[0])
    caller = Caller_(twilio_post)
    caller.form["To"] = "+2290121300001"  # the hotline closes at 17:30
    root = caller.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")
    assert "fermé" in spoken(root)
    assert root.find("Dial") is None


# --- screen-pop --------------------------------------------------------------------


def test_ringing_pushes_the_callers_history_to_that_agent(app, caller, agents):
    agent = agents[0]
    earlier = make_ticket(make_caller(), line=LINE)
    go_available(agent)
    stream = app.extensions["events"].subscribe(agent_channel(agent.id)).messages(0.05)
    assert next(stream) is KEEPALIVE  # nothing yet
    caller.press_0()
    event, data = next(stream)
    assert event == "screenpop"
    assert data["call_sid"] == caller.sid
    assert data["line"] == LINE
    assert data["caller"]["phone"] == CALLER
    assert [t["reference"] for t in data["tickets"]] == [earlier.display_reference]
    assert data["recordings"] == []  # none stored for this caller yet
    stream.close()


def test_screen_pop_lists_only_the_recordings_the_agent_may_hear(app, agents):
    agent, other = agents
    caller_ = make_caller()
    ticket = make_ticket(caller_, line=LINE, assignee=agent)
    mine = Call(call_sid=sid("CA"), caller=caller_, from_raw=CALLER, line=LINE)
    theirs = Call(
        call_sid=sid("CA"),
        caller=caller_,
        from_raw=CALLER,
        line=LINE,
        agent_id=other.id,
    )
    db.session.add_all([mine, theirs])
    db.session.flush()
    heard = Recording(
        recording_sid=sid("RE"),
        call_id=mine.id,
        ticket_id=ticket.id,
        media_status="stored",
    )
    hidden = Recording(
        recording_sid=sid("RE"), call_id=theirs.id, media_status="stored"
    )
    db.session.add_all([heard, hidden])
    db.session.commit()
    listed = hearable_recordings(agent, caller_.id)
    assert [r["recording_sid"] for r in listed] == [heard.recording_sid]
    assert listed[0]["audio"] == f"/api/recordings/{heard.id}/audio"


def test_events_endpoint_streams_server_sent_events(app, client, agents):
    agent = agents[0]
    response = client.get("/softphone/events", headers=bearer(agent), buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b"event: ready")
    app.extensions["events"].publish(
        agent_channel(agent.id), "screenpop", {"call_sid": "CA1"}
    )
    while (chunk := next(chunks)).startswith(b":"):
        pass  # keep-alives
    assert chunk == b'event: screenpop\ndata: {"call_sid": "CA1"}\n\n'
    response.close()


def test_softphone_page_needs_a_login_and_renders(client, agents):
    assert client.get("/softphone").status_code == 302
    client.post(
        "/login", data={"email": agents[0].email, "password": "correct horse battery"}
    )
    page = client.get("/softphone").get_data(as_text=True)
    # The script's addresses and words, in a JSON block the page holds.
    assert '"token": "/softphone/token"' in page
    assert "/softphone/vendor/twilio.min.js" in page
    script = client.get("/softphone/static/softphone.js")
    assert script.status_code == 200
    assert b"EventSource" in script.data
    script.close()


# --- who sees what -----------------------------------------------------------------


def test_an_agent_never_sees_another_services_tickets(client, agents):
    first, _ = agents
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    pensions, salaries = (
        Service(key="pensions", name="Pensions"),
        Service(key="salaries", name="Salaires"),
    )
    db.session.add_all([pensions, salaries])
    first.services.append(pensions)
    db.session.commit()
    caller_ = make_caller()
    mine = make_ticket(caller_, service_id=pensions.id)
    theirs = make_ticket(caller_, service_id=salaries.id)
    intake = make_ticket(caller_)
    seen = {
        t["reference"]
        for t in client.get("/api/tickets", headers=bearer(first)).get_json()["tickets"]
    }
    assert seen == {mine.display_reference, intake.display_reference}
    assert (
        client.get(
            f"/api/tickets/{theirs.reference}", headers=bearer(first)
        ).status_code
        == 404
    )
    history = client.get(
        f"/api/callers/{CALLER}/history", headers=bearer(first)
    ).get_json()
    assert theirs.display_reference not in {t["reference"] for t in history["tickets"]}
    everything = client.get("/api/tickets", headers=bearer(supervisor)).get_json()[
        "tickets"
    ]
    assert len(everything) == 3


def test_answering_opens_the_calls_ticket_on_the_agents_screen(
    app, twilio_post, caller, agents, sms
):
    agent = agents[0]
    go_available(agent)
    caller.press_0()
    stream = app.extensions["events"].subscribe(agent_channel(agent.id)).messages(0.05)
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": caller.sid,
        "To": f"client:{agent.identity}",
    }
    twilio_post("/voice/agent-status", **leg, CallStatus="in-progress")
    twilio_post(
        "/voice/agent-status", **leg, CallStatus="in-progress"
    )  # twice: one ticket
    event, data = next(stream)
    assert event == "ticket"
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.channel, ticket.phone) == ("request", "phone", CALLER)
    assert data["reference"] == ticket.display_reference
    assert sms.sent == []  # the reference is texted once the call is over
    stream.close()


def test_agent_sets_category_service_status_and_note_during_the_call(client, agents):
    agent = agents[0]
    pensions = Service(key="pensions", name="Pensions")
    db.session.add(pensions)
    agent.services.append(pensions)  # else the ticket leaves their sight once set
    db.session.commit()
    ticket = make_ticket(make_caller(), line=LINE, kind="request")
    change = {
        "category": "payment",
        "service": "pensions",
        "status": "in_progress",
        "note": "Appelle pour sa pension d'octobre.",
    }
    response = client.patch(
        f"/api/tickets/{ticket.reference}", json=change, headers=bearer(agent)
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["category"], body["service"], body["status"]) == (
        "payment",
        "pensions",
        "in_progress",
    )
    actions = [event["action"] for event in body["events"]]
    assert {"category", "service", "status", "note"} <= set(actions)
    bad = client.patch(
        f"/api/tickets/{ticket.reference}",
        json={"service": "nope"},
        headers=bearer(agent),
    )
    assert bad.get_json()["error"]["code"] == "invalid_service"
    cleared = client.patch(
        f"/api/tickets/{ticket.reference}",
        json={"service": None},
        headers=bearer(agent),
    )
    assert cleared.get_json()["service"] is None


def test_supervisors_see_the_live_queue_and_the_agents(client, caller, agents):
    first, second = agents
    set_status(first, "busy", call_sid=sid("CA"))
    db.session.commit()
    caller.press_0()  # everyone busy: this caller waits
    make_user("chef@example.org", Role.SUPERVISOR)
    client.post(
        "/login", data={"email": first.email, "password": "correct horse battery"}
    )
    assert client.get("/softphone/supervision").status_code == 403
    client.post("/logout")
    client.post(
        "/login",
        data={"email": "chef@example.org", "password": "correct horse battery"},
    )
    page = client.get("/softphone/supervision?lang=en").get_data(as_text=True)
    assert CALLER in page
    assert "Busy" in page  # presence in words
    assert second.name in page
    assert 'http-equiv="refresh"' not in page  # no full-page reload...
    assert 'hx-trigger="every 10s"' in page  # ...htmx asks for the tables
    tables = client.get("/softphone/supervision", headers={"HX-Request": "true"})
    assert CALLER in tables.get_data(as_text=True)
    assert "<h1" not in tables.get_data(as_text=True)
