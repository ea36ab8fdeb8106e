"""The agent desk: visible tickets, search by reference or phone, walk-in requests."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Service, Ticket
from tests.conftest import CALLER
from tests.factories import PASSWORD, make_caller, make_ticket, make_user


@pytest.fixture
def desk(app, client):
    """An agent of the pensions service, signed in through the form with CSRF on."""
    app.config["WTF_CSRF_ENABLED"] = True
    pensions = Service(key="pensions", name="Pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    db.session.commit()
    client.post(
        "/login",
        data={"email": agent.email, "password": PASSWORD, "csrf_token": token(client)},
    )
    return agent, pensions, salaries


def token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_the_desk_lists_only_what_the_agent_may_see(client, desk):
    _, pensions, salaries = desk
    caller = make_caller()
    mine = make_ticket(caller, service_id=pensions.id)
    intake = make_ticket(caller)
    other = make_ticket(caller, service_id=salaries.id)
    page = client.get("/").get_data(as_text=True)
    assert mine.display_reference in page
    assert intake.display_reference in page
    assert other.display_reference not in page


def test_search_by_reference_or_phone(client, desk):
    first = make_ticket(make_caller())
    second = make_ticket(make_caller("+2290167000000"))
    by_reference = client.get(f"/?q={first.reference}").get_data(as_text=True)
    assert first.display_reference in by_reference
    assert second.display_reference not in by_reference
    by_phone = client.get("/?q=01 67 00 00 00").get_data(as_text=True)
    assert second.display_reference in by_phone
    assert first.display_reference not in by_phone
    nonsense = client.get("/?q=hello").get_data(as_text=True)
    assert "Cherchez par référence" in nonsense


def test_a_walk_in_request_is_registered_and_acknowledged(client, desk, sms):
    response = client.post(
        "/tickets",
        data={
            "phone": "97 00 00 00",  # the old eight-digit form, as typed at the counter
            "channel": "counter",
            "category": "payment",
            "description": "Pension de novembre non versée",
            "csrf_token": token(client, "/tickets/new"),
        },
    )
    assert response.status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.channel, ticket.category, ticket.phone) == (
        "counter",
        "payment",
        CALLER,
    )
    assert ticket.events[0].actor == "awa@example.org"
    assert ticket.display_reference in response.headers["Location"]
    assert sms.sent[0]["to"] == CALLER


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "anonymous"), ("category", "nope"), ("channel", "fax")],
)
def test_bad_requests_are_refused_with_the_form_shown_again(client, desk, field, value):
    data = {
        "phone": CALLER,
        "channel": "email",
        "category": "payment",
        "description": "",
    }
    data[field] = value
    data["csrf_token"] = token(client, "/tickets/new")
    response = client.post("/tickets", data=data)
    assert response.status_code == 400
    assert db.session.scalars(select(Ticket)).all() == []


def test_the_form_needs_its_csrf_token(client, desk):
    data = {"phone": CALLER, "channel": "email", "category": "payment"}
    assert client.post("/tickets", data=data).status_code == 400
    assert db.session.scalars(select(Ticket)).all() == []
