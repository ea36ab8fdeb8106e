"""The softphone as a workspace (issue #12): the agent who answers is in charge,
a call can be attached to one of the caller's open tickets, and the page says
everything in words."""

import re

import pytest
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Message, Role, Service, Ticket, TicketEvent
from app.models.tickets import ticket_calls
from app.services.presence import set_status
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.test_recordings_pages import login


def answer(twilio_post, agent) -> dict[str, str]:
    """The caller presses 0 and `agent` answers: the caller's call."""
    set_status(agent, "available")
    db.session.commit()
    call = {"CallSid": sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **call, CallStatus="ringing")
    twilio_post("/voice/menu?lang=fr&attempt=1", **call, Digits="0")
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": call["CallSid"],
        "To": f"client:{agent.identity}",
    }
    assert (
        twilio_post("/voice/agent-status", **leg, CallStatus="in-progress").status_code
        == 204
    )
    call["leg"] = leg["CallSid"]
    return call


def events_of(ticket: Ticket) -> list[tuple[str, str]]:
    rows = db.session.scalars(
        select(TicketEvent).filter_by(ticket_id=ticket.id).order_by(TicketEvent.id)
    )
    return [(event.action, event.actor) for event in rows]


def opened_by(call_sid: str) -> Ticket:
    db.session.expire_all()
    call = db.session.scalars(select(Call).filter_by(call_sid=call_sid)).one()
    return db.session.scalars(select(Ticket).filter_by(origin_call_id=call.id)).one()


# --- the agent who answers is the person in charge ------------------------------


def test_the_agent_who_answers_takes_the_calls_ticket_in_charge(twilio_post, sms):
    agent = make_user("awa@example.org", Role.AGENT)
    call = answer(twilio_post, agent)
    ticket = opened_by(call["CallSid"])
    assert ticket.assignee_id == agent.id
    assert ticket.status == "assigned"  # taken in charge, on the SLA clock too
    assert ticket.take_charge_met is True
    assert ("assigned", agent.email) in events_of(ticket)
    assert ("status", agent.email) in events_of(ticket)
    # Twilio delivers the callback again: nothing more happens.
    twilio_post(
        "/voice/agent-status",
        CallSid=call["leg"],
        ParentCallSid=call["CallSid"],
        To=f"client:{agent.identity}",
        CallStatus="in-progress",
    )
    assert events_of(opened_by(call["CallSid"])).count(("assigned", agent.email)) == 1
    # The caller talks to that person: no "sent to the service" text, only the
    # acknowledgment, held until the call ends.
    templates = db.session.scalars(select(Message.template)).all()
    assert templates == ["acknowledgment"]


def test_a_ticket_opened_before_the_answer_goes_to_the_agent_who_answers(
    twilio_post,
):
    agent = make_user("awa@example.org", Role.AGENT)
    other = make_user("koffi@example.org", Role.AGENT)
    call = answer(twilio_post, agent)
    ticket = opened_by(call["CallSid"])
    # The call is handed over and the other agent answers it: theirs now.
    twilio_post(
        "/voice/agent-status",
        CallSid=sid("CA"),
        ParentCallSid=call["CallSid"],
        To=f"client:{other.identity}",
        CallStatus="in-progress",
    )
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).assignee_id == other.id


# --- attaching the call to one of the caller's open tickets ---------------------


@pytest.fixture
def on_a_call(twilio_post):
    """An agent of pensions on a call from CALLER, who has an open ticket."""
    pensions = Service(key="pensions", name="Pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    caller = make_caller(CALLER)
    earlier = make_ticket(caller, line=LINE, service=pensions, category="pension")
    db.session.commit()
    call = answer(twilio_post, agent)
    return agent, earlier, call, {"Authorization": f"Bearer {make_token(agent)}"}


def test_attaching_links_the_call_to_the_open_ticket_instead(
    client, twilio_post, sms, on_a_call
):
    agent, earlier, call, headers = on_a_call
    opened = opened_by(call["CallSid"])
    response = client.post(
        "/softphone/attach",
        json={"call_sid": call["CallSid"], "reference": earlier.reference},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["reference"] == earlier.display_reference
    assert body["assignee"] == agent.email  # nobody had it: the agent takes it
    db.session.expire_all()
    linked = db.session.scalars(
        select(ticket_calls.c.ticket_id).where(
            ticket_calls.c.call_id == opened.origin_call_id
        )
    ).all()
    assert earlier.id in linked
    assert ("call_attached", agent.email) in events_of(earlier)
    # The ticket the answer opened was never told to the caller: it goes.
    opened = db.session.get(Ticket, opened.id)
    assert opened.status == "closed"
    assert ("duplicate", agent.email) in events_of(opened)
    assert opened.withdrawn  # not a request of its own (statistics)
    assert not earlier.withdrawn
    twilio_post(
        "/voice/status", **call_form(call), CallStatus="completed", CallDuration="60"
    )
    assert sms.sent == []  # its acknowledgment is never sent
    # Twice: the same answer, nothing more.
    again = client.post(
        "/softphone/attach",
        json={"call_sid": call["CallSid"], "reference": earlier.display_reference},
        headers=headers,
    )
    assert again.status_code == 403  # the call is over: nobody holds it now


def call_form(call: dict[str, str]) -> dict[str, str]:
    return {key: call[key] for key in ("CallSid", "From", "To")}


def test_attaching_is_refused_clearly(client, on_a_call):
    agent, earlier, call, headers = on_a_call

    def attach(**body):
        return client.post("/softphone/attach", json=body, headers=headers)

    reference = earlier.display_reference
    cases = [
        ({"reference": reference}, 400, "invalid_call_sid"),
        ({"call_sid": call["CallSid"]}, 400, "invalid_reference"),
        ({"call_sid": call["CallSid"], "reference": "1234-5678"}, 400, None),
        ({"call_sid": "CAnothing", "reference": reference}, 404, "not_found"),
    ]
    for body, status, code in cases:
        response = attach(**body)
        assert response.status_code == status, (body, response.get_json())
        if code:
            assert response.get_json()["error"]["code"] == code
    assert (
        client.post("/softphone/attach", data="x", headers=headers).status_code == 400
    )

    salaries = db.session.scalars(select(Service).filter_by(key="salaries")).one()
    hidden = make_ticket(earlier.caller, line=LINE, service=salaries)
    response = attach(call_sid=call["CallSid"], reference=hidden.reference)
    assert response.status_code == 404  # another service's: not shared

    stranger = make_ticket(make_caller("+2290197111111"), line=LINE)
    response = attach(call_sid=call["CallSid"], reference=stranger.reference)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "other_caller"

    closed = make_ticket(earlier.caller, line=LINE, status="closed")
    response = attach(call_sid=call["CallSid"], reference=closed.reference)
    assert response.get_json()["error"]["code"] == "ticket_not_open"

    # Another agent's call: only the agent on it may attach it.
    colleague = make_user("koffi@example.org", Role.AGENT)
    colleague.services.append(earlier.service)  # they see the ticket
    db.session.commit()
    theirs = {"Authorization": f"Bearer {make_token(colleague)}"}
    response = client.post(
        "/softphone/attach",
        json={"call_sid": call["CallSid"], "reference": earlier.reference},
        headers=theirs,
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_your_call"
    assert client.post("/softphone/attach", json={}).status_code == 401
    db.session.expire_all()
    assert ("call_attached", agent.email) not in events_of(earlier)


def test_attaching_from_the_page_needs_the_csrf_header(app, client, on_a_call):
    agent, earlier, call, _ = on_a_call
    login(client, agent)
    app.config["WTF_CSRF_ENABLED"] = True
    body = {"call_sid": call["CallSid"], "reference": earlier.reference}
    response = client.post("/softphone/attach", json=body)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"
    page = client.get("/softphone").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    response = client.post(
        "/softphone/attach", json=body, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200


# --- the page -------------------------------------------------------------------


def test_the_page_shows_words_and_no_form_without_a_call(client):
    agent = make_user("awa@example.org", Role.AGENT)
    login(client, agent)
    page = client.get("/softphone?lang=fr").get_data(as_text=True)
    assert page.count("<h1") == 1
    form = re.search(r'<form id="current-ticket"[^>]*>', page).group(0)
    assert " hidden" in form
    assert re.search(r'<button type="submit" class="primary" disabled>', page)
    # The category is never chosen for the agent.
    category = re.search(r'<select name="category">\s*<option value="">([^<]+)', page)
    assert category.group(1) == "Choisir une catégorie"
    # Every status but closed, in words, from the one list of statuses.
    statuses = re.search(r'<select name="status">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'value="(\w+)"', statuses) == [
        "new",
        "assigned",
        "in_progress",
        "waiting",
        "resolved",
        "reopened",
    ]
    assert ">En attente du citoyen</option>" in statuses
    presence = re.search(r'<select id="presence">(.*?)</select>', page, re.S).group(1)
    assert ">Hors ligne</option>" in presence
    refresh()  # the tests' app context outlives a request: forget its language
    english = client.get("/softphone?lang=en").get_data(as_text=True)
    assert '"on_call": "On the line"' in english
    assert '"on_call": "En ligne"' in page
    assert ">Offline</option>" in english
