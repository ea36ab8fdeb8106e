"""NUL on PostgreSQL, which refuses it in text: stripped on Twilio's webhooks
(the message kept), refused with a 400 at the API, never a 500."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Ticket
from tests import test_postgres as pg
from tests.conftest import CALLER, LINE
from tests.factories import make_token, make_user

pytestmark = pytest.mark.postgres

# The PostgreSQL fixtures of tests/test_postgres.py: a migrated schema of its own.
postgres_url = pg.postgres_url
app = pg.app
post = pg.post


def test_an_sms_with_nul_is_stored_without_it(app, post):
    message_sid = pg.sid("SM")
    form = {"MessageSid": message_sid, "From": CALLER, "To": LINE, "Body": "a\x00b"}
    response = post("/sms/incoming", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    stored = db.session.scalars(select(Message).filter_by(message_sid=message_sid))
    assert stored.one().body == "ab"


def test_a_voice_webhook_with_nul_in_its_query_and_form(app, post):
    call_sid = pg.sid("CA")
    form = pg.call_form(call_sid, CallStatus="ringing", CallerName="A\x00B")
    assert post("/voice/incoming", form).status_code == 200
    response = post(
        "/voice/category?lang=fr&attempt=1&category=a%00b",
        pg.call_form(call_sid, CallStatus="in-progress", Digits="1\x00"),
    )
    assert response.status_code == 200
    assert "<Response>" in response.get_data(as_text=True)


def test_nul_in_an_api_ticket_is_400(app, client):
    bearer = {"Authorization": f"Bearer {make_token(make_user())}"}
    body = {"phone": CALLER, "channel": "web", "category": "delay"}
    response = client.post(
        "/api/tickets", json={**body, "description": "a\u0000b"}, headers=bearer
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    response = client.get("/api/tickets?category=a%00b", headers=bearer)
    assert response.status_code == 400
    assert db.session.scalars(select(Ticket)).all() == []
