"""The generated OpenAPI document: complete, and made from the models."""

import re

import pytest

from app.models import Role
from tests.factories import make_caller, make_ticket, make_token, make_user

UNDOCUMENTED = {"/api/openapi.json"}  # the document itself


def test_every_api_route_is_in_the_document(app, client):
    document = client.get("/api/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, f"{method} {path} is not documented"


def test_the_audio_route_is_documented_with_its_ranges(client):
    document = client.get("/api/openapi.json").get_json()
    audio = document["paths"]["/api/recordings/{recording_id}/audio"]["get"]
    assert {"200", "206", "401", "403", "404", "416"} <= set(audio["responses"])
    assert "audio/mpeg" in audio["responses"]["206"]["content"]
    assert [p["name"] for p in audio["parameters"]] == ["recording_id", "Range"]


def test_configured_choices_are_listed(client):
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert "payment" in schemas["NewTicket"]["properties"]["category"]["enum"]
    assert "x-choices" not in str(schemas)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"resolution": "Done.", "status": "in_progress"},
            "resolution_without_resolving",
        ),
        ({"status": "resolved", "note": "x"}, "resolution_required"),
        ({"status": None}, "invalid_status"),
        ({"note": {"text": "x", "visibility": "public", "to": "y"}}, "invalid_note"),
        ({"priority": "high", "surprise": 1}, "unknown_field"),
    ],
)
def test_model_errors_keep_their_codes(client, app, body, code):
    token = make_token(make_user("chef@example.org", Role.SUPERVISOR))
    ticket = make_ticket(make_caller())
    response = client.patch(
        f"/api/tickets/{ticket.reference}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, code)
