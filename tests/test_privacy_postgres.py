"""The erasure on PostgreSQL: lengths enforced, the person's tickets locked."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Caller, Erasure, Message, Ticket
from tests.test_postgres import app, postgres_url  # noqa: F401 - the fixtures
from tests.test_privacy import CALLER, OTHER_SIM, _erase, person  # noqa: F401

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def recordings_dir(app, tmp_path):  # noqa: F811 - the PostgreSQL app
    app.config["RECORDINGS_DIR"] = str(tmp_path / "recordings")


def test_a_hold_refuses_then_the_erasure_goes_through_on_postgres(
    runner,
    person,  # noqa: F811
    sms,
):
    person.ticket.hold = True
    db.session.commit()
    refused = _erase(runner, phone=OTHER_SIM)
    assert refused.exit_code == 1
    assert person.ticket.display_reference in refused.output
    assert db.session.scalar(select(func.count(Erasure.id))) == 0

    person.ticket.hold = False
    db.session.commit()
    result = _erase(runner)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    erasure = db.session.scalars(select(Erasure)).one()
    phones = db.session.scalars(select(Caller.phone_e164).order_by(Caller.id)).all()
    assert phones == [f"erased-{erasure.id}-1", f"erased-{erasure.id}-2"]
    assert CALLER not in phones
    assert sms.deleted_recordings == [person.recording.recording_sid]
    ticket = db.session.get(Ticket, person.ticket.id)
    assert (ticket.category, ticket.description) == ("payment", None)
    assert [e.action for e in ticket.events][-1] == "erased"
    bodies = set(db.session.scalars(select(Message.body)))
    assert bodies == {"[erased]"}
