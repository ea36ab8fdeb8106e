"""The caller page, /callers/<phone>: the person, their profile form, every
ticket and call of every one of their numbers, as the viewer may see them."""

import re
from datetime import UTC, datetime

import pytest
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Caller, Role, Service
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_user, sid
from tests.test_desk import token
from tests.test_recordings_pages import login

OTHER_SIM = "+2290196000000"


@pytest.fixture
def person(app):
    """A person with two SIMs: tickets in pensions, salaries and the intake,
    calls on both numbers."""
    pensions = Service(key="pensions", name="Pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    root = make_caller(CALLER)
    root.name, root.matricule = "Awa Houngbédji", "123456-B"
    sim = make_caller(OTHER_SIM)
    sim.person_id = root.id
    at = lambda day: datetime(2026, 3, day, 9, 30, tzinfo=UTC)  # noqa: E731
    tickets = {
        "pensions": make_ticket(
            root, line=LINE, service=pensions, category="pension", created_at=at(1)
        ),
        "salaries": make_ticket(sim, line=LINE, service=salaries, created_at=at(2)),
        "intake": make_ticket(sim, line=LINE, status="in_progress", created_at=at(3)),
    }
    calls = {}
    for name, caller, day in (("first", root, 4), ("second", sim, 5)):
        calls[name] = Call(
            call_sid=sid("CA"),
            caller=caller,
            from_raw=caller.phone_e164,
            line=LINE,
            status="completed",
            duration=95,
            started_at=at(day),
        )
    db.session.add_all(calls.values())
    db.session.commit()
    return {"pensions": pensions, "tickets": tickets, "calls": calls}


def page_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def references(page: str) -> list[str]:
    return re.findall(r'<a href="/tickets/(\d{4}-\d{4})">', page)


def test_a_supervisor_sees_the_person_and_everything_of_their_numbers(client, person):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    page = page_of(client, "/callers/0196000000?lang=en")  # any form of a number
    assert page.count("<h1") == 1
    assert "<h1>Awa Houngbédji</h1>" in page
    assert "123456-B" in page
    assert f"<li>{CALLER}</li><li>{OTHER_SIM}</li>" in page
    tickets = person["tickets"]
    # Newest first, every number's, with a link to each ticket's page.
    assert references(page) == [
        tickets[name].display_reference for name in ("intake", "salaries", "pensions")
    ]
    assert ">In progress</span>" in page  # words, not in_progress
    assert ">Pensions</td>" in page  # the category's label
    sids = re.findall(r'data-call="(CA\w+)"', page)
    assert sids == [
        person["calls"]["second"].call_sid,
        person["calls"]["first"].call_sid,
    ]
    assert ">Completed</td>" in page
    assert ">1:35</td>" in page
    # 10:30 in Porto-Novo for 09:30 UTC, and the zone said.
    assert "10:30" in page
    assert "Africa/Porto-Novo" in page


def test_an_agent_sees_only_their_services_tickets(client, person):
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(person["pensions"])
    db.session.commit()
    login(client, agent)
    page = page_of(client, f"/callers/{CALLER}")
    tickets = person["tickets"]
    assert references(page) == [
        tickets["intake"].display_reference,
        tickets["pensions"].display_reference,
    ]
    assert tickets["salaries"].display_reference not in page


def test_a_person_nobody_lets_you_see_is_not_found(client, person):
    stranger = make_caller("+2290197555555")
    make_ticket(stranger, line=LINE, service=person["pensions"])
    login(client, make_user("koffi@example.org", Role.AGENT))  # no service
    assert client.get("/callers/+2290197555555").status_code == 404
    assert client.get("/callers/+2290197999999").status_code == 404  # never met
    assert client.get("/callers/not-a-number").status_code == 404
    client.post("/logout")
    response = client.get(f"/callers/{CALLER}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def profile(**fields: str) -> dict[str, str]:
    return {
        "name": "Awa Houngbédji",
        "matricule": "123456-B",
        "email": "",
        "phones": f"{CALLER}\n{OTHER_SIM}",
        **fields,
    }


def test_the_profile_form_changes_the_profile(client, person):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    form = profile(
        name="  Awa   H. Houngbédji ",
        email="Awa@Example.BJ",
        phones="0197000000\n0196000000, 0195000000",
    )
    response = client.post(f"/callers/{CALLER}", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/callers/{CALLER}"
    db.session.expire_all()
    root = db.session.scalars(select(Caller).filter_by(phone_e164=CALLER)).one()
    assert (root.name, root.email) == ("Awa H. Houngbédji", "Awa@example.bj")
    new = db.session.scalars(select(Caller).filter_by(phone_e164="+2290195000000"))
    assert new.one().person_id == root.id  # the same rules as the API
    page = page_of(client, f"/callers/{CALLER}")
    assert "Profil enregistré." in page  # said once, after the redirect


def test_a_refused_form_comes_back_with_what_was_typed(client, person):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    form = profile(name="Awa Nouveau", email="awa@", matricule="12<>")
    response = client.post(f"/callers/{CALLER}?lang=en", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="Awa Nouveau"' in page
    assert 'value="awa@"' in page
    assert "Not an e-mail address." in page
    assert 'aria-invalid="true"' in page
    assert "letters, digits" in page
    # Leaving out the page's own number is refused, in words.
    refresh()
    response = client.post(
        f"/callers/{CALLER}?lang=fr", data=profile(phones="0196000000\nabc")
    )
    assert response.status_code == 400
    assert "abc n&#39;est pas un numéro de téléphone." in response.get_data(
        as_text=True
    )
    # What was typed is shown escaped, in the message too.
    response = client.post(
        f"/callers/{CALLER}", data=profile(phones=f"{CALLER}\n<b>x</b>")
    )
    assert "<b>x</b>" not in response.get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt; n&#39;est pas" in response.get_data(as_text=True)
    response = client.post(f"/callers/{CALLER}", data=profile(phones=OTHER_SIM))
    assert response.status_code == 400
    db.session.expire_all()
    root = db.session.scalars(select(Caller).filter_by(phone_e164=CALLER)).one()
    assert (root.name, root.email) == ("Awa Houngbédji", None)  # nothing changed


def test_an_agent_cannot_join_a_number_of_someone_they_may_not_see(client, person):
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(person["pensions"])
    hidden = make_caller("+2290197555555")
    hidden.name = "Someone else"
    make_ticket(
        hidden,
        line=LINE,
        service=db.session.scalars(select(Service).filter_by(key="salaries")).one(),
    )
    db.session.commit()
    login(client, agent)
    phones = f"{CALLER}\n{OTHER_SIM}\n+2290197555555"
    response = client.post(f"/callers/{CALLER}?lang=en", data=profile(phones=phones))
    assert response.status_code == 400
    assert "a caller you may not see" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Caller, hidden.id).person_id is None


def test_htmx_gets_the_persons_part_of_the_page(client, person):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    headers = {"HX-Request": "true"}
    response = client.post(
        f"/callers/{CALLER}?lang=en",
        data=profile(name="Awa K. Houngbédji"),
        headers=headers,
    )
    assert response.status_code == 200
    part = response.get_data(as_text=True)
    assert "<html" not in part
    assert 'id="caller-page"' in part
    assert "<h1>Awa K. Houngbédji</h1>" in part
    assert "Profile saved." in part
    # Refused: htmx swaps only a 2xx, so the errors come back as one.
    response = client.post(
        f"/callers/{CALLER}?lang=en", data=profile(email="nope"), headers=headers
    )
    assert response.status_code == 200
    assert "Not an e-mail address." in response.get_data(as_text=True)


def test_the_form_needs_its_csrf_token(app, client, person):
    app.config["WTF_CSRF_ENABLED"] = True
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    client.post(
        "/login",
        data={
            "email": supervisor.email,
            "password": "correct horse battery",
            "csrf_token": token(client),
        },
    )
    response = client.post(f"/callers/{CALLER}", data=profile(name="Sans jeton"))
    assert response.status_code == 400
    form = profile(name="Avec jeton", csrf_token=token(client, f"/callers/{CALLER}"))
    response = client.post(f"/callers/{CALLER}", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    root = db.session.scalars(select(Caller).filter_by(phone_e164=CALLER)).one()
    assert root.name == "Avec jeton"
