"""NUL characters and deeply nested JSON: a clear 4xx at the API, and on
Twilio's webhooks the NULs stripped and the caller's message kept."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.api.json_body import MAX_DEPTH, UnsafeJSON, check_depth
from app.extensions import db
from app.models import Message, Role, Ticket
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_token, make_user, sid

FIXTURES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TICKET = {
    "phone": CALLER,
    "channel": "web",
    "category": "delay",
    "description": "le dossier",
}


@pytest.fixture
def bearer(app) -> dict[str, str]:
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(supervisor)}"}


def assert_api_error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"]
    assert error["message"]
    return error


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- JSON depth ------------------------------------------------------------------


def json_values(max_leaves: int = 30):
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(value=json_values(), wrap=st.integers(0, 40))
def test_the_depth_scan_agrees_with_the_parser(value, wrap):
    for _ in range(wrap):
        value = {'[{\\"': value}  # brackets and quotes inside keys count for nothing
    text = json.dumps(value)
    if depth_of(value) <= MAX_DEPTH:
        check_depth(text)
    else:
        with pytest.raises(UnsafeJSON):
            check_depth(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_json_is_400_on_every_json_endpoint(client, bearer, depth):
    body = nested(depth)
    ticket = make_ticket(make_caller())
    for method, path in (
        ("post", "/api/tickets"),
        ("patch", f"/api/tickets/{ticket.reference}"),
        ("post", "/softphone/presence"),
        ("post", "/softphone/device"),
    ):
        response = getattr(client, method)(
            path, data=body, content_type="application/json", headers=bearer
        )
        assert response.status_code == 400, (path, response.get_data(as_text=True))
    error = assert_api_error(
        client.post(
            "/api/tickets", data=body, content_type="application/json", headers=bearer
        )
    )
    assert "nested deeper" in error["message"]


def test_json_as_deep_as_allowed_is_read(client, bearer):
    body = dict(TICKET, description={"a": json.loads(nested(MAX_DEPTH - 2))})
    error = assert_api_error(client.post("/api/tickets", json=body, headers=bearer))
    assert "nested" not in error["message"]  # refused for its type, not its depth


# --- NUL at the API --------------------------------------------------------------


def test_nul_in_a_description_is_400_and_files_nothing(client, bearer):
    body = dict(TICKET, description="a\u0000b")
    error = assert_api_error(client.post("/api/tickets", json=body, headers=bearer))
    assert "NUL" in error["message"]
    assert db.session.scalars(select(Ticket)).all() == []


with_nul = st.builds(
    lambda before, after: before + "\x00" + after,
    st.text(max_size=20),
    st.text(max_size=20),
)


@FIXTURES
@given(field=st.sampled_from(sorted(TICKET)), value=with_nul, in_key=st.booleans())
def test_nul_anywhere_in_a_body_is_400(client, bearer, field, value, in_key):
    body = dict(TICKET)
    if in_key:
        body[value] = "x"
    else:
        body[field] = value
    assert_api_error(client.post("/api/tickets", json=body, headers=bearer))


@FIXTURES
@given(name=st.sampled_from(["category", "status", "phone", "line"]), value=with_nul)
def test_nul_in_a_query_is_400(client, bearer, name, value):
    response = client.get("/api/tickets", query_string={name: value}, headers=bearer)
    error = assert_api_error(response)
    assert "NUL" in error["message"]


def test_nul_in_the_login_form_is_400(client):
    response = client.post("/login", data={"email": "a\x00@b.c", "password": "x"})
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


# --- NUL on Twilio's webhooks: stripped, nothing lost ----------------------------


def test_an_sms_with_nul_is_kept_without_it(twilio_post):
    response = twilio_post(
        "/sms/incoming", MessageSid=sid("SM"), From=CALLER, To=LINE, Body="\x00"
    )
    assert response.status_code == 200
    message = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert message.body == ""


@FIXTURES
@given(body=st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | with_nul)
def test_every_sms_body_is_stored_without_nul(twilio_post, body):
    message_sid = sid("SM")
    response = twilio_post(
        "/sms/incoming", MessageSid=message_sid, From=CALLER, To=LINE, Body=body
    )
    assert response.status_code == 200
    stored = db.session.scalars(
        select(Message).filter_by(message_sid=message_sid)
    ).one()
    assert stored.body == body.replace("\x00", "")


def test_a_webhook_query_with_nul_is_served(twilio_post):
    call_sid = sid("CA")
    form = {"CallSid": call_sid, "From": CALLER, "To": LINE, "CallStatus": "ringing"}
    assert twilio_post("/voice/incoming", **form).status_code == 200
    response = twilio_post(
        "/voice/category?lang=fr&attempt=1&category=a%00b",
        **{**form, "CallStatus": "in-progress", "Digits": "1"},
    )
    assert response.status_code == 200
    assert "<Response>" in response.get_data(as_text=True)
