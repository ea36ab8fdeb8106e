"""A citizen in Debian's chromium: the contact page, the request form and the
status look-up, with JavaScript and without it, on a 360 px phone and a desk.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; screenshots are saved to the test's tmp_path (run with --basetemp to keep
them).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select

from app.extensions import db
from app.models import Ticket
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    new_page,
    no_js_phone,
    watched_page,
)
from tests.browser import serving as served_at
from tests.conftest import CALLER

pytestmark = pytest.mark.browser

DESCRIPTION = "Ma pension de mars n'est pas arrivée sur mon compte à la BOA."


@dataclass(frozen=True)
class Served:
    url: str
    app: Flask


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path, PUBLIC_RATE_LIMIT="100/hour")
    with served_at(app) as url:
        yield Served(url, app)


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def filed_tickets(app: Flask) -> list[Ticket]:
    with app.app_context():
        tickets = list(db.session.scalars(select(Ticket).order_by(Ticket.id)))
        for ticket in tickets:
            assert ticket.caller is None or ticket.caller.phone_e164
        db.session.expunge_all()
        return tickets


def file_a_request(page: Page, served: Served, folder: Path, prefix: str) -> str:
    """From the contact page to the reference, as a citizen does it."""
    response = page.goto(f"{served.url}/public")
    assert response is not None
    assert response.status == 200
    assert page.inner_text("h1") == "Joindre le centre d'écoute"
    assert not page.evaluate(WIDER_THAN_SCREEN)
    shot(page, folder, f"{prefix}-contact")

    page.click("main a.button")
    page.wait_for_url(f"{served.url}/public/request")
    # Sent empty first: every error beside its field, nothing filed.
    page.click("form button[type=submit]")
    assert page.inner_text("h1") == "Faire une demande"
    assert page.inner_text("#category-error") == "Choisissez l'objet de votre demande."
    assert page.inner_text("#phone-error") == (
        "Donnez un numéro de téléphone ou une adresse e-mail."
    )
    assert not page.evaluate(WIDER_THAN_SCREEN)
    shot(page, folder, f"{prefix}-refused")

    page.select_option("select[name=category]", "pension")
    page.fill("textarea[name=description]", DESCRIPTION)
    page.fill("input[name=phone]", "01 97 00 00 00")
    page.fill("input[name=name]", "Awa Dossou")
    page.click("form button[type=submit]")
    reference = page.inner_text("p.reference")
    assert re.fullmatch(r"\d{4}-\d{4}", reference)
    assert page.inner_text("h1") == "Demande reçue"
    assert "Vous recevez la référence par SMS." in page.inner_text("main")
    assert not page.evaluate(WIDER_THAN_SCREEN)
    shot(page, folder, f"{prefix}-filed")
    return reference


def follow_it(page: Page, served: Served, folder: Path, prefix: str, ref: str) -> None:
    page.click("main a.button")  # "Suivre cette demande": the reference is filled
    assert page.input_value("main input[name=reference]") == ref
    page.fill("main input[name=contact]", "+229 01 97 00 00 00")
    page.click("main form button[type=submit]")
    assert page.inner_text("dl.status dd strong") == "Nouveau"
    assert not page.evaluate(WIDER_THAN_SCREEN)
    shot(page, folder, f"{prefix}-status")

    # A wrong contact: the answer an unknown reference gets.
    page.fill("main input[name=contact]", "0196999999")
    page.click("main form button[type=submit]")
    assert "Nous ne trouvons aucune demande" in page.inner_text("main")
    assert page.locator("dl.status").count() == 0

    # The language switch keeps the question (a form, not a link).
    page.click("header button[value=en]")
    assert page.inner_text("h1") == "Follow a request"
    assert page.input_value("main input[name=reference]") == ref


def test_a_citizen_files_and_follows_without_javascript(served, tmp_path):
    with chromium() as browser:
        page = no_js_phone(browser)
        reference = file_a_request(page, served, tmp_path, "nojs-360")
        follow_it(page, served, tmp_path, "nojs-360", reference)

    (ticket,) = filed_tickets(served.app)
    assert ticket.display_reference == reference
    assert ticket.channel == "web"
    assert ticket.description == DESCRIPTION


@pytest.mark.parametrize("width", [1280, 390])
def test_a_citizen_files_and_follows_with_javascript(served, tmp_path, width):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="en-GB", viewport={"width": width, "height": 900}
        )
        # French first, whatever the browser asks for.
        reference = file_a_request(page, served, tmp_path, f"js-{width}")
        follow_it(page, served, tmp_path, f"js-{width}", reference)
        page.goto(f"{served.url}/public?lang=en")
        assert page.inner_text("h1") == "Contact the listening centre"
        shot(page, tmp_path, f"js-{width}-contact-en")

    assert errors == []
    (ticket,) = filed_tickets(served.app)
    assert ticket.display_reference == reference


def test_the_refusal_past_the_limit_reads_clearly(served, tmp_path):
    served.app.config["PUBLIC_RATE_LIMIT"] = "1/hour"
    with chromium() as browser:
        page = new_page(browser, viewport={"width": 360, "height": 780})
        page.goto(f"{served.url}/public/status?reference=1234-5674&contact={CALLER}")
        response = page.goto(
            f"{served.url}/public/status?reference=1234-5674&contact={CALLER}"
        )
        assert response is not None
        assert response.status == 429
        assert page.inner_text("h1") == "Trop de demandes"
        assert not page.evaluate(WIDER_THAN_SCREEN)
        shot(page, tmp_path, "limit-360")
