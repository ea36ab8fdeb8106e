"""The monthly management-review report (issue #13): GET /stats/report.

Two seeded months, September and October 2026, in the centre's time zone
(Africa/Porto-Novo, UTC+01:00); the clock is pinned to 29 November 2026, so
the default month is October.
"""

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Call, Role, Ticket
from app.services import stats
from stats import monthly, report
from tests.factories import make_caller, make_ticket, make_user, sid
from tests.test_admin_pages import login

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 15, 9, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 15, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setattr(report, "utcnow", lambda: NOW)


def signed_in(client, role: Role) -> None:
    login(client, make_user(f"{role.value}@example.org", role))


def ticket_at(created: datetime, category: str | None, **fields) -> Ticket:
    ticket = make_ticket(make_caller(f"+22901970{ticket_at.count:05d}"), **fields)
    ticket_at.count += 1
    ticket.category = category
    ticket.created_at = created
    db.session.commit()
    return ticket


ticket_at.count = 0


def call_at(started: datetime, wait: int, answered: bool) -> Call:
    call = Call(
        call_sid=sid("CA"),
        line="+2290121300000",
        started_at=started,
        wanted_agent_at=started,
        wait_seconds=wait,
        answered_at=started + timedelta(seconds=wait) if answered else None,
        talk_seconds=120 if answered else None,
        ended_at=started + timedelta(seconds=wait + (120 if answered else 0)),
        status="completed",
    )
    db.session.add(call)
    db.session.commit()
    return call


def rated(ticket: Ticket, score: int, at: datetime) -> None:
    ticket.record("rating", "caller", score=score).at = at
    db.session.commit()


@pytest.fixture
def two_months(app):
    """September: 6 requests, 2 calls answered. October: 9 requests, 3 calls
    answered and one abandoned, two ratings."""
    ticket_at.count = 0
    for category, september, october in (
        ("delay", 1, 4),
        ("service", 2, 3),
        ("other", 2, 2),
        ("housing", 1, 0),
    ):
        for _ in range(september):
            ticket_at(SEPTEMBER, category)
        for _ in range(october):
            ticket_at(OCTOBER, category)
    call_at(SEPTEMBER, 10, answered=True)
    call_at(SEPTEMBER, 10, answered=True)
    for wait in (10, 20, 30):
        call_at(OCTOBER, wait, answered=True)
    call_at(OCTOBER, 40, answered=False)
    first = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).first()
    rated(first, 5, OCTOBER)
    rated(first, 2, OCTOBER)


def row(page: str, name: str) -> list[str]:
    """The cells of the figures' row named `name`, as text."""
    head = rf"<th scope=\"row\">{re.escape(name)}</th>"
    found = re.search(head + r"(.*?)</tr>", page, re.S)
    assert found, name
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_agents_are_refused_and_anonymous_sent_to_login(client, app):
    assert client.get("/stats/report").status_code == 302
    signed_in(client, Role.AGENT)
    assert client.get("/stats/report").status_code == 403


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_see_the_last_complete_month(client, role):
    signed_in(client, role)

    page = client.get("/stats/report?lang=fr").get_data(as_text=True)

    assert "<h1>Revue de direction — octobre 2026</h1>" in page
    assert 'value="2026-10"' in page
    assert '?month=2026-09" rel="prev"' in page
    # November is the current month: it may be looked at, not December.
    assert '?month=2026-11" rel="next"' in page
    assert "2026-12" not in page


def test_the_current_month_has_no_next_link(client):
    signed_in(client, Role.SUPERVISOR)

    page = client.get("/stats/report?month=2026-11&lang=en").get_data(as_text=True)

    assert "<h1>Management review — November 2026</h1>" in page
    assert 'rel="next"' not in page
    assert "This month is not over: its figures will still change." in page
    october = client.get("/stats/report?month=2026-10&lang=en")
    assert "This month is not over" not in october.get_data(as_text=True)


@pytest.mark.parametrize(
    "typed", ["2026-13", "2026-1", "octobre", "1969-12", "2026-00"]
)
def test_a_bad_month_is_400_with_a_message(client, typed):
    signed_in(client, Role.SUPERVISOR)

    response = client.get(f"/stats/report?month={typed}&lang=en")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"“{typed}” is not a month: write it as YYYY-MM" in page
    assert 'aria-invalid="true"' in page


def test_the_trend_of_each_figure(client, two_months):
    signed_in(client, Role.SUPERVISOR)

    page = client.get("/stats/report?month=2026-10&lang=en").get_data(as_text=True)

    # this month, the month before, the trend (arrow and difference, then words)
    assert row(page, "Requests created") == ["9", "6", "▲ +3 up by 3"]
    assert row(page, "Calls offered") == ["4", "2", "▲ +2 up by 2"]
    assert row(page, "Calls answered") == ["3", "2", "▲ +1 up by 1"]
    # A rate changes by points: 1 abandoned of 4 against none.
    assert row(page, "Abandonment rate") == ["25%", "0%", "▲ +25 pts up by 25 pts"]
    assert row(page, "Average speed of answer") == [
        "20 s",
        "10 s",
        "▲ +10 s up by 10 s",
    ]
    assert row(page, "Average handling time") == [
        "2 min 00 s",
        "2 min 00 s",
        "= 0 s unchanged",
    ]
    assert row(page, "Average rating") == ["3.5 / 5", "—", "no comparison"]
    assert row(page, "Satisfied citizens (CSAT)") == ["50%", "—", "no comparison"]
    assert row(page, "Ratings received") == ["2", "0", "▲ +2 up by 2"]


def test_a_fall_is_a_down_arrow(client, two_months):
    signed_in(client, Role.SUPERVISOR)

    page = client.get("/stats/report?month=2026-11&lang=en").get_data(as_text=True)

    assert row(page, "Requests created") == ["0", "9", "▼ \N{MINUS SIGN}9 down by 9"]


def test_the_categories_that_grew_most_in_order(client, two_months):
    signed_in(client, Role.SUPERVISOR)

    page = client.get("/stats/report?month=2026-10&lang=en").get_data(as_text=True)

    grown = page.split("The categories that grew most")[1]
    names = re.findall(r"<th scope=\"row\">(.*?)</th>", grown)
    # delay +3, service +1; "other" did not change and "housing" fell.
    assert names == ["A delay in handling a file", "The quality of service"]
    assert row(grown, "A delay in handling a file") == ["4", "1", "+3"]
    assert row(grown, "The quality of service") == ["3", "2", "+1"]


def test_grew_most_keeps_five_largest_increases():
    now = {"a": 9, "b": 5, "c": 4, "d": 4, "e": 3, "f": 2, "g": 1, monthly_none(): 6}
    before = {"a": 1, "b": 0, "c": 0, "d": 1, "e": 0, "f": 0, "g": 3}

    grown = monthly.grew_most(now, before)

    assert [(g.category, g.change) for g in grown] == [
        ("a", 8),
        (monthly_none(), 6),
        ("b", 5),
        ("c", 4),
        ("d", 3),
    ]


def monthly_none() -> str:
    return stats.NONE


def test_months():
    assert monthly.parse_month("2026-02") == date(2026, 2, 1)
    assert monthly.parse_month(" 2026-12 ") == date(2026, 12, 1)
    assert monthly.parse_month("2026-2") is None
    assert monthly.last_day(date(2028, 2, 1)) == date(2028, 2, 29)
    assert monthly.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert monthly.next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert monthly.last_complete_month(date(2026, 11, 29)) == date(2026, 10, 1)
    assert list(monthly.months_back(date(2026, 2, 10), 2)) == [
        date(2026, 2, 1),
        date(2026, 1, 1),
        date(2025, 12, 1),
    ]


def test_deadline_outcomes_are_the_rates_counts(app):
    late = ticket_at(OCTOBER, "delay", status="in_progress")
    late.resolve_due = OCTOBER + timedelta(days=1)
    met = ticket_at(OCTOBER, "delay", status="resolved")
    met.resolve_due, met.resolve_met = OCTOBER + timedelta(days=1), True
    met.take_charge_met = False
    ticket_at(OCTOBER, "delay", status="in_progress")  # its deadline is to come
    db.session.commit()
    scope = stats.scope_for(date(2026, 10, 1), date(2026, 10, 31))

    counts = stats.deadline_outcomes(scope, NOW)

    assert counts == {
        "take_charge": {"met": 0, "missed": 1},
        "resolve": {"met": 1, "missed": 1},
    }
    figures = stats.ticket_figures(scope, NOW)
    assert figures["resolve_met_rate"] == 0.5
