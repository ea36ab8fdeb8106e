"""Callers are people (CONTRACT §8.5): a profile, several numbers, one history.

Everything goes through the API with bearer tokens: GET and PATCH
/api/callers/<phone>, the history (screen-pop) and the ticket list by phone.
"""

import logging

import pytest
from sqlalchemy import select

from app.events import KEEPALIVE, agent_channel
from app.extensions import db
from app.models import Call, Caller, Message, Recording, Role, Service, Ticket, User
from app.services.callers import history_for
from app.services.presence import set_status
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.test_queries import counting

SECOND = "+2290166000000"  # the same person's other SIM
OTHER = "+2290155000000"  # somebody else
THIRD = "+2290144000000"


@pytest.fixture
def pensions(app) -> Service:
    service = Service(key="pensions", name="Pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([service, salaries])
    db.session.commit()
    return service


@pytest.fixture
def staff(app, pensions) -> dict[str, dict[str, str]]:
    """Bearer headers: a supervisor, and an agent of the pensions service."""
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    db.session.commit()
    return {
        name: {"Authorization": f"Bearer {make_token(user)}"}
        for name, user in (("supervisor", supervisor), ("agent", agent))
    }


@pytest.fixture
def boss(staff) -> dict[str, str]:
    return staff["supervisor"]


def salaries() -> Service:
    return db.session.scalar(select(Service).filter_by(key="salaries"))


def profile(client, headers, phone: str = CALLER):
    return client.get(f"/api/callers/{phone}", headers=headers)


def patch(client, headers, body, phone: str = CALLER):
    return client.patch(f"/api/callers/{phone}", json=body, headers=headers)


def refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error["message"]


def caller(phone: str) -> Caller:
    return db.session.scalar(select(Caller).filter_by(phone_e164=phone))


def history(client, headers, phone: str) -> dict:
    response = client.get(f"/api/callers/{phone}/history", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def references(body: dict) -> set[str]:
    return {ticket["reference"] for ticket in body["tickets"]}


# --- reading and editing -------------------------------------------------------


def test_a_callers_profile_reads_in_any_form_of_the_number(client, boss):
    make_caller(CALLER).language = "en"
    db.session.commit()
    for asked in (CALLER, "0197000000", "97000000", "01 97 00 00 00"):
        response = profile(client, boss, asked)
        assert response.status_code == 200, asked
        assert response.get_json() == {
            "phone": CALLER,
            "name": None,
            "email": None,
            "matricule": None,
            "phones": [CALLER],
            "language": "en",
        }


def test_an_unknown_number_is_404_and_a_bad_one_400(client, boss):
    refused(profile(client, boss, OTHER), 404, "not_found")
    refused(patch(client, boss, {"name": "Awa"}, OTHER), 404, "not_found")
    assert caller(OTHER) is None  # a PATCH creates nobody
    for bad in ("anonymous", "12", "client:alice", "x" * 300):
        refused(profile(client, boss, bad), 400, "invalid_phone")
        refused(patch(client, boss, {"name": "Awa"}, bad), 400, "invalid_phone")


def test_no_credential_is_401(client, app):
    make_caller(CALLER)
    refused(profile(client, {}), 401, "unauthorized")
    refused(patch(client, {"Authorization": "Bearer nope"}, {}), 401, "unauthorized")


def test_edit_name_email_and_matricule_then_clear_one(client, boss):
    make_caller(CALLER)
    response = patch(
        client,
        boss,
        {
            "name": "  Awa   Houngbédji ",
            "email": "Awa.H@Finances.GOUV.bj",
            "matricule": " 123 456-B ",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["email"], body["matricule"]) == (
        "Awa Houngbédji",
        "Awa.H@finances.gouv.bj",
        "123 456-B",
    )
    assert profile(client, boss).get_json() == body
    # Only the fields sent change; null (or blank) clears one.
    body = patch(client, boss, {"email": None, "matricule": ""}).get_json()
    assert (body["name"], body["email"], body["matricule"]) == (
        "Awa Houngbédji",
        None,
        None,
    )
    assert caller(CALLER).name == "Awa Houngbédji"


def test_an_accented_domain_is_an_email_address(client, boss):
    make_caller(CALLER)
    response = patch(client, boss, {"email": "awa@mairie-cotonou.bénin.example"})
    assert response.get_json()["email"] == "awa@mairie-cotonou.bénin.example"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "awa"}, "invalid_email"),
        ({"email": "awa@localhost"}, "invalid_email"),
        ({"email": "awa@@example.org"}, "invalid_email"),
        ({"email": "awa @example.org"}, "invalid_email"),
        ({"email": "awa@exa_mple.org"}, "invalid_email"),
        ({"email": "awa@example..org"}, "invalid_email"),
        ({"email": "awa@example.123"}, "invalid_email"),
        ({"email": "a" * 65 + "@example.org"}, "invalid_email"),
        ({"email": 42}, "invalid_email"),
        ({"name": "x" * 121}, "invalid_name"),
        ({"name": "Awa\u202eigbo"}, "invalid_name"),
        ({"name": ["Awa"]}, "invalid_name"),
        ({"matricule": "x" * 33}, "invalid_matricule"),
        ({"matricule": "12<script>"}, "invalid_matricule"),
        ({"matricule": 123456}, "invalid_matricule"),
        ({"phones": [CALLER, "not a number"]}, "invalid_phone"),
        ({"phones": [CALLER, 22997000000]}, "invalid_phones"),
        ({"phones": CALLER}, "invalid_phones"),
        ({"phones": None}, "invalid_phones"),
        ({"phones": [f"+22901970000{n:02d}" for n in range(11)]}, "invalid_phones"),
        ({"phones": [SECOND]}, "invalid_phones"),  # the URL's number left out
        ({"phones": []}, "invalid_phones"),
        ({"name": "Awa", "nickname": "A"}, "unknown_field"),
        ({"person_id": 2}, "unknown_field"),
        ({}, "nothing_to_change"),
        ({"name": "Awa\u0000"}, "invalid_json"),  # PostgreSQL refuses NUL in text
        ([CALLER], "invalid_json"),
        ("Awa", "invalid_json"),
    ],
)
def test_bad_bodies_are_400_with_a_clear_code(client, boss, body, code):
    make_caller(CALLER).name = "Awa"
    db.session.commit()
    message = refused(patch(client, boss, body), 400, code)
    if code == "invalid_phones" and body == {"phones": [SECOND]}:
        assert CALLER in message
    db.session.expire_all()
    assert caller(CALLER).name == "Awa"
    assert caller(SECOND) is None  # nothing half-done


def test_a_body_that_is_no_json_is_400(client, boss):
    make_caller(CALLER)
    response = client.patch(
        f"/api/callers/{CALLER}",
        data="{name",
        headers={**boss, "Content-Type": "application/json"},
    )
    refused(response, 400, "invalid_json")
    response = client.patch(f"/api/callers/{CALLER}", data="name=x", headers=boss)
    refused(response, 400, "invalid_json")


# --- one person, several numbers ----------------------------------------------


def test_joining_two_numbers_merges_their_histories(client, boss):
    first = make_caller(CALLER)
    second = make_caller(SECOND)
    mine = make_ticket(first, line=LINE)
    theirs = make_ticket(second, line=LINE)
    stranger = make_ticket(make_caller(OTHER), line=LINE)
    db.session.add_all(
        [
            Call(call_sid=sid("CA"), caller=first, line=LINE),
            Call(call_sid=sid("CA"), caller=second, line=LINE),
            Message(caller_id=second.id, to_number=SECOND, body="à vous"),
            # A staff notice about the ticket is not the caller's message.
            Message(
                caller_id=second.id,
                ticket_id=theirs.id,
                to_number="chef@example.org",
                body="notice",
                audience="staff",
                channel="email",
            ),
        ]
    )
    db.session.commit()
    response = patch(client, boss, {"name": "Awa", "phones": [CALLER, "0166000000"]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["phones"] == [CALLER, SECOND]
    both = {mine.display_reference, theirs.display_reference}
    for phone in (CALLER, SECOND):
        body = history(client, boss, phone)
        assert references(body) == both
        assert len(body["calls"]) == 2
        assert [m["body"] for m in body["messages"]] == ["à vous"]
        assert body["caller"] == {
            "phone": phone,
            "name": "Awa",
            "email": None,
            "matricule": None,
            "phones": [CALLER, SECOND],
            "language": None,
        }
        # The other number's profile is the same person's.
        assert profile(client, boss, phone).get_json()["name"] == "Awa"
        listed = client.get(f"/api/tickets?phone={phone}", headers=boss).get_json()
        assert {t["reference"] for t in listed["tickets"]} == both
    assert stranger.display_reference not in references(history(client, boss, SECOND))
    # The tickets keep the number that filed them.
    db.session.expire_all()
    assert db.session.get(Ticket, theirs.id).phone == SECOND


def test_a_new_number_in_phones_becomes_a_caller(client, boss):
    make_caller(CALLER)
    body = patch(client, boss, {"phones": [CALLER, "+33 6 12 34 56 78"]}).get_json()
    assert body["phones"] == [CALLER, "+33612345678"]
    assert caller("+33612345678").person_id == caller(CALLER).id
    assert profile(client, boss, "+33612345678").get_json()["phones"] == body["phones"]


def test_the_same_number_twice_is_listed_once(client, boss):
    make_caller(CALLER)
    body = patch(client, boss, {"phones": [CALLER, SECOND, "0166000000"]}).get_json()
    assert body["phones"] == [CALLER, SECOND]


def test_a_number_moves_from_one_person_to_another(client, boss):
    for phone in (CALLER, SECOND, OTHER):
        make_caller(phone)
    patch(client, boss, {"name": "Awa", "phones": [CALLER, SECOND]})
    patch(client, boss, {"name": "Koffi"}, OTHER)
    ticket = make_ticket(caller(SECOND), line=LINE)
    # Koffi says the second SIM is his now.
    response = patch(client, boss, {"phones": [OTHER, SECOND]}, OTHER)
    assert response.get_json()["phones"] == [OTHER, SECOND]
    assert response.get_json()["name"] == "Koffi"
    awa = profile(client, boss, CALLER).get_json()
    assert (awa["name"], awa["phones"]) == ("Awa", [CALLER])
    assert references(history(client, boss, OTHER)) == {ticket.display_reference}
    assert references(history(client, boss, CALLER)) == set()


def test_a_root_that_moves_brings_its_numbers_and_fills_the_gaps(client, boss):
    for phone in (CALLER, SECOND, OTHER, THIRD):
        make_caller(phone)
    patch(client, boss, {"name": "Awa", "phones": [CALLER, SECOND]})
    patch(
        client,
        boss,
        {"name": "Awa H.", "email": "awa@example.org", "phones": [OTHER, THIRD]},
        OTHER,
    )
    third = make_ticket(caller(THIRD), line=LINE)
    # The same woman: her other profile's root joins, with its numbers.
    body = patch(client, boss, {"phones": [CALLER, SECOND, OTHER]}).get_json()
    assert body["phones"] == [CALLER, SECOND, OTHER, THIRD]
    # This profile's name wins; the e-mail it lacked comes from the other.
    assert (body["name"], body["email"]) == ("Awa", "awa@example.org")
    assert third.display_reference in references(history(client, boss, SECOND))
    # Nothing was lost: detached again, the other profile's name comes back.
    body = patch(client, boss, {"phones": [CALLER, SECOND, THIRD]}).get_json()
    assert body["phones"] == [CALLER, SECOND, THIRD]
    alone = profile(client, boss, OTHER).get_json()
    assert (alone["name"], alone["phones"]) == ("Awa H.", [OTHER])


def test_a_number_left_out_is_detached_with_its_own_history(client, boss):
    first = make_caller(CALLER)
    second = make_caller(SECOND)
    mine = make_ticket(first, line=LINE)
    theirs = make_ticket(second, line=LINE)
    patch(client, boss, {"name": "Awa", "phones": [CALLER, SECOND]})
    body = patch(client, boss, {"phones": [CALLER]}).get_json()
    assert body["phones"] == [CALLER]
    assert references(history(client, boss, CALLER)) == {mine.display_reference}
    detached = history(client, boss, SECOND)
    assert references(detached) == {theirs.display_reference}
    assert detached["caller"]["phones"] == [SECOND]
    assert detached["caller"]["name"] is None
    assert caller(SECOND).person_id is None


def test_leaving_out_the_profiles_number_keeps_the_profile_with_the_person(
    client, boss
):
    make_caller(CALLER)
    for phone in (SECOND, THIRD):
        make_caller(phone)
    patch(client, boss, {"name": "Awa", "phones": [CALLER, SECOND, THIRD]})
    assert caller(SECOND).person_id == caller(CALLER).id
    # Asked from the second number, the first (holding the profile) is dropped.
    body = patch(client, boss, {"phones": [SECOND, THIRD]}, SECOND).get_json()
    assert (body["name"], body["phones"]) == ("Awa", [SECOND, THIRD])
    assert profile(client, boss, THIRD).get_json()["name"] == "Awa"
    dropped = profile(client, boss, CALLER).get_json()
    assert (dropped["name"], dropped["phones"]) == (None, [CALLER])


def test_a_person_of_two_numbers_is_still_four_statements(app, client, boss):
    first = make_caller(CALLER)
    second = make_caller(SECOND)
    for number in (first, second):
        make_ticket(number, line=LINE)
        db.session.add(Call(call_sid=sid("CA"), caller=number, line=LINE))
    db.session.commit()
    patch(client, boss, {"phones": [CALLER, SECOND]})
    db.session.expunge_all()
    with counting() as statements:
        body = history_for(SECOND)
        assert len(body["tickets"]) == 2
        assert all(call["from"] for call in body["calls"])
    # The person's numbers; tickets; calls; messages.
    assert len(statements) == 4, statements


def test_a_change_is_logged_without_personal_data(client, boss, caplog):
    make_caller(CALLER)
    with caplog.at_level(logging.INFO, logger="app.services.people"):
        patch(client, boss, {"name": "Awa", "email": "awa@example.org"})
    logged = caplog.text
    assert "chef@example.org" in logged
    assert "name, email" in logged
    assert "Awa" not in logged
    assert "awa@example.org" not in logged
    assert CALLER not in logged


# --- agents: the rule of the history ------------------------------------------


def test_an_agent_sees_a_caller_of_their_service_or_of_the_intake(
    client, staff, pensions
):
    agent = staff["agent"]
    make_ticket(make_caller(CALLER), line=LINE, service=pensions)
    make_ticket(make_caller(SECOND), line=LINE)  # the intake: no service yet
    make_ticket(make_caller(OTHER), line=LINE, service=salaries())
    for phone in (CALLER, SECOND):
        assert profile(client, agent, phone).status_code == 200
        assert patch(client, agent, {"name": "Awa"}, phone).status_code == 200
    # Another service's caller is answered as missing: not shared.
    refused(profile(client, agent, OTHER), 404, "not_found")
    refused(patch(client, agent, {"name": "Awa"}, OTHER), 404, "not_found")
    assert caller(OTHER).name is None
    # Once joined to one of hers, she sees the person, not their other tickets.
    patch(client, staff["supervisor"], {"phones": [OTHER, CALLER]}, OTHER)
    assert profile(client, agent, OTHER).status_code == 200
    assert len(history(client, agent, OTHER)["tickets"]) == 1


def test_an_agent_sees_a_caller_whose_call_they_took(client, staff):
    other = make_caller(OTHER)
    make_ticket(other, line=LINE, service=salaries())
    refused(profile(client, staff["agent"], OTHER), 404, "not_found")
    taker = db.session.scalar(select(User).filter_by(email="awa@example.org"))
    db.session.add(Call(call_sid=sid("CA"), caller=other, line=LINE, agent_id=taker.id))
    db.session.commit()
    assert profile(client, staff["agent"], OTHER).status_code == 200


def test_an_agent_cannot_pull_in_a_number_of_someone_they_may_not_see(
    client, staff, pensions
):
    agent, boss = staff["agent"], staff["supervisor"]
    make_ticket(make_caller(CALLER), line=LINE, service=pensions)
    make_ticket(make_caller(OTHER), line=LINE, service=salaries())
    patch(client, boss, {"name": "Koffi", "matricule": "99"}, OTHER)
    message = refused(
        patch(client, agent, {"phones": [CALLER, OTHER]}), 403, "forbidden"
    )
    assert OTHER in message
    db.session.expire_all()
    assert caller(OTHER).person_id is None
    assert profile(client, agent, CALLER).get_json()["matricule"] is None
    # A number nobody filled in tells nothing: she may join it.
    make_caller(SECOND)
    body = patch(client, agent, {"phones": [CALLER, SECOND, THIRD]}).get_json()
    assert body["phones"] == [CALLER, SECOND, THIRD]
    # A supervisor may join anyone.
    assert patch(client, boss, {"phones": [CALLER, OTHER]}).status_code == 200


# --- the screen-pop ----------------------------------------------------------------


def test_the_screen_pop_of_one_number_shows_the_whole_person(
    app, client, boss, twilio_post
):
    make_caller(CALLER)
    second = make_caller(SECOND)
    patch(
        client,
        boss,
        {"name": "Awa", "matricule": "123456-B", "phones": [CALLER, SECOND]},
    )
    ticket = make_ticket(second, line=LINE)
    recording = Recording(
        recording_sid=sid("RE"),
        call=Call(call_sid=sid("CA"), caller=second, line=LINE),
        ticket_id=ticket.id,
        status="completed",
        media_status="stored",
    )
    db.session.add(recording)
    chief = db.session.scalar(select(User).filter_by(email="chef@example.org"))
    set_status(chief, "available")
    db.session.commit()
    stream = app.extensions["events"].subscribe(agent_channel(chief.id))
    events = stream.messages(0.05)
    assert next(events) is KEEPALIVE
    form = {"CallSid": sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    twilio_post(
        "/voice/menu?lang=fr&attempt=1", **form, CallStatus="in-progress", Digits="0"
    )
    event, data = next(events)
    events.close()
    assert event == "screenpop"
    assert (data["caller"]["name"], data["caller"]["matricule"]) == ("Awa", "123456-B")
    assert data["caller"]["phones"] == [CALLER, SECOND]
    assert references(data) == {ticket.display_reference}
    # The other SIM's recording is the same person's.
    assert [r["recording_sid"] for r in data["recordings"]] == [recording.recording_sid]
