"""CONTRACT §8.2 through the API: a request's plan and dues, on the shipped
calendar (Benin, 08:00-17:30, holidays), paused while waiting, met or missed."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Role
from tests.factories import make_token, make_user

BENIN = ZoneInfo("Africa/Porto-Novo")
DAY = timedelta(hours=9, minutes=30)  # a business day of the shipped calendar


class Clock:
    """The ticket services' clock, set to a local time in Benin."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at = datetime(2026, 11, 30, 9, 0, tzinfo=BENIN)
        for name in ("app.services.sla_clock.utcnow", "app.services.tickets.utcnow"):
            monkeypatch.setattr(name, lambda: self.at)

    def set(self, *fields: int) -> None:
        self.at = datetime(*fields, tzinfo=BENIN)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def staff(app) -> dict[str, str]:
    make_user("agent@example.org", Role.AGENT)
    chief = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(chief)}"}


def file(client, staff, category: str = "payment") -> dict:
    body = {"phone": "0197000000", "channel": "counter", "category": category}
    response = client.post("/api/tickets", json=body, headers=staff)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def change(client, staff, ticket: dict, **fields) -> dict:
    path = f"/api/tickets/{ticket['reference']}"
    response = client.patch(path, json=fields, headers=staff)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def local(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment).astimezone(BENIN) if moment else None


def test_dues_skip_the_night_the_weekend_and_a_holiday(client, staff, clock):
    clock.set(2026, 12, 24, 16, 0)  # Thursday; Friday 25 is Christmas
    sla = file(client, staff)["sla"]
    assert sla["plan"] == "default"
    # 1.5 h on Thursday, then Monday from 08:00: 8 h more.
    assert local(sla["take_charge_due"]) == datetime(2026, 12, 28, 16, 0, tzinfo=BENIN)
    assert (sla["take_charge_met"], sla["resolve_met"], sla["paused"]) == (
        None,
        None,
        False,
    )


def test_a_waiting_period_moves_the_pending_dues_by_its_business_length(
    client, staff, clock
):
    ticket = file(client, staff)  # Monday 30 November, 09:00
    take_charge = local(ticket["sla"]["take_charge_due"])
    resolve = local(ticket["sla"]["resolve_due"])
    assert take_charge == datetime(2026, 12, 1, 9, 0, tzinfo=BENIN)
    clock.set(2026, 11, 30, 10, 0)
    waiting = change(client, staff, ticket, status="waiting")
    assert waiting["sla"]["paused"] is True
    clock.set(2026, 12, 1, 10, 0)  # a whole business day later
    back = change(client, staff, ticket, status="in_progress")

    assert back["sla"]["paused"] is False
    assert back["sla"]["take_charge_met"] is True  # taken in charge on Monday
    assert local(back["sla"]["resolve_due"]) == resolve + timedelta(days=1)


def test_a_due_is_met_or_missed_once(client, staff, clock):
    ticket = file(client, staff)
    clock.set(2026, 11, 30, 15, 0)
    assigned = change(client, staff, ticket, assignee="agent@example.org")
    assert assigned["sla"]["take_charge_met"] is True
    clock.set(2026, 12, 31, 12, 0)  # well past ten business days
    resolved = change(client, staff, ticket, resolution="Paid.")
    assert (resolved["sla"]["take_charge_met"], resolved["sla"]["resolve_met"]) == (
        True,
        False,
    )


def test_priority_and_category_choose_the_plan(client, staff, clock):
    ticket = file(client, staff)
    urgent = change(client, staff, ticket, priority="urgent")
    assert (urgent["priority"], urgent["sla"]["plan"]) == ("urgent", "urgent")
    assert local(urgent["sla"]["take_charge_due"]) == datetime(
        2026, 11, 30, 13, 0, tzinfo=BENIN
    )
    pension = file(client, staff, category="pension")
    assert pension["sla"]["plan"] == "pension"
    bad = client.patch(
        f"/api/tickets/{ticket['reference']}", json={"priority": "asap"}, headers=staff
    )
    assert bad.status_code == 400


def test_a_reopened_request_runs_on_the_appeal_plan(client, staff, clock):
    ticket = file(client, staff)
    change(client, staff, ticket, resolution="Paid.")
    clock.set(2026, 12, 2, 9, 0)
    reopened = change(client, staff, ticket, status="reopened")
    assert (reopened["appeal"], reopened["sla"]["plan"]) == (True, "appeal")
    assert local(reopened["sla"]["take_charge_due"]) == datetime(
        2026, 12, 3, 9, 0, tzinfo=BENIN
    )
    assert reopened["sla"]["resolve_met"] is None
