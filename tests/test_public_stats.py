"""The centre's public figures (CONTRACT §10, issue #13): GET /public/stats.

No login; never a personal datum, never a group of fewer than five requests;
cached. The clock is pinned to 29 November 2026 in the centre's time zone
(Africa/Porto-Novo, UTC+01:00): November is the month in progress.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Ticket
from stats import disclosure, public, public_figures
from stats.cache import TTLCache
from stats.disclosure import COVER, SMALL, Cell
from tests.factories import make_caller, make_ticket
from tests.test_queries import counting

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 15, 9, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 15, 9, tzinfo=UTC)
JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setattr(public, "utcnow", lambda: NOW)


def requests_at(created: datetime, count: int, **fields) -> list[Ticket]:
    """`count` requests, each from its own named caller with an e-mail."""
    made = []
    for _ in range(count):
        number = requests_at.callers = requests_at.callers + 1
        caller = make_caller(f"+229019700{number:04d}")
        caller.name = f"Citoyen Numéro{number}"
        caller.email = f"citoyen{number}@example.org"
        ticket = make_ticket(caller, **fields)
        ticket.created_at = created
        made.append(ticket)
    db.session.commit()
    return made


requests_at.callers = 0


def cells_of_row(page: str, month: str, table: int = 0) -> list[str]:
    """The text of the cells of `month`'s row in the page's `table`-th table."""
    body = page.split("<table>")[table + 1].split("</table>")[0]
    found = re.search(rf"<th scope=\"row\">{month}.*?</th>(.*?)</tr>", body, re.S)
    assert found, month
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def month_json(client, key: str, lang: str = "fr") -> dict:
    answer = client.get(f"/public/stats?lang={lang}", headers=JSON).get_json()
    return next(month for month in answer["months"] if month["month"] == key)


def test_anyone_may_read_it_in_french_first(client):
    response = client.get("/public/stats", headers={"Accept-Language": "en"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "<h1>Les chiffres du centre</h1>" in page
    assert "<script" not in page
    assert "<caption>Demandes par canal</caption>" in page
    assert "novembre 2026 <small>(en cours)</small>" in page
    # Twelve complete months and the current one, newest first.
    months = re.findall(r"<th scope=\"row\">(\w+ \d{4})", page.split("</table>")[0])
    assert months[0] == "novembre 2026"
    assert months[-1] == "novembre 2025"
    assert len(months) == 13
    assert len(response.data) < 50_000


def test_english_when_the_address_asks_and_no_cookie_is_set(client):
    response = client.get("/public/stats?lang=en")

    page = response.get_data(as_text=True)
    assert "<h1>The centre's figures</h1>" in page
    assert "November 2026 <small>(in progress)</small>" in page
    assert "Set-Cookie" not in response.headers
    # The address alone chose: the next visit without ?lang is French again.
    again = client.get("/public/stats").get_data(as_text=True)
    assert "<h1>Les chiffres du centre</h1>" in again


def test_shared_caches_may_keep_it_an_hour(client):
    html = client.get("/public/stats")
    as_json = client.get("/public/stats", headers=JSON)

    for response in (html, as_json):
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        assert "Accept" in response.vary
    assert html.mimetype == "text/html"
    assert as_json.mimetype == "application/json"
    assert client.get("/public/stats?format=json").get_json() == as_json.get_json()


def test_a_month_with_four_requests_shows_nothing_but_that(client):
    tickets = requests_at(OCTOBER, 4, category="delay", channel="sms")
    tickets[0].record("rating", "caller", score=5).at = OCTOBER
    db.session.commit()

    page = client.get("/public/stats").get_data(as_text=True)

    for table in range(3):
        assert cells_of_row(page, "octobre 2026", table) == ["moins de 5 demandes"]
    assert month_json(client, "2026-10") == {
        "month": "2026-10",
        "in_progress": False,
        "requests": {"count": None, "suppressed": True, "reason": "fewer_than_5"},
    }


def test_a_month_with_five_requests_shows_five(client):
    requests_at(SEPTEMBER, 5, category="delay", channel="phone")

    page = client.get("/public/stats?lang=en").get_data(as_text=True)

    assert cells_of_row(page, "September 2026") == ["5", "—", "—", "—", "—"]
    channels = cells_of_row(page, "September 2026", table=1)
    assert channels == ["5"] + ["fewer than 5"] * 6  # phone, then the other six
    month = month_json(client, "2026-09", lang="en")
    assert month["requests"] == {"count": 5, "suppressed": False}
    assert month["by_channel"][0] == {
        "key": "phone",
        "label": "Phone",
        "count": 5,
        "suppressed": False,
    }
    delay = next(cell for cell in month["by_category"] if cell["key"] == "delay")
    assert delay["count"] == 5
    assert month["resolve_met_rate"] is None
    assert month["satisfaction"] == {"average": None, "csat": None}


def test_a_small_count_cannot_be_worked_out_from_the_total(client):
    requests_at(SEPTEMBER, 5, channel="phone", category="delay")
    requests_at(SEPTEMBER, 2, channel="sms", category="delay")

    page = client.get("/public/stats?lang=en").get_data(as_text=True)

    assert cells_of_row(page, "September 2026")[0] == "7"
    # 7 - 5 would tell the 2 texts: the 5 is hidden with them.
    channels = cells_of_row(page, "September 2026", table=1)
    assert channels[:2] == ["not shown *", "fewer than 5"]
    by_channel = month_json(client, "2026-09")["by_channel"]
    assert by_channel[0]["count"] is None
    assert by_channel[0]["reason"] == "protects_a_small_group"
    assert cells_of_row(page, "September 2026", table=2).count("7") == 1


def test_rates_and_means_need_five_behind_them(client):
    resolved = requests_at(SEPTEMBER, 6, channel="phone", status="resolved")
    for hours, ticket in enumerate(resolved[:5], start=1):
        ticket.resolved_at = SEPTEMBER + timedelta(hours=hours)
        ticket.resolve_due = SEPTEMBER + timedelta(days=3)
        ticket.resolve_met = True
    for score in (5, 4, 2, 5):
        resolved[0].record("rating", "caller", score=score).at = SEPTEMBER
    db.session.commit()

    page = client.get("/public/stats?lang=en").get_data(as_text=True)

    # 5 decided deadlines, all met; median of 1..5 hours; only 4 ratings.
    assert cells_of_row(page, "September 2026") == ["6", "100%", "3 h", "—", "—"]
    resolved[1].record("rating", "caller", score=1).at = SEPTEMBER
    db.session.commit()
    public_figures_cache(client).clear()
    month = month_json(client, "2026-09")
    assert month["satisfaction"] == {"average": 3.4, "csat": 0.6}


def public_figures_cache(client) -> dict:
    return client.application.extensions[public.CACHE]._entries


def test_no_count_under_five_and_no_personal_datum_appears(client):
    made = requests_at(SEPTEMBER, 9, channel="phone", category="delay")
    made += requests_at(SEPTEMBER, 4, channel="web", category="service")
    made += requests_at(OCTOBER, 6, channel="sms", category="other")
    made += requests_at(OCTOBER, 1, channel="counter", category="pension")
    made += requests_at(NOW - timedelta(days=2), 2, channel="phone")

    page = client.get("/public/stats").get_data(as_text=True)
    as_json = client.get("/public/stats", headers=JSON).get_data(as_text=True)

    for cell in re.findall(r"<td[^>]*>(.*?)</td>", page, re.S):
        text = re.sub(r"<[^>]+>", "", cell).strip()
        assert not re.fullmatch(r"[0-4]", text), text
    counts = re.findall(r'"count":\s*(null|\d+)', as_json)
    assert counts
    assert all(count == "null" or int(count) >= 5 for count in counts)
    for ticket in made:
        caller = ticket.caller
        for datum in (
            caller.phone_e164,
            caller.phone_e164.removeprefix("+229"),
            caller.name,
            caller.email,
            ticket.reference,
            ticket.display_reference,
        ):
            assert datum not in page
            assert datum not in as_json


def test_a_second_visit_within_the_hour_does_not_query(client, app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setitem(app.extensions, public.CACHE, TTLCache(lambda: clock[0]))
    computed = []
    compute = public_figures.month_figures
    monkeypatch.setattr(
        public_figures,
        "month_figures",
        lambda first, now: computed.append(first) or compute(first, now),
    )
    requests_at(OCTOBER, 5)
    client.get("/public/stats")
    assert len(computed) == 13

    with counting() as statements:
        client.get("/public/stats?lang=en")
        client.get("/public/stats", headers=JSON)
    assert statements == []
    assert len(computed) == 13

    clock[0] += 3601  # the month in progress is computed again, the others kept
    client.get("/public/stats")
    assert computed[13:] == [NOW.date().replace(day=1)]
    clock[0] += 24 * 3600
    client.get("/public/stats")
    assert len(computed) == 14 + 13


def test_breakdown_hides_what_the_total_would_tell():
    def reasons(**counts: int) -> dict[str, str | int | None]:
        cells = disclosure.breakdown(counts)
        return {key: cell.withheld or cell.count for key, cell in cells.items()}

    assert reasons(phone=7, sms=0, web=0) == {"phone": 7, "sms": SMALL, "web": SMALL}
    assert reasons(phone=5, sms=2, web=0) == {
        "phone": COVER,
        "sms": SMALL,
        "web": SMALL,
    }
    # Two withheld fours would each be 4 (8 = 4 + 4): a third goes with them.
    assert reasons(a=4, b=4, c=9, d=12) == {"a": SMALL, "b": SMALL, "c": COVER, "d": 12}
    # Withheld counts that together make five or more tell nothing alone.
    assert reasons(a=3, b=2, c=6) == {"a": SMALL, "b": SMALL, "c": 6}
    assert disclosure.shown_count(4) == Cell(None, SMALL)
    assert disclosure.shown_count(5) == Cell(5)
    assert disclosure.shown_measure(0.5, 4) is None
    assert disclosure.shown_measure(0.5, 5) == 0.5
