"""A supervisor, in Debian's chromium, reads the dashboard, changes its period
and its service, and every chart is drawn by Chart.js from its table.

Screenshots at 1280 and 390 px wide are saved in the test's tmp_path and in
/tmp/shots-dashboard/, to be looked at.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from app.extensions import db
from app.models import Role, Service
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    serving,
    sign_in,
    watched_page,
)
from tests.factories import make_caller, make_ticket, make_user
from tests.test_stats_dashboard import add_call

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-dashboard")
CHARTS = 8
ZONE = ZoneInfo("Africa/Porto-Novo")


@dataclass(frozen=True)
class Served:
    url: str
    today: datetime


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    """Three weeks of calls and requests up to this morning."""
    app = browser_app(tmp_path)
    today = datetime.combine(datetime.now(ZONE).date(), time(0), ZONE)
    with app.app_context():
        make_user("chef@example.org", Role.SUPERVISOR)
        pensions = Service(key="pensions", name="Direction des pensions")
        db.session.add_all([pensions, Service(key="salaires", name="Salaires")])
        for days_ago in range(21):
            day = today - timedelta(days=days_ago)
            add_call(day + timedelta(hours=8), wait=5 + days_ago, talk=120)
            if days_ago % 3 == 0:
                add_call(day + timedelta(hours=9), wait=40)  # abandoned
            add_call(day + timedelta(hours=10))  # the menu only
        db.session.commit()
        caller = make_caller()
        for days_ago in range(0, 21, 2):
            make_ticket(
                caller,
                channel=("phone", "sms", "web")[days_ago % 3],
                category=("pension", "salary")[days_ago % 2],
                service_id=pensions.id if days_ago % 4 else None,
                created_at=today - timedelta(days=days_ago, hours=-7),
            )
        db.session.remove()
    with serving(app) as url:
        yield Served(url, today)


def drawn(page: Page) -> list[dict]:
    """Each chart: whether Chart.js drew it, its canvas's size, its table's rows."""
    return page.evaluate(
        """() => [...document.querySelectorAll("figure[data-chart]")].map(f => {
            const canvas = f.querySelector("canvas");
            return {
                key: f.dataset.chart,
                rendered: f.dataset.rendered === "true" && !!Chart.getChart(canvas),
                width: canvas.clientWidth,
                height: canvas.clientHeight,
                rows: f.querySelectorAll("tbody tr").length,
                caption: f.querySelector("table caption").textContent.trim(),
            };
        })"""
    )


def shoot(page: Page, folder: Path, name: str) -> None:
    """The page at 1280 then 390 px wide; at neither may it be wider than the screen."""
    SHOTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(200)  # Chart.js redraws on resize
        for place in (folder, SHOTS):
            page.screenshot(path=str(place / f"{name}-{width}.png"), full_page=True)
        assert not page.evaluate(WIDER_THAN_SCREEN), f"{name} at {width}px"
        assert all(chart["width"] > 0 for chart in drawn(page)), width
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_supervisor_reads_the_dashboard_and_narrows_it(served, tmp_path):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="fr-FR", viewport={"width": 1280, "height": 900}
        )
        page.on(
            "response",
            lambda response: (
                response.status >= 400
                and not response.url.endswith("/favicon.ico")
                and errors.append(f"{response.status} {response.url}")
            ),
        )
        sign_in(page, served.url, "chef@example.org")
        page.click("text=Statistiques")
        page.wait_for_function(
            f"document.querySelectorAll('figure[data-rendered]').length === {CHARTS}"
        )
        charts = drawn(page)
        assert [chart["key"] for chart in charts] == [
            "calls",
            "service-level",
            "channels",
            "categories",
            "services",
            "deadlines",
            "backlog",
            "satisfaction",
        ]
        for chart in charts:
            assert chart["rendered"], chart["key"]
            assert chart["width"] > 200, chart
            assert chart["height"] > 150, chart
        this_month = served.today.day
        assert charts[0]["rows"] == this_month
        assert charts[0]["caption"] == "Appels par jour"
        assert page.get_attribute("nav a[href='/stats']", "aria-current") == "page"
        shoot(page, tmp_path, "dashboard")

        # Three weeks, the pensions service only.
        first = (served.today - timedelta(days=20)).date()
        page.fill("input[name=from]", first.isoformat())
        page.fill("input[name=to]", served.today.date().isoformat())
        page.select_option("select[name=service]", "pensions")
        page.click("button:has-text('Afficher')")
        page.wait_for_url("**/stats?*service=pensions*")
        page.wait_for_function(
            f"document.querySelectorAll('figure[data-rendered]').length === {CHARTS}"
        )
        charts = drawn(page)
        assert charts[0]["rows"] == 21
        assert all(chart["rendered"] for chart in charts)
        assert page.locator("[data-tile=created] dd").inner_text() == "5"
        services = page.locator("figure[data-chart=services] tbody tr")
        assert services.count() == 1
        assert "Direction des pensions" in services.inner_text()
        assert page.input_value("select[name=service]") == "pensions"
        shoot(page, tmp_path, "dashboard-pensions")

        # A period ending before it starts: said, and nothing drawn.
        page.fill("input[name=to]", (first - timedelta(days=1)).isoformat())
        page.click("button:has-text('Afficher')")
        page.wait_for_selector("#filter-problems")
        assert "avant la date de début" in page.inner_text("#filter-problems")
        assert page.locator("canvas").count() == 0
    # The refused period answered 400, as it should; nothing else failed.
    assert [e for e in errors if not e.startswith("400 ")] == []
