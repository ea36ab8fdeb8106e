"""A focal point's link on PostgreSQL, on the schema `flask db upgrade` builds:
sent by e-mail, and dead for good once its ticket closed (the history query
behind that reads a JSON path, which each database spells its own way)."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role
from tests.conftest import LINE
from tests.factories import make_caller, make_ticket, make_token, make_user
from tests.test_postgres import app, postgres_url  # noqa: F401 - their fixtures

pytestmark = pytest.mark.postgres


def test_a_link_lives_until_its_ticket_closes_and_stays_dead(client, runner):
    runner.invoke(args=["services", "create", "pensions", "Direction des pensions"])
    adjoa = ["--name", "Adjoa Mensah", "--email", "adjoa@pensions.bj"]
    added = runner.invoke(args=["services", "focal-point", "pensions", *adjoa])
    assert added.exit_code == 0, added.output
    admin = make_user("chef@example.org", Role.ADMIN)
    auth = {"Authorization": f"Bearer {make_token(admin)}"}
    ticket = make_ticket(make_caller("+2290197123456"), line=LINE, category="pension")
    path = f"/api/tickets/{ticket.reference}"

    def patch(**body: str) -> None:
        assert client.patch(path, json=body, headers=auth).status_code == 200

    patch(service="pensions")
    notice = db.session.scalars(select(Message).filter_by(audience="staff")).one()
    assert notice.to_number == "adjoa@pensions.bj"
    token = re.search(r"/f/([\w-]+)", notice.body).group(1)
    assert client.get(f"/f/{token}").status_code == 200

    patch(status="closed")
    assert client.get(f"/f/{token}").status_code == 410
    patch(status="reopened")
    assert client.get(f"/f/{token}").status_code == 410
