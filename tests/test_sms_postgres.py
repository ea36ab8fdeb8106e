"""Held texts on PostgreSQL, where deliveries of one callback really run at once."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Role, Ticket
from app.services.presence import set_status
from tests import test_postgres
from tests.factories import make_user
from tests.test_postgres import THREADS, call_form, deliver_concurrently, sid

# The PostgreSQL app of test_postgres (no Redis: jobs run in the request).
postgres_url = test_postgres.postgres_url
app = test_postgres.app
post = test_postgres.post

pytestmark = pytest.mark.postgres


def test_concurrent_ends_of_a_call_send_its_acknowledgment_once(app, post, sms):
    agent = make_user("awa@example.org", Role.AGENT)
    set_status(agent, "available")
    db.session.commit()
    call_sid = sid("CA")
    post("/voice/incoming", call_form(call_sid, CallStatus="ringing"))
    post(
        "/voice/menu?lang=fr&attempt=1",
        call_form(call_sid, CallStatus="in-progress", Digits="0"),
    )
    leg = {
        "CallSid": sid("CA"),
        "ParentCallSid": call_sid,
        "To": f"client:{agent.identity}",
        "CallStatus": "in-progress",
    }
    assert post("/voice/agent-status", leg).status_code == 204
    assert sms.sent == []  # the agent is talking

    outcomes = deliver_concurrently(
        app, "/voice/status", call_form(call_sid, CallStatus="completed"), THREADS
    )

    assert outcomes == [204] * THREADS
    ticket = db.session.scalars(select(Ticket)).one()
    [sent] = sms.sent
    assert ticket.display_reference in sent["body"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1
    assert db.session.scalars(select(Message.status)).one() == "sending"
