"""The erasure by e-mail address on PostgreSQL: the tickets found by address
locked (FOR UPDATE over the OR of caller and address), lengths enforced."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, Erasure, Message, Ticket
from tests.test_postgres import app, postgres_url  # noqa: F401 - the fixtures
from tests.test_privacy_email import ASKED_AS, _erase, person  # noqa: F401

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def recordings_dir(app, tmp_path):  # noqa: F811 - the PostgreSQL app
    app.config["RECORDINGS_DIR"] = str(tmp_path / "recordings")
    app.config["PUBLIC_RATE_LIMIT"] = "1000/hour"


def test_a_hold_refuses_then_the_erasure_by_address_goes_through_on_postgres(
    runner,
    person,  # noqa: F811
):
    person.ticket.hold = True
    db.session.commit()
    refused = _erase(runner, ASKED_AS)
    assert refused.exit_code == 1
    assert person.ticket.display_reference in refused.output
    assert db.session.scalar(select(func.count(Erasure.id))) == 0

    person.ticket.hold = False
    db.session.commit()
    result = _erase(runner, ASKED_AS)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    erasure = db.session.scalars(select(Erasure)).one()
    ticket = db.session.get(Ticket, person.ticket.id)
    assert (ticket.contact_email, ticket.description) == (
        f"erased-{erasure.id}-1",
        None,
    )
    assert set(db.session.scalars(select(Message.body))) == {"[erased]"}
    assert db.session.scalar(select(func.count(Attachment.id))) == 0
    assert not person.file.exists()
