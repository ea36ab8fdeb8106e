"""CONTRACT §8.1 through the API: statuses, the resolution, notes, closing."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role, Service, Ticket
from app.queue import InProcessScheduler, _periodic_jobs
from tests.conftest import LINE
from tests.factories import make_caller, make_ticket, make_token, make_user


@pytest.fixture
def staff(app) -> dict[str, str]:
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(chief)}"}


@pytest.fixture
def ticket(app) -> Ticket:
    return make_ticket(make_caller(), line=LINE)


def patch(client, staff, ticket: Ticket, **fields):
    return client.patch(f"/api/tickets/{ticket.reference}", json=fields, headers=staff)


def texts() -> list[tuple[str, str]]:
    rows = db.session.scalars(select(Message).order_by(Message.id))
    return [(message.template, message.body) for message in rows]


def history(ticket: Ticket) -> list[tuple[str, dict]]:
    db.session.expire_all()
    return [
        (e.action, e.detail or {}) for e in db.session.get(Ticket, ticket.id).events
    ]


def test_resolving_needs_a_resolution(client, staff, ticket):
    refused = patch(client, staff, ticket, status="resolved")
    blank = patch(client, staff, ticket, status="resolved", resolution="   ")
    noted = patch(client, staff, ticket, status="resolved", note="paid on the 20th")

    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "resolution_required"
    assert blank.status_code == 400
    assert noted.get_json()["error"]["code"] == "resolution_required"
    assert db.session.get(Ticket, ticket.id).status == "new"
    assert texts() == []  # not even the internal note went anywhere


def test_the_resolution_is_what_the_caller_receives(client, staff, ticket):
    answer = "Votre virement est parti le 20/11."
    response = patch(client, staff, ticket, status="resolved", resolution=answer)

    assert response.status_code == 200
    assert response.get_json()["status"] == "resolved"
    sent = dict(texts())
    assert answer in sent["resolved"]
    assert "satisfaction" in sent
    assert ("resolution", {"text": answer}) in history(ticket)


def test_a_resolution_alone_resolves(client, staff, ticket):
    response = patch(client, staff, ticket, resolution="Paid.")
    assert response.get_json()["status"] == "resolved"
    again = patch(client, staff, ticket, resolution="Paid twice?")
    assert (again.status_code, again.get_json()["error"]["code"]) == (
        409,
        "already_resolved",
    )
    wrong = patch(
        client,
        staff,
        make_ticket(make_caller("+2290197000111")),
        status="in_progress",
        resolution="x",
    )
    assert wrong.status_code == 400


def test_an_internal_note_never_reaches_the_caller(client, staff, ticket):
    secret = "le chef de service est en congé"
    plain = patch(client, staff, ticket, note=secret)
    tagged = patch(
        client, staff, ticket, note={"text": secret + "!", "visibility": "internal"}
    )
    assert (plain.status_code, tagged.status_code) == (200, 200)
    assert all(secret not in body for _, body in texts())
    notes = [detail for action, detail in history(ticket) if action == "note"]
    assert [n["visibility"] for n in notes] == ["internal", "internal"]


def test_a_public_note_is_sent_to_the_caller(client, staff, ticket):
    ask = "Merci d'envoyer votre bulletin de paie."
    response = patch(
        client,
        staff,
        ticket,
        status="waiting",
        note={"text": ask, "visibility": "public"},
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "waiting"
    public = [body for template, body in texts() if template == "public_note"]
    assert len(public) == 1
    assert ask in public[0]
    assert ticket.display_reference in public[0]


@pytest.mark.parametrize(
    "note",
    [{"text": "x", "visibility": "everyone"}, {"txt": "x"}, {"text": ""}, 7, ""],
)
def test_a_malformed_note_is_refused(client, staff, ticket, note):
    response = patch(client, staff, ticket, note=note)
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        400,
        "invalid_note",
    )


def test_a_closed_ticket_can_only_be_reopened(client, staff, ticket):
    patch(client, staff, ticket, status="closed")
    for status in ("new", "assigned", "in_progress", "waiting", "resolved"):
        fields = {"status": status}
        if status == "resolved":
            fields["resolution"] = "x"
        response = patch(client, staff, ticket, **fields)
        assert response.status_code == 409, status
        assert response.get_json()["error"]["code"] == "invalid_transition"
    assert patch(client, staff, ticket, status="reopened").status_code == 200


def test_a_resolved_ticket_nobody_objected_to_closes_by_itself(
    app, client, staff, ticket, monkeypatch
):
    quiet = make_ticket(make_caller("+2290197000222"), line=LINE)
    patch(client, staff, ticket, resolution="Paid.")
    patch(client, staff, quiet, resolution="Paid too.")
    patch(client, staff, quiet, status="reopened")  # the caller objected
    scheduler = InProcessScheduler(app, _periodic_jobs(app), 60)
    scheduler.run_once()
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"  # too soon

    later = datetime.now(UTC) + timedelta(days=app.config["CLOSE_AFTER_DAYS"], hours=1)
    monkeypatch.setattr("app.services.journey.utcnow", lambda: later)
    sent = len(texts())
    scheduler.run_once()

    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "closed"
    assert db.session.get(Ticket, quiet.id).status == "reopened"
    assert ("status", {"old": "resolved", "new": "closed", "after_days": 7}) in history(
        ticket
    )
    assert len(texts()) == sent  # nothing more sent


def test_giving_a_new_request_to_a_service_takes_it_in_charge(client, staff):
    db.session.add(Service(key="pensions", name="Pensions"))
    db.session.commit()
    body = {"phone": "0197000000", "channel": "counter", "category": "payment"}
    filed = client.post("/api/tickets", json=body, headers=staff).get_json()
    path = f"/api/tickets/{filed['reference']}"
    given = client.patch(path, json={"service": "pensions"}, headers=staff).get_json()
    assert (given["status"], given["service"]) == ("assigned", "pensions")
    assert given["sla"]["take_charge_met"] is True
    # An explicit status wins: routed, yet left to be taken in charge.
    other = make_ticket(make_caller("+2290197000009"), line=LINE)
    kept = patch(client, staff, other, service="pensions", status="new").get_json()
    assert kept["status"] == "new"
