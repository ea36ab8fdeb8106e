"""The JSON API: credentials, tickets, history, errors, and the OpenAPI document."""

from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Ticket
from tests.conftest import CALLER, HOTLINE, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user


@pytest.fixture
def agent(app):
    return make_user("agent@example.org", Role.AGENT)


@pytest.fixture
def auth(agent):
    return {"Authorization": f"Bearer {make_token(agent)}"}


@pytest.fixture
def supervisor_auth(app):
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
def check(client):
    """Validate a response body against the OpenAPI document's schema."""
    document = client.get("/api/openapi.json").get_json()
    registry = Registry().with_resource(
        "urn:ecoute", Resource(contents=document, specification=DRAFT202012)
    )

    def against(response, schema: str):
        validator = Draft202012Validator(
            {"$ref": f"urn:ecoute#/components/schemas/{schema}"}, registry=registry
        )
        validator.validate(response.get_json())
        return response.get_json()

    return against


NEW = {"phone": "0197000000", "channel": "counter", "category": "payment"}


def test_openapi_document_is_valid_openapi(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/tickets"),
        ("post", "/api/tickets"),
        ("get", "/api/tickets/1234-5674"),
        ("patch", "/api/tickets/1234-5674"),
        ("get", "/api/callers/+2290197000000/history"),
    ],
)
def test_no_or_bad_credential_is_401_json(client, check, method, path):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = getattr(client, method)(path, headers=headers, json={})
        assert response.status_code == 401
        assert check(response, "Error")["error"]["code"] == "unauthorized"


def test_create_ticket_from_the_counter_normalises_the_phone_and_texts(
    client, auth, sms, check
):
    response = client.post(
        "/api/tickets", json={**NEW, "description": "Pension non versée"}, headers=auth
    )
    assert response.status_code == 201
    body = check(response, "TicketDetail")
    assert body["phone"] == CALLER
    assert (body["channel"], body["status"], body["line"]) == ("counter", "new", LINE)
    assert body["events"][0]["actor"] == "agent@example.org"
    assert body["created_at"].endswith("+00:00")
    assert body["reference"] in sms.sent[0]["body"]
    assert body["messages"][0]["body"] == sms.sent[0]["body"]


def test_create_ticket_on_a_named_line_in_english(client, auth, sms):
    response = client.post(
        "/api/tickets", json={**NEW, "line": HOTLINE, "language": "en"}, headers=auth
    )
    assert response.get_json()["line"] == HOTLINE
    assert sms.sent[0]["from"] == HOTLINE
    assert sms.sent[0]["body"].startswith("Listening centre")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**NEW, "phone": "anonymous"}, "invalid_phone"),
        ({**NEW, "phone": 229}, "invalid_phone"),
        ({**NEW, "channel": "fax"}, "invalid_channel"),
        ({**NEW, "category": "nope"}, "invalid_category"),
        ({**NEW, "description": "x" * 5001}, "invalid_description"),
        ({**NEW, "description": ["x"]}, "invalid_description"),
        ({**NEW, "line": "+2290199999999"}, "invalid_line"),
        ({**NEW, "language": "de"}, "invalid_language"),
        ({**NEW, "surprise": 1}, "unknown_field"),
        ([1, 2], "invalid_json"),
        ("just text", "invalid_json"),
    ],
)
def test_create_ticket_rejects_bad_input_clearly(client, auth, check, body, code):
    response = client.post("/api/tickets", json=body, headers=auth)
    assert response.status_code == 400
    assert check(response, "Error")["error"]["code"] == code
    assert db.session.scalars(select(Ticket)).all() == []


def test_malformed_json_body_and_wrong_content_type(client, auth):
    response = client.post(
        "/api/tickets",
        data="{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    response = client.post("/api/tickets", data="phone=1", headers=auth)
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_oversized_body_is_413_json(client, auth):
    response = client.post(
        "/api/tickets", json={**NEW, "description": "x" * 300_000}, headers=auth
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_list_is_newest_first_and_filters(client, auth, check):
    caller = make_caller()
    other = make_caller("+2290167000000")
    first = make_ticket(caller, line=LINE, category="payment")
    second = make_ticket(other, line=HOTLINE, category="delay", status="resolved")
    third = make_ticket(caller, line=LINE, category="delay")
    body = check(client.get("/api/tickets", headers=auth), "TicketList")
    assert [t["reference"] for t in body["tickets"]] == [
        t.display_reference for t in (third, second, first)
    ]

    def refs(query: str) -> list[str]:
        response = client.get(f"/api/tickets?{query}", headers=auth)
        assert response.status_code == 200, response.get_json()
        return [t["reference"] for t in response.get_json()["tickets"]]

    assert refs("phone=0197000000") == [
        third.display_reference,
        first.display_reference,
    ]
    assert refs("status=resolved") == [second.display_reference]
    assert refs(f"line={HOTLINE.replace('+', '%2B')}") == [second.display_reference]
    assert refs("category=payment") == [first.display_reference]
    assert refs("limit=1&offset=1") == [second.display_reference]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("phone=abc", "invalid_phone"),
        ("status=lost", "invalid_status"),
        ("line=x", "invalid_phone"),
        ("limit=0", "invalid_parameter"),
        ("limit=-1", "invalid_parameter"),
        ("offset=z", "invalid_parameter"),
    ],
)
def test_list_rejects_bad_filters(client, auth, query, code):
    response = client.get(f"/api/tickets?{query}", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_get_ticket_with_or_without_dash_and_errors(client, auth, check):
    ticket = make_ticket(make_caller(), line=LINE)
    for shown in (
        ticket.reference,
        ticket.display_reference,
        f"{ticket.reference[:4]} {ticket.reference[4:]}",
    ):
        response = client.get(f"/api/tickets/{shown}", headers=auth)
        assert check(response, "TicketDetail")["reference"] == ticket.display_reference
    typo = ticket.reference[:7] + str((int(ticket.reference[7]) + 1) % 10)
    assert client.get(f"/api/tickets/{typo}", headers=auth).status_code == 400
    assert client.get("/api/tickets/12345674", headers=auth).status_code == 404
    assert client.get("/api/tickets/" + "9" * 5000, headers=auth).status_code == 400


def test_patch_status_assignee_category_and_note_are_audited(client, auth, sms, check):
    ticket = make_ticket(make_caller(), line=LINE, category="delay")
    path = f"/api/tickets/{ticket.display_reference}"
    body = check(
        client.patch(path, json={"assignee": "agent@example.org"}, headers=auth),
        "TicketDetail",
    )
    assert (body["assignee"], body["status"]) == ("agent@example.org", "assigned")
    client.patch(
        path, json={"status": "in_progress", "category": "payment"}, headers=auth
    )
    response = client.patch(
        path,
        json={"status": "resolved", "resolution": "Virement fait le 20/11."},
        headers=auth,
    )
    body = check(response, "TicketDetail")
    assert (body["status"], body["category"]) == ("resolved", "payment")
    actions = [event["action"] for event in body["events"]]
    assert actions.count("status") == 3
    assert {"assigned", "category", "resolution", "sms_queued"} <= set(actions)
    staff_actions = {"status", "assigned", "category", "resolution"}
    staff = [e for e in body["events"] if e["action"] in staff_actions]
    assert all(e["actor"] == "agent@example.org" for e in staff)
    resolved, satisfaction = sms.sent[-2:]
    assert "résolu" in resolved["body"]
    assert "Virement fait" in resolved["body"]
    assert "1 (pas du tout) à 5" in satisfaction["body"]
    assert "satisfaction_asked" in actions


def test_closed_ticket_can_only_be_reopened(client, auth):
    ticket = make_ticket(make_caller(), status="closed")
    path = f"/api/tickets/{ticket.reference}"
    response = client.patch(path, json={"status": "in_progress"}, headers=auth)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"
    assert (
        client.patch(path, json={"status": "reopened"}, headers=auth).status_code == 200
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "nothing_to_change"),
        ({"status": "done"}, 400, "invalid_status"),
        ({"assignee": "ghost@example.org"}, 400, "invalid_assignee"),
        ({"assignee": 7}, 400, "invalid_assignee"),
        ({"category": "nope"}, 400, "invalid_category"),
        ({"note": ""}, 400, "invalid_note"),
        ({"note": "x" * 2001}, 400, "invalid_note"),
        ({"reference": "x"}, 400, "unknown_field"),
    ],
)
def test_patch_rejects_bad_changes(client, auth, body, status, code):
    ticket = make_ticket(make_caller())
    response = client.patch(f"/api/tickets/{ticket.reference}", json=body, headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        status,
        code,
    )


def test_agent_cannot_assign_to_someone_else_but_a_supervisor_can(
    client, auth, supervisor_auth
):
    make_user("other@example.org", Role.AGENT)
    ticket = make_ticket(make_caller())
    path = f"/api/tickets/{ticket.reference}"
    response = client.patch(path, json={"assignee": "other@example.org"}, headers=auth)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    response = client.patch(
        path, json={"assignee": "other@example.org"}, headers=supervisor_auth
    )
    assert response.get_json()["assignee"] == "other@example.org"
    response = client.patch(path, json={"assignee": None}, headers=supervisor_auth)
    assert response.get_json()["assignee"] is None


def test_caller_history_is_the_screen_pop(client, auth, check, twilio_post):
    caller = make_caller()
    ticket = make_ticket(caller, line=LINE)
    body = check(client.get("/api/callers/0197000000/history", headers=auth), "History")
    assert body["caller"]["phone"] == CALLER
    assert [t["reference"] for t in body["tickets"]] == [ticket.display_reference]
    empty = check(
        client.get("/api/callers/+33612345678/history", headers=auth), "History"
    )
    assert empty["tickets"] == []
    assert empty["caller"]["phone"] == "+33612345678"
    response = client.get("/api/callers/anonymous/history", headers=auth)
    assert response.status_code == 400


def test_session_user_needs_csrf_for_writes(app, agent):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/login")
    token = page.get_data(as_text=True).split(
        'name="csrf_token" type="hidden" value="'
    )[1]
    token = token.split('"')[0]
    client.post(
        "/login",
        data={
            "email": agent.email,
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert client.get("/api/tickets").status_code == 200  # reads need no token
    response = client.post("/api/tickets", json=NEW)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"
    response = client.post("/api/tickets", json=NEW, headers={"X-CSRFToken": token})
    assert response.status_code == 201


def test_unknown_api_path_and_method_are_json(client, auth):
    response = client.get("/api/nothing", headers=auth)
    assert response.status_code == 404
    response = client.delete("/api/tickets", headers=auth)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_disabled_users_token_stops_working(client, agent, auth):
    agent.active = False
    db.session.commit()
    assert client.get("/api/tickets", headers=auth).status_code == 401


def test_pages_follow_a_keyset_newest_first_with_the_id_breaking_ties(
    client, auth, check
):
    caller = make_caller()
    same_instant = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    tickets = [make_ticket(caller, created_at=same_instant) for _ in range(3)]
    tickets += [
        make_ticket(caller, created_at=same_instant - timedelta(days=day))
        for day in (1, 2)
    ]
    newest_first = sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = check(client.get(f"/api/tickets?{query}", headers=auth), "TicketList")
        seen += [t["reference"] for t in body["tickets"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [t.display_reference for t in newest_first]
    assert pages == 3
    # A ticket filed meanwhile does not shift the next page.
    first = client.get("/api/tickets?limit=2", headers=auth).get_json()
    make_ticket(caller)
    after = client.get(f"/api/tickets?limit=2&cursor={first['next']}", headers=auth)
    assert after.get_json()["tickets"][0]["reference"] == seen[2]


def test_the_last_page_says_so_and_filters_hold_across_pages(client, auth):
    caller = make_caller()
    for category in ("payment", "delay", "payment", "payment"):
        make_ticket(caller, category=category)
    first = client.get("/api/tickets?category=payment&limit=2", headers=auth)
    cursor = first.get_json()["next"]
    last = client.get(
        f"/api/tickets?category=payment&limit=2&cursor={cursor}", headers=auth
    ).get_json()
    assert (len(last["tickets"]), last["next"]) == (1, None)
    assert client.get("/api/tickets", headers=auth).get_json()["next"] is None


@pytest.mark.parametrize(
    "cursor",
    ["nope", "%%%", "MjAyNi0wMy0wMVQwOTozMDowMA", "eHx5", "MjAyNi0wMy0wMXwx"],
)
def test_a_bad_cursor_is_400_json(client, auth, check, cursor):
    make_ticket(make_caller())
    response = client.get(f"/api/tickets?cursor={cursor}", headers=auth)
    assert response.status_code == 400
    assert check(response, "Error")["error"]["code"] == "invalid_cursor"


def test_cursor_and_offset_together_are_refused(client, auth):
    make_ticket(make_caller())
    make_ticket(make_caller("+2290167000000"))
    cursor = client.get("/api/tickets?limit=1", headers=auth).get_json()["next"]
    response = client.get(f"/api/tickets?cursor={cursor}&offset=1", headers=auth)
    assert response.get_json()["error"]["code"] == "invalid_parameter"
