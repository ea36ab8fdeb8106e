"""The supervisors' dashboard (GET /stats): who may see it, its filters and
their refusals, and tables that hold exactly the statistics service's figures."""

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Role, Service
from app.services import stats
from tests.conftest import HOTLINE, LINE
from tests.factories import PASSWORD, make_caller, make_ticket, make_user, sid

ENGLISH = {"Accept-Language": "en"}
MARCH = {"from": "2026-03-01", "to": "2026-03-05"}
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


class Dashboard(HTMLParser):
    """The page's tiles ({key: text}) and charts' tables ({key: rows}), each
    row (title, [data-value, ...]); the form's values by input name."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tiles: dict[str, str] = {}
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self.series: dict[str, list[str]] = {}
        self.inputs: dict[str, str] = {}
        self._chart = self._tile = None
        self._in_dd = self._in_row_title = False
        self._row: tuple[list[str], list[str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        if tag == "figure" and "data-chart" in found:
            self._chart = found["data-chart"]
            self.tables[self._chart] = []
            self.series[self._chart] = []
        elif tag == "div" and "data-tile" in found:
            self._tile = found["data-tile"]
        elif tag == "dd" and self._tile:
            self._in_dd = True
            self.tiles[self._tile] = ""
        elif tag == "th" and "data-series" in found:
            self.series[self._chart].append(found["data-series"])
        elif tag == "tr" and self._chart:
            self._row = ([], [])
        elif tag == "th" and found.get("scope") == "row":
            self._in_row_title = True
        elif tag == "td" and self._row is not None and "data-value" in found:
            self._row[1].append(found["data-value"])
        elif tag == "input" and found.get("type") == "date":
            self.inputs[found["name"]] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None
        elif tag == "dd":
            self._in_dd, self._tile = False, None
        elif tag == "th":
            self._in_row_title = False
        elif tag == "tr" and self._row is not None:
            title, values = self._row
            if values:
                self.tables[self._chart].append(("".join(title).strip(), values))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_dd:
            self.tiles[self._tile] += data.strip()
        elif self._in_row_title and self._row is not None:
            self._row[0].append(data)


def login(client, user) -> None:
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


@pytest.fixture
def supervisor(app):
    return make_user("chef@example.org", Role.SUPERVISOR)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of March 2026 in the centre's zone (Porto-Novo, UTC+1)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo("Africa/Porto-Novo"))


def add_call(
    at: datetime, *, wait: int | None = None, talk: int | None = None, line=LINE
) -> Call:
    """An ended inbound call: answered when it talked, abandoned when it only
    waited, served by the menu when it did neither."""
    call = Call(
        call_sid=sid("CA"),
        line=line,
        status="completed",
        started_at=at,
        ended_at=at + timedelta(minutes=5),
    )
    if wait is not None:
        call.intent = "agent"
        call.wanted_agent_at = at + timedelta(seconds=40)
        call.wait_seconds = wait
    if talk is not None:
        call.answered_at = call.wanted_agent_at + timedelta(seconds=wait)
        call.talk_seconds = talk
    db.session.add(call)
    return call


@pytest.fixture
def march(app):
    """Four calls and four requests in the first days of March, and what lies
    just outside them (a call on the 6th, a request in February)."""
    pensions = Service(key="pensions", name="Direction des pensions")
    db.session.add(pensions)
    add_call(local(2, 9), wait=10, talk=100)
    add_call(local(2, 10), wait=30, line=HOTLINE)  # abandoned
    add_call(local(2, 11))  # self-service
    add_call(local(4, 9), wait=40, talk=200)
    add_call(local(6, 9), wait=5, talk=60)  # after the period
    db.session.commit()
    caller = make_caller()
    make_ticket(
        caller,
        line=LINE,
        channel="phone",
        category="pension",
        service_id=pensions.id,
        created_at=local(2, 10),
        take_charge_met=True,
        resolve_due=datetime(2099, 1, 1, tzinfo=UTC),
    )
    make_ticket(
        caller,
        line=LINE,
        channel="sms",
        category="salary",
        created_at=local(3, 8),
        take_charge_met=False,
    )
    resolved = make_ticket(
        caller,
        line=LINE,
        channel="sms",
        category="pension",
        service_id=pensions.id,
        created_at=local(3, 9),
        status="resolved",
        resolved_at=local(4, 9),
        take_charge_met=True,
        resolve_met=True,
    )
    make_ticket(  # late: its take-charge deadline passed while it was new
        caller,
        line=LINE,
        channel="web",
        created_at=local(3, 10),
        take_charge_due=local(3, 12),
    )
    make_ticket(caller, line=LINE, channel="sms", created_at=local(1, 9) - timedelta(2))
    resolved.record("rating", "caller", score=4).at = local(4, 15)
    db.session.commit()
    return pensions


def open_dashboard(client, **query) -> tuple[int, Dashboard]:
    response = client.get("/stats", query_string=query, headers=ENGLISH)
    return response.status_code, Dashboard(response.get_data(as_text=True))


# --- who may see it ------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get("/stats")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_agents_are_refused(client, app):
    login(client, make_user("agent@example.org", Role.AGENT))
    assert client.get("/stats").status_code == 403


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_see_it(client, app, role):
    login(client, make_user("boss@example.org", role))
    response = client.get("/stats", headers=ENGLISH)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count("<h1>") == 1
    # The nav's Statistics item, marked as the page shown.
    assert '<a href="/stats" aria-current="page">Statistics</a>' in page


def test_the_nav_item_is_french_and_absent_for_agents(client, app):
    login(client, make_user("chef@example.org", Role.SUPERVISOR))
    page = client.get("/stats", headers={"Accept-Language": "fr"}).get_data(
        as_text=True
    )
    assert '<a href="/stats" aria-current="page">Statistiques</a>' in page
    client.post("/logout")
    login(client, make_user("agent@example.org", Role.AGENT))
    assert 'href="/stats"' not in client.get("/").get_data(as_text=True)


# --- the filters ---------------------------------------------------------------------


def test_the_default_period_is_this_month_up_to_today(client, supervisor):
    login(client, supervisor)
    status, page = open_dashboard(client)
    assert status == 200
    zone = ZoneInfo(client.application.config["CENTRE_TIMEZONE"])
    today = datetime.now(zone).date()
    assert page.inputs == {
        "from": today.replace(day=1).isoformat(),
        "to": today.isoformat(),
    }
    assert len(page.tables["calls"]) == today.day


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-02-30"}, "The start date is not a date (YYYY-MM-DD)."),
        ({"from": "1er mars"}, "The start date is not a date (YYYY-MM-DD)."),
        ({"to": "2026-13-01"}, "The end date is not a date (YYYY-MM-DD)."),
        (
            {"from": "2026-03-05", "to": "2026-03-01"},
            "The end date is before the start date.",
        ),
        (
            {"from": "2025-01-01", "to": "2026-01-02"},
            "A period is at most 366 days: choose a shorter one.",
        ),
        ({"line": "+2290100000000"}, "This line is not one of the centre&#39;s lines."),
        ({"service": "nowhere"}, "This service does not exist."),
    ],
)
def test_a_refused_filter_is_a_400_that_says_why(client, supervisor, query, message):
    login(client, supervisor)
    response = client.get("/stats", query_string=query, headers=ENGLISH)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert "<canvas" not in page
    # What was typed is in the form again, to be corrected.
    for name, typed in query.items():
        if name in ("from", "to"):
            assert f'name="{name}" value="{typed}"' in page


def test_a_refusal_is_in_french_too(client, supervisor):
    login(client, supervisor)
    response = client.get(
        "/stats",
        query_string={"from": "2026-03-05", "to": "2026-03-01"},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 400
    assert "La date de fin est avant la date de début." in response.get_data(
        as_text=True
    )


def test_a_leap_year_is_the_longest_period(client, supervisor):
    login(client, supervisor)
    status, page = open_dashboard(client, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert status == 200
    assert len(page.tables["calls"]) == 366


# --- the numbers ---------------------------------------------------------------------


def test_the_tiles_are_the_period_s_figures(client, supervisor, march):
    login(client, supervisor)
    status, page = open_dashboard(client, **MARCH)
    assert status == 200
    assert page.tiles == {
        "offered": "4",
        "answered": "2",
        "abandonment_rate": "33.3%",
        "service_level": "33.3%",
        "asa_seconds": "25 s",
        "aht_seconds": "2 min 30 s",
        "created": "4",
        "resolved": "1",
        "median_resolution_hours": "24 h",
        "take_charge_met_rate": "50%",
        "resolve_met_rate": "100%",
        "csat": "100%",
    }


def test_day_tables_hold_every_day_with_the_service_s_figures(
    client, supervisor, march
):
    login(client, supervisor)
    _, page = open_dashboard(client, **MARCH)
    assert page.series["calls"] == ["offered", "answered", "abandoned"]
    assert page.tables["calls"] == [
        ("1\u00a0Mar", ["0", "0", "0"]),
        ("2\u00a0Mar", ["3", "1", "1"]),
        ("3\u00a0Mar", ["0", "0", "0"]),
        ("4\u00a0Mar", ["1", "1", "0"]),
        ("5\u00a0Mar", ["0", "0", "0"]),
    ]
    # A day without calls has no service level: empty, not zero.
    assert page.tables["service-level"] == [
        ("1\u00a0Mar", ["", ""]),
        ("2\u00a0Mar", ["0.5", "10.0"]),
        ("3\u00a0Mar", ["", ""]),
        ("4\u00a0Mar", ["0.0", "40.0"]),
        ("5\u00a0Mar", ["", ""]),
    ]
    assert page.tables["satisfaction"][3] == ("4\u00a0Mar", ["1", "4.0"])
    assert page.tables["satisfaction"][0] == ("1\u00a0Mar", ["0", ""])
    # The same numbers as the service's, day by day.
    scope = stats.scope_for(date(2026, 3, 1), date(2026, 3, 5))
    by_day = stats.calls_by_day(scope)
    for title, values in page.tables["calls"]:
        day = date(2026, 3, int(title.split()[0]))
        figures = by_day.get(day, {"offered": 0, "answered": 0, "abandoned": 0})
        expected = [figures["offered"], figures["answered"], figures["abandoned"]]
        assert [int(value) for value in values] == expected


def test_ticket_tables_by_channel_category_service_and_deadline(
    client, supervisor, march
):
    login(client, supervisor)
    _, page = open_dashboard(client, **MARCH)
    assert page.tables["channels"] == [
        ("Phone", ["1"]),
        ("SMS", ["2"]),
        ("WhatsApp", ["0"]),
        ("Web form", ["1"]),
        ("Counter", ["0"]),
        ("E-mail", ["0"]),
        ("USSD", ["0"]),
    ]
    categories = dict(page.tables["categories"])
    assert sorted(int(v[0]) for v in categories.values()) == [1, 1, 2]
    assert categories["No category"] == ["1"]
    assert page.tables["services"] == [
        ("Direction des pensions", ["2"]),
        ("No service", ["2"]),
    ]
    assert page.tables["deadlines"] == [
        ("Taking charge", ["2", "2"]),
        ("Resolving", ["1", "0"]),
    ]
    # Open now: three of the period's and the one of February (created before
    # the period's end), all older than 31 days by today.
    assert page.tables["backlog"][-1] == ("31 days or more", ["4"])


def test_a_line_or_a_service_narrows_every_figure(client, supervisor, march):
    login(client, supervisor)
    _, page = open_dashboard(client, **MARCH, line=HOTLINE)
    assert (page.tiles["offered"], page.tiles["abandonment_rate"]) == ("1", "100%")
    assert page.tiles["created"] == "0"
    _, page = open_dashboard(client, **MARCH, service="pensions")
    # The service's calls are those about its requests: none here.
    assert page.tiles["offered"] == "0"
    assert page.tiles["abandonment_rate"] == "—"
    assert page.tables["services"] == [("Direction des pensions", ["2"])]
    assert dict(page.tables["channels"])["Phone"] == ["1"]


def test_deadline_outcomes_count_met_and_missed(app, march):
    scope = stats.scope_for(date(2026, 3, 1), date(2026, 3, 5))
    assert stats.deadline_outcomes(scope, NOW) == {
        "take_charge": {"met": 2, "missed": 2},
        "resolve": {"met": 1, "missed": 0},
    }
    # The same counts as the met rates of the figures.
    tickets = stats.ticket_figures(scope, NOW)
    assert tickets["take_charge_met_rate"] == 0.5
    assert tickets["resolve_met_rate"] == 1.0
    # Before the late one's deadline passed, it was not decided yet.
    before = stats.deadline_outcomes(scope, local(3, 11))
    assert before["take_charge"] == {"met": 2, "missed": 1}
    # A service's requests only.
    pensions = db.session.scalar(select(Service.id).filter_by(key="pensions"))
    scope = stats.scope_for(date(2026, 3, 1), date(2026, 3, 5), service_id=pensions)
    assert stats.deadline_outcomes(scope, NOW)["take_charge"] == {
        "met": 2,
        "missed": 0,
    }
