"""The monthly report and the public figures in Debian's chromium (issue #13).

A supervisor reads October 2026's report at 1280 and 390 px wide and prints
it: the PDF is one A4 page. A citizen reads the public figures on a 360 px
phone without JavaScript. Screenshots go to /tmp/shots-report/, to be looked at.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Role
from stats import public, report
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    new_page,
    no_js_phone,
    serving,
    sign_in,
    watched_page,
)
from tests.factories import make_user
from tests.test_stats_report import call_at, rated, ticket_at

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
SHOTS = Path("/tmp/shots-report")
A4_POINTS = (595, 842)  # 210 x 297 mm
# Requests by category: (September, October).
CATEGORIES = {
    "delay": (12, 21),
    "service": (9, 14),
    "payment": (6, 11),
    "other": (8, 7),
    "pension": (3, 6),
    "salary": (2, 4),
    None: (1, 3),
}


@dataclass(frozen=True)
class Served:
    url: str
    supervisor: str


def seed() -> None:
    """Two busy months: calls, requests in every category, ratings."""
    ticket_at.count = 0
    for month, start in enumerate(
        (datetime(2026, 9, 2, 8, tzinfo=UTC), datetime(2026, 10, 2, 8, tzinfo=UTC))
    ):
        for category, counts in CATEGORIES.items():
            for number in range(counts[month]):
                created = start + timedelta(days=number % 25, hours=number % 7)
                ticket = ticket_at(
                    created,
                    category,
                    channel=("phone", "sms", "web")[number % 3],
                    status="resolved" if number % 2 else "in_progress",
                )
                if number % 2:
                    ticket.resolved_at = created + timedelta(hours=6 + number * 3)
                    ticket.resolve_due = created + timedelta(days=2)
                    ticket.resolve_met = number % 5 != 0
                    rated(ticket, 5 - number % 4, created + timedelta(days=1))
        for number in range(40 + month * 15):
            call_at(
                start + timedelta(days=number % 25, minutes=number),
                wait=5 + number % 35,
                answered=number % 6 != 0,
            )
    db.session.commit()


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[Served]:
    monkeypatch.setattr(report, "utcnow", lambda: NOW)
    monkeypatch.setattr(public, "utcnow", lambda: NOW)
    app = browser_app(tmp_path)
    with app.app_context():
        make_user("chef@example.org", Role.SUPERVISOR)
        seed()
        db.session.remove()
    SHOTS.mkdir(exist_ok=True)
    with serving(app) as url:
        yield Served(url, "chef@example.org")


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """The (width, height) in points of each page of a PDF Chromium wrote."""
    count = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    sizes = [(float(width), float(height)) for width, height in boxes]
    assert len(sizes) >= count
    return sizes[:count]


def test_the_report_reads_at_both_widths_and_prints_on_one_a4_page(served):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="fr-FR", viewport={"width": 1280, "height": 900}
        )
        sign_in(page, served.url, served.supervisor)
        page.goto(f"{served.url}/stats/report")

        assert page.locator("h1").inner_text() == "Revue de direction — octobre 2026"
        created = page.locator(
            "tr", has=page.locator("th", has_text="Demandes enregistrées")
        )
        assert created.locator("td").all_inner_texts()[:2] == ["66", "41"]
        grown = page.locator("table.report-grown tbody th").all_inner_texts()
        assert grown[0] == "Un retard de traitement d'un dossier"  # +9
        # The button shows where script runs, and asks the browser to print.
        assert page.locator("button.report-print").is_visible()
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"report-{width}.png"), full_page=True)
            assert not page.evaluate(WIDER_THAN_SCREEN), f"report at {width}px"

        page.set_viewport_size({"width": 1280, "height": 900})
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        (SHOTS / "report.pdf").write_bytes(pdf)
        # What the PDF shows: the page as printed, A4's width at 96 dpi.
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 794, "height": 1123})
        page.screenshot(path=str(SHOTS / "report-print.png"), full_page=True)
        assert page.locator("header.top").is_hidden()
        assert page.locator("nav.report-months").is_hidden()

    assert errors == []
    sizes = pdf_pages(pdf)
    assert len(sizes) == 1, sizes
    assert tuple(round(side) for side in sizes[0]) == A4_POINTS


def test_the_public_figures_on_a_phone_without_javascript(served):
    with chromium() as browser:
        page = no_js_phone(browser)
        response = page.goto(f"{served.url}/public/stats")

        assert response is not None
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert page.locator("h1").inner_text() == "Les chiffres du centre"
        october = page.locator("tr", has=page.locator("th", has_text="octobre 2026"))
        assert october.first.locator("td").first.inner_text() == "66"
        page.screenshot(path=str(SHOTS / "public-360.png"), full_page=True)
        assert not page.evaluate(WIDER_THAN_SCREEN)
        assert page.locator("script").count() == 0

        wide = new_page(browser, java_script_enabled=False)
        wide.set_viewport_size({"width": 1280, "height": 900})
        wide.goto(f"{served.url}/public/stats?lang=en")
        wide.screenshot(path=str(SHOTS / "public-1280.png"), full_page=True)
        assert not wide.evaluate(WIDER_THAN_SCREEN)
        assert wide.locator("h1").inner_text() == "The centre's figures"
