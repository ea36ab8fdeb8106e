"""Routing with reservations: an agent rings for one caller at a time, the queue
is served in arrival order, a dropped softphone is not rung (signed webhooks)."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Presence, Ticket
from app.services.presence import set_status
from tests.factories import sid
from tests.test_softphone_routing import (
    Caller_,
    bearer,
    end_agent_call,
    go_available,
)


@pytest.fixture
def callers(twilio_post):
    return [Caller_(twilio_post) for _ in range(3)]


def presence(agent) -> tuple[str, str | None]:
    row = db.session.get(Presence, agent.id)
    db.session.refresh(row)
    return row.status, row.call_sid


def on_another_call(agent) -> str:
    """The agent talks to someone else: that call's SID."""
    talking = sid("CA")
    set_status(agent, "busy", call_sid=talking)
    db.session.commit()
    return talking


def rung(root) -> str | None:
    return root.findtext("Dial/Client/Identity")


def test_one_agent_two_callers_only_the_first_rings_them(callers, agents):
    agent = agents[0]
    go_available(agent)
    first, second = callers[:2]
    assert rung(first.press_0()) == agent.identity
    root = second.press_0()
    assert rung(root) is None
    assert root.find("Enqueue") is not None  # the agent is online, on that call
    assert presence(agent) == ("ringing", first.sid)


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "canceled"])
def test_an_unanswered_ring_frees_the_agent(callers, agents, outcome):
    agent = agents[0]
    go_available(agent)
    caller = callers[0]
    action = caller.press_0().find("Dial").get("action")
    root = caller.twiml(action, DialCallStatus=outcome)
    # Free again, but this caller tried them already: they wait for another.
    assert presence(agent) == ("available", None)
    assert root.find("Enqueue") is not None


def test_a_failed_leg_takes_the_agent_out_of_routing(callers, agents):
    first, second = agents
    go_available(first, 30)
    go_available(second, 1)
    caller = callers[0]
    action = caller.press_0().find("Dial").get("action")
    root = caller.twiml(action, DialCallStatus="failed")
    assert rung(root) == second.identity
    assert presence(first) == ("offline", None)


def test_a_caller_who_hangs_up_while_it_rings_frees_the_agent(
    twilio_post, callers, agents
):
    agent = agents[0]
    go_available(agent)
    caller = callers[0]
    caller.press_0()
    twilio_post(
        "/voice/status", **{**caller.form, "CallStatus": "completed"}, CallDuration="9"
    )
    assert presence(agent) == ("available", None)
    assert rung(callers[1].press_0()) == agent.identity


def test_a_late_callback_of_an_old_call_never_frees_an_agent_on_a_new_one(
    twilio_post, callers, agents
):
    agent = agents[0]
    go_available(agent)
    earlier = sid("CA")
    callers[0].press_0()
    end_agent_call(twilio_post, agent, earlier)
    assert presence(agent) == ("ringing", callers[0].sid)


def test_the_queue_serves_callers_in_arrival_order(twilio_post, callers, agents):
    agent = agents[0]
    talking = on_another_call(agent)
    waits = [caller.press_0().find("Enqueue") for caller in callers]
    assert all(enqueue is not None for enqueue in waits)
    announced = [
        caller.twiml(enqueue.get("waitUrl"), QueueTime="0")
        for caller, enqueue in zip(callers, waits, strict=True)
    ]
    assert "position 3" in " ".join(
        say.text for say in announced[2].iter("Say") if say.text
    )
    end_agent_call(twilio_post, agent, talking)
    # Everyone asks again at once, the last first: only the head leaves.
    order = [2, 1, 0]
    left = [
        callers[i].twiml(waits[i].get("waitUrl"), QueueTime="40").find("Leave")
        is not None
        for i in order
    ]
    assert left == [False, False, True]
    root = callers[0].twiml(waits[0].get("action"), QueueResult="leave")
    assert rung(root) == agent.identity
    # The agent talks to the first caller, then hangs up: the second is next.
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": callers[0].sid,
        "To": f"client:{agent.identity}",
    }
    twilio_post("/voice/agent-status", **leg, CallStatus="in-progress")
    assert callers[2].twiml(waits[2].get("waitUrl")).find("Leave") is None
    twilio_post("/voice/agent-status", **leg, CallStatus="completed")
    assert callers[2].twiml(waits[2].get("waitUrl")).find("Leave") is None
    assert callers[1].twiml(waits[1].get("waitUrl")).find("Leave") is not None


def test_a_caller_whose_agent_does_not_answer_keeps_their_place(
    twilio_post, callers, agents
):
    agent = agents[0]
    talking = on_another_call(agent)
    first, second = callers[:2]
    waits = [first.press_0().find("Enqueue"), second.press_0().find("Enqueue")]
    end_agent_call(twilio_post, agent, talking)
    assert first.twiml(waits[0].get("waitUrl")).find("Leave") is not None
    dial = first.twiml(waits[0].get("action"), QueueResult="leave").find("Dial")
    root = first.twiml(dial.get("action"), DialCallStatus="no-answer")
    assert root.find("Enqueue") is not None  # back to the queue...
    # ...at its head, not its end: the agent is free, and the second caller
    # stays while the first is asked again.
    assert second.twiml(waits[1].get("waitUrl")).find("Leave") is None
    queued = db.session.scalars(select(Call).order_by(Call.queued_at)).all()
    assert [call.call_sid for call in queued] == [first.sid, second.sid]


def test_a_new_caller_does_not_jump_the_queue(twilio_post, callers, agents):
    agent = agents[0]
    talking = on_another_call(agent)
    waiting = callers[0].press_0().find("Enqueue")
    end_agent_call(twilio_post, agent, talking)
    # The agent is free, but someone was waiting first.
    assert callers[1].press_0().find("Enqueue") is not None
    assert callers[0].twiml(waiting.get("waitUrl")).find("Leave") is not None


def test_a_caller_who_hangs_up_in_the_queue_after_claiming_frees_the_agent(
    twilio_post, callers, agents, sms
):
    agent = agents[0]
    talking = on_another_call(agent)
    caller = callers[0]
    enqueue = caller.press_0().find("Enqueue")
    end_agent_call(twilio_post, agent, talking)
    caller.twiml(enqueue.get("waitUrl"))
    assert presence(agent) == ("ringing", caller.sid)
    caller.twiml(enqueue.get("action"), QueueResult="hangup")
    assert presence(agent) == ("available", None)
    assert db.session.scalars(select(Ticket)).one().kind == "callback"


# --- the softphone's device ---------------------------------------------------------


def test_available_needs_a_registered_device(client, callers, agents):
    agent = agents[0]
    headers = bearer(agent)
    response = client.post(
        "/softphone/device", json={"registered": False}, headers=headers
    )
    assert response.status_code == 200
    response = client.post(
        "/softphone/presence", json={"status": "available"}, headers=headers
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "device_not_registered"
    assert callers[0].press_0().find("Dial") is None
    client.post("/softphone/device", json={"registered": True}, headers=headers)
    response = client.post(
        "/softphone/presence", json={"status": "available"}, headers=headers
    )
    assert response.json["status"] == "available"
    assert rung(callers[1].press_0()) == agent.identity


def test_a_device_that_drops_while_ringing_is_not_rung_again(client, callers, agents):
    first, second = agents
    go_available(first, 30)
    go_available(second, 1)
    caller = callers[0]
    action = caller.press_0().find("Dial").get("action")
    # The page of the ringing agent loses its device, then Twilio gives up.
    client.post(
        "/softphone/heartbeat", json={"registered": False}, headers=bearer(first)
    )
    assert presence(first) == ("offline", None)
    assert rung(caller.twiml(action, DialCallStatus="no-answer")) == second.identity
    assert rung(callers[1].press_0()) is None


@pytest.mark.parametrize("body", [{}, {"registered": "yes"}, None])
def test_device_rejects_bad_input(client, agents, body):
    response = client.post("/softphone/device", json=body, headers=bearer(agents[0]))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_device"


def test_a_caller_gone_from_the_queue_never_blocks_the_next(
    twilio_post, callers, agents
):
    """Twilio's queue result says they hung up; no status callback follows."""
    agent = agents[0]
    talking = on_another_call(agent)
    first, second = callers[:2]
    waits = [first.press_0().find("Enqueue"), second.press_0().find("Enqueue")]
    first.twiml(waits[0].get("action"), QueueResult="hangup")
    end_agent_call(twilio_post, agent, talking)
    assert second.twiml(waits[1].get("waitUrl")).find("Leave") is not None


def test_a_caller_sent_from_the_queue_to_voicemail_leaves_it(
    twilio_post, callers, agents
):
    agent = agents[0]
    talking = on_another_call(agent)
    first, second = callers[:2]
    waits = [first.press_0().find("Enqueue"), second.press_0().find("Enqueue")]
    root = first.twiml(waits[0].get("action"), QueueResult="error")
    assert root.find("Record") is not None
    end_agent_call(twilio_post, agent, talking)
    assert second.twiml(waits[1].get("waitUrl")).find("Leave") is not None
