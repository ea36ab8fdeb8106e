"""A supervisor works the queue in Debian's chromium: overdue tickets, the next
page, the other language; then the same on a phone, without JavaScript.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; htmx updates the results in place (no page load, checked by a marker left
on `window`), and the language switch keeps the filters and the page.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.extensions import db
from app.models import Role, Service, Ticket
from app.references import new_reference
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    no_js_phone,
    serving,
    sign_in,
    watched_page,
)
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_user

pytestmark = pytest.mark.browser

OVERDUE = 55  # more than a page of 50
DASH = "\N{EN DASH}"
SAME_PAGE = "() => window.queueMarker === 1"


@dataclass(frozen=True)
class Served:
    url: str
    supervisor: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        supervisor = make_user("chef@example.org", Role.SUPERVISOR)
        agent = make_user("awa@example.org", Role.AGENT)
        agent.name = "Awa Dossou"
        pensions = Service(key="pensions", name="Direction des pensions")
        caller = make_caller(CALLER)
        now = datetime.now(UTC)
        for number in range(OVERDUE + 8):
            # The first ones wait to be taken in charge, their due passed; the
            # others are being treated, their answer due in days.
            late = number < OVERDUE
            db.session.add(
                Ticket(
                    reference=new_reference(),
                    caller=caller,
                    line=LINE,
                    category=("pension", "payment", "delay")[number % 3],
                    priority=("normal", "high", "urgent", "low")[number % 4],
                    status="new" if late else "in_progress",
                    service=pensions if number % 2 else None,
                    assignee=agent if number % 3 == 2 else None,
                    created_at=now - timedelta(days=3, minutes=7 * number),
                    take_charge_due=now - timedelta(hours=1 + number),
                    take_charge_met=None if late else True,
                    resolve_due=now + timedelta(days=1 + number % 7),
                    escalation_level=1 if number % 5 == 0 else 0,
                    appeal=number % 11 == 0,
                    sla_plan="default",
                )
            )
        db.session.commit()
        email = supervisor.email
        db.session.remove()

    with serving(app) as url:
        yield Served(url, email)


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_a_supervisor_filters_overdue_tickets_and_pages_on(served, tmp_path):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="fr-FR", viewport={"width": 1280, "height": 900}
        )
        sign_in(page, served.url, served.supervisor)
        assert page.inner_text("h1") == "File de travail"
        assert page.locator("h1").count() == 1
        # Pure functions: a bare expression would be eval()ed, which the
        # page's Content-Security-Policy forbids.
        page.evaluate("() => { window.queueMarker = 1; }")

        # On a desktop the filters are shown; ticking "Overdue" updates
        # the results in place and puts the view in the address.
        page.check("input[name=overdue]")
        # The address is the view: the filters chosen, no empty field.
        page.wait_for_url(f"{served.url}/?overdue=1")
        page.wait_for_function(
            "() => document.querySelector('#results .summary')"
            ".textContent.includes('sur 55')"
        )
        assert page.evaluate(SAME_PAGE), "the page was loaded again"
        summary = page.inner_text("#results .summary")
        assert f"1{DASH}50 sur 55" in summary
        badges = page.locator("#results tbody tr td:nth-child(3) .badge")
        assert badges.count() == 50
        assert page.locator("#results tbody .badge.late").count() >= 50
        assert "en retard de" in badges.first.inner_text()
        summary_ = page.text_content("details.queue-filters summary") or ""
        assert summary_.strip() == "Filtres (1)"
        current = page.locator("#saved-views a[aria-current=page]")
        assert current.inner_text().startswith("En retard")
        export = page.get_attribute("#results a[download]", "href")
        assert export is not None
        assert "overdue=1" in export
        shoot(page, tmp_path, "queue-overdue-1280")

        # The next page, in place too.
        page.click("#results a[rel=next]")
        page.wait_for_url("**after=*")
        page.wait_for_function(
            "() => document.querySelector('#results .summary')"
            f".textContent.includes('51{DASH}55')"
        )
        assert page.evaluate(SAME_PAGE)
        assert page.locator("#results tbody tr").count() == 5

        # The language switch keeps the filters and the page.
        page.click("header .langs a[hreflang=en]")
        page.wait_for_url("**lang=en*")
        assert "overdue=1" in page.url
        assert "after=" in page.url
        assert page.inner_text("h1") == "Work queue"
        assert f"51{DASH}55 of 55" in page.inner_text("#results .summary")
        assert page.is_checked("input[name=overdue]")
        assert "late by" in page.inner_text("#results tbody")
        shoot(page, tmp_path, "queue-overdue-page2-en-1280")

        # On a phone: cards, no page wider than the screen, filters folded.
        page.set_viewport_size({"width": 390, "height": 844})
        assert not page.evaluate(WIDER_THAN_SCREEN)
        assert not page.is_visible("input[name=overdue]")
        shoot(page, tmp_path, "queue-overdue-page2-en-390")
        page.click("details.queue-filters summary")
        assert page.is_visible("input[name=overdue]")
        assert not page.evaluate(WIDER_THAN_SCREEN)
        shoot(page, tmp_path, "queue-filters-open-390")
        assert errors == []


def test_the_filters_work_without_javascript_on_a_phone(served, tmp_path):
    with chromium() as browser:
        page = no_js_phone(browser)
        sign_in(page, served.url, served.supervisor)
        page.click("details.queue-filters summary")
        page.select_option("select[name=priority]", "urgent")
        page.check("input[name=overdue]")
        page.click("details.queue-filters button[type=submit]")
        page.wait_for_url("**priority=urgent*")
        assert "overdue=1" in page.url
        words = page.locator("#results tbody td:nth-child(4)").all_inner_texts()
        assert words
        assert set(words) == {"Urgente"}
        assert not page.evaluate(WIDER_THAN_SCREEN)
        shoot(page, tmp_path, "queue-urgent-overdue-nojs-360")

        # The request form, a button away, with its CSRF token.
        page.click("a.button.primary")
        page.wait_for_url(f"{served.url}/tickets/new")
        assert page.inner_text("h1") == "Enregistrer une demande"
        page.fill("input[name=phone]", "97 00 00 00")
        page.select_option("select[name=channel]", "counter")
        page.select_option("select[name=category]", "pension")
        page.fill("textarea[name=description]", "Pension de mars non versée.")
        shoot(page, tmp_path, "request-form-nojs-360")
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/?q=*")
        assert "Demande enregistrée" in page.inner_text("main .flash")
        rows = page.locator("#results tbody tr")
        assert rows.count() == 1
        assert "Guichet" in rows.first.inner_text()
        assert not page.evaluate(WIDER_THAN_SCREEN)
