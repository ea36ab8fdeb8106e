"""The JSON twins of the public pages (CONTRACT §9.1): POST /api/public/requests
and GET /api/public/status. No token, no CSRF, the API's errors, the pages'
budget, and in the OpenAPI document."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Ticket
from app.services import sla_clock
from tests.conftest import CALLER
from tests.factories import make_caller, make_ticket
from tests.test_migrations import flask_env, run_flask
from tests.test_queries import counting
from tests.test_rq_worker import private_redis_db
from tests.test_screenpop_redis import start_gunicorn, stop_gunicorn

DESCRIPTION = "Ma pension de mars n'est pas arrivée sur mon compte."
GOOD = {"category": "pension", "description": DESCRIPTION}
NOT_FOUND = {
    "error": {
        "code": "not_found",
        "message": "no request with this reference and this contact",
    }
}


@pytest.fixture(autouse=True)
def roomy_limit(app):
    app.config["PUBLIC_RATE_LIMIT"] = "1000/hour"


def tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def file(client, body):
    return client.post("/api/public/requests", json=body)


# --- POST /api/public/requests ---


def test_a_request_with_a_phone_is_201_with_its_reference_alone(client, sms):
    response = file(client, {**GOOD, "phone": "01 97 00 00 00", "name": "Awa"})

    assert response.status_code == 201
    (ticket,) = tickets()
    assert response.json == {"reference": ticket.display_reference}
    assert re.fullmatch(r"\d{4}-\d{4}", response.json["reference"])
    assert ticket.channel == "web"
    assert ticket.category == "pension"
    assert ticket.description == DESCRIPTION
    assert ticket.caller.phone_e164 == CALLER
    assert ticket.caller.name == "Awa"
    assert ticket.contact_email is None
    assert [message["to"] for message in sms.sent] == [CALLER]
    assert ticket.display_reference in sms.sent[0]["body"]


def test_a_request_with_an_e_mail_only(client, sms):
    response = file(client, {**GOOD, "email": "Awa@Example.org"})

    assert response.status_code == 201
    (ticket,) = tickets()
    assert ticket.caller is None
    assert ticket.contact_email == "Awa@example.org"
    assert ticket.channel == "web"
    assert sms.sent == []


def test_a_request_with_both(client, sms):
    response = file(client, {**GOOD, "phone": CALLER, "email": "awa@example.org"})

    assert response.status_code == 201
    (ticket,) = tickets()
    assert ticket.caller.phone_e164 == CALLER
    assert ticket.contact_email == "awa@example.org"
    assert len(sms.sent) == 1


def test_no_token_and_no_csrf_token_are_needed(app, client):
    app.config["WTF_CSRF_ENABLED"] = True

    assert file(client, {**GOOD, "phone": CALLER}).status_code == 201


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**GOOD, "category": "weather", "phone": CALLER}, "invalid_category"),
        ({"description": DESCRIPTION, "phone": CALLER}, "invalid_category"),
        ({**GOOD, "description": "court", "phone": CALLER}, "invalid_description"),
        (
            {**GOOD, "description": "   court     ", "phone": CALLER},
            "invalid_description",
        ),
        ({**GOOD, "description": "x" * 5001, "phone": CALLER}, "invalid_description"),
        ({"category": "pension", "phone": CALLER}, "invalid_description"),
        (GOOD, "contact_required"),
        ({**GOOD, "phone": None, "email": "awa@example.org"}, "invalid_phone"),
        ({**GOOD, "phone": CALLER, "email": None}, "invalid_email"),
        ({**GOOD, "phone": "12"}, "invalid_phone"),
        ({**GOOD, "phone": 22997000000}, "invalid_phone"),
        ({**GOOD, "email": "awa@"}, "invalid_email"),
        ({**GOOD, "phone": CALLER, "name": "A\x07"}, "invalid_name"),
        ({**GOOD, "phone": CALLER, "channel": "sms"}, "unknown_field"),
    ],
)
def test_each_bad_field_has_its_code(client, sms, body, code):
    response = file(client, body)

    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert set(response.json) == {"error"}
    assert set(response.json["error"]) == {"code", "message"}
    assert tickets() == []
    assert sms.sent == []


def test_a_body_that_is_not_json_is_400(client):
    response = client.post(
        "/api/public/requests", data="category=pension", content_type="text/plain"
    )

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


# --- GET /api/public/status ---


@pytest.fixture
def filed() -> Ticket:
    ticket = make_ticket(
        make_caller(CALLER), channel="web", contact_email="awa@example.org"
    )
    sla_clock.start(ticket, datetime(2026, 11, 27, 9, tzinfo=UTC))
    ticket.updated_at = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
    ticket.status = "waiting"
    db.session.commit()
    return ticket


def status(client, reference: str, contact: str):
    return client.get(
        "/api/public/status", query_string={"reference": reference, "contact": contact}
    )


@pytest.mark.parametrize(
    ("written", "contact"),
    [
        ("dash", "01 97 00 00 00"),
        ("compact", "+229 01 97 00 00 00"),
        ("spaces", "AWA@example.ORG"),
    ],
)
def test_the_status_to_the_filing_contact(client, filed, written, contact):
    reference = {
        "dash": filed.display_reference,
        "compact": filed.reference,
        "spaces": f"{filed.reference[:4]} {filed.reference[4:]}",
    }[written]

    response = status(client, reference, contact)

    assert response.status_code == 200
    assert response.json == {
        "reference": filed.display_reference,
        "status": "waiting",
        "updated_at": "2026-11-28T10:15:00+00:00",
        "resolve_due": filed.resolve_due.isoformat(),
    }
    assert datetime.fromisoformat(response.json["resolve_due"]) > datetime(
        2026, 11, 27, 9, tzinfo=UTC
    )


def test_unknown_and_wrong_contact_are_the_same_404(client, filed):
    answers = []
    for reference, contact in [
        (filed.display_reference, "0196999999"),
        (filed.display_reference, "bob@example.org"),
        ("1234-5674", CALLER),
        ("1234-5670", CALLER),  # a wrong check digit
        ("hello", "awa@example.org"),
    ]:
        with counting() as statements:
            response = status(client, reference, contact)
        answers.append((response.status_code, response.data, len(statements)))

    assert {answer[0] for answer in answers} == {404}
    assert len({answer[1] for answer in answers}) == 1
    assert {answer[2] for answer in answers} == {1}
    assert status(client, "1234-5674", CALLER).json == NOT_FOUND


def test_a_missing_parameter_is_400(client):
    response = client.get("/api/public/status", query_string={"reference": "x"})

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_contact"


# --- limits and the document ---


def test_past_the_limit_the_twins_answer_429_in_json(app, client, filed):
    app.config["PUBLIC_RATE_LIMIT"] = "2/hour"
    assert file(client, GOOD).status_code == 400  # refused bodies count too
    assert status(client, filed.reference, CALLER).status_code == 200

    for refused in (
        file(client, {**GOOD, "phone": CALLER}),
        status(client, filed.reference, CALLER),
    ):
        assert refused.status_code == 429
        assert refused.json["error"]["code"] == "too_many_requests"
        assert 3590 <= int(refused.headers["Retry-After"]) <= 3601
    assert tickets() == [filed]


def test_the_twins_are_in_the_openapi_document(client):
    document = client.get("/api/openapi.json").get_json()

    post = document["paths"]["/api/public/requests"]["post"]
    assert set(post["responses"]) == {"201", "400", "413", "429"}
    get = document["paths"]["/api/public/status"]["get"]
    assert set(get["responses"]) == {"200", "400", "404", "429"}
    assert [p["name"] for p in get["parameters"]] == ["reference", "contact"]
    schemas = document["components"]["schemas"]
    assert set(schemas["PublicRequest"]["properties"]) == {
        "category",
        "description",
        "phone",
        "email",
        "name",
    }
    assert "pension" in schemas["PublicRequest"]["properties"]["category"]["enum"]
    assert set(schemas["PublicStatus"]["required"]) == {
        "reference",
        "status",
        "updated_at",
        "resolve_due",
    }


# --- the real thing: two gunicorn processes, counts in Redis ---

LOOK_UPS = 30


@pytest.mark.redis
def test_two_processes_share_one_budget_through_redis(tmp_path: Path):
    """30 parallel look-ups over 2 processes, PUBLIC_RATE_LIMIT 5/hour: 5 answered."""
    database = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"
    with private_redis_db() as redis_url:
        env = flask_env(
            tmp_path / "instance",
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            TWILIO_AUTH_TOKEN="public-test-token",
            PUBLIC_RATE_LIMIT="5/hour",
        )
        run_flask("db", "upgrade", env=env)
        try:
            server = start_gunicorn(tmp_path, env, workers=2, threads=8)
        except RuntimeError as error:
            pytest.fail(str(error))
        try:

            def look_up(_: int) -> int:
                return requests.get(
                    server.url + "/api/public/status",
                    params={"reference": "1234-5674", "contact": CALLER},
                    headers={"Connection": "close"},
                    timeout=30,
                ).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(look_up, range(LOOK_UPS)))
        finally:
            stop_gunicorn(server)
    assert statuses.count(404) == 5, statuses
    assert statuses.count(429) == LOOK_UPS - 5, statuses
