"""A supervisor watches the wallboard in Debian's chromium: a caller who starts
waiting appears at the next poll, without the page reloading (a marker left on
`window` survives); durations tick between polls; a board whose polls fail
says so. It fits a wall screen, a laptop and a phone; screenshots are kept in
/tmp/shots-wallboard/ to be looked at."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page

from app.extensions import db
from app.models import Call, Presence, Role
from tests.browser import (
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    new_page,
    serving,
    sign_in,
    watched_page,
)
from tests.conftest import HOTLINE, LINE
from tests.factories import make_user, sid

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-wallboard")
SAME_PAGE = "() => window.wallboardMarker === 1"
WAITING_NOW = ".wallboard-queue .tile:first-child .value"
LONGEST_WAIT = ".wallboard-queue .tile:nth-child(2) .value"


@dataclass(frozen=True)
class Served:
    app: Flask
    url: str
    supervisor: str


def waiting_call(line: str, waited: timedelta) -> Call:
    """A caller of `line` queued for an agent `waited` ago, still on the line."""
    now = datetime.now(UTC)
    call = Call(call_sid=sid("CA"), line=line, status="in-progress", intent="agent")
    call.started_at = now - waited - timedelta(seconds=40)
    call.wanted_agent_at = call.queued_at = now - waited
    return call


def finished_call(wait: int | None, answered: bool) -> Call:
    now = datetime.now(UTC) - timedelta(seconds=1)
    call = Call(call_sid=sid("CA"), line=LINE, status="completed", started_at=now)
    call.ended_at = now
    if wait is not None:
        call.wanted_agent_at = now
        call.wait_seconds = wait
    if answered:
        call.answered_at = now
    return call


def agent(email: str, name: str, status: str, call_sid: str | None = None) -> None:
    user = make_user(email, Role.AGENT)
    user.name = name
    db.session.add(
        Presence(
            user_id=user.id,
            status=status,
            call_sid=call_sid,
            since=datetime.now(UTC),
            last_seen=datetime.now(UTC),
        )
    )


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        supervisor = make_user("chef@example.org", Role.SUPERVISOR)
        # Two agents on calls, one free, one ringing, one not ready.
        for number, (name, talked) in enumerate(
            (("Awa Dossou", 95), ("Koffi Mensah-Agbodjan", 3725))
        ):
            call = Call(call_sid=sid("CA"), line=(LINE, HOTLINE)[number])
            call.status = "in-progress"
            call.answered_at = datetime.now(UTC) - timedelta(seconds=talked)
            db.session.add(call)
            agent(f"agent{number}@example.org", name, "busy", call.call_sid)
        agent("yao@example.org", "Yao Houngbédji", "available")
        agent("afi@example.org", "Afi Zinsou", "ringing")
        agent("sena@example.org", "Séna Ahouandjinou", "busy")
        # The day so far: some answered late, some abandoned.
        for wait in (8, 12, 15, 18, 50):
            db.session.add(finished_call(wait, answered=True))
        for wait in (25, 40):
            db.session.add(finished_call(wait, answered=False))
        db.session.add(finished_call(None, answered=False))
        db.session.add(waiting_call(HOTLINE, timedelta(seconds=30)))
        db.session.commit()
        email = supervisor.email
        db.session.remove()
    with serving(app) as url:
        yield Served(app, url, email)


def look(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_new_caller_appears_without_reloading(served):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="fr-FR", viewport={"width": 1920, "height": 1080}
        )
        sign_in(page, served.url, served.supervisor)
        page.goto(f"{served.url}/stats/wallboard")
        assert page.locator(WAITING_NOW).inner_text() == "1"
        page.evaluate("() => { window.wallboardMarker = 1; }")
        # On the wall every tile comes before the lists: a long list of calls
        # runs off the bottom, never today's figures.
        today = page.locator(".wallboard-today").bounding_box()
        calls = page.locator(".wallboard-calls").bounding_box()
        assert today is not None
        assert calls is not None
        assert today["y"] + today["height"] < calls["y"] < 1080
        look(page, "wallboard-1920")

        # Between two polls the longest wait ticks by itself.
        before = page.locator(LONGEST_WAIT).inner_text()
        page.wait_for_function(
            f"() => document.querySelector({LONGEST_WAIT!r}).textContent !== "
            f"{before!r}",
            timeout=3000,
        )

        with served.app.app_context():
            db.session.add(waiting_call(LINE, timedelta(seconds=90)))
            db.session.commit()
            db.session.remove()
        # The next poll (every 5 s) brings the new caller and the longer wait.
        page.wait_for_function(
            f"() => document.querySelector({WAITING_NOW!r}).textContent === '2'",
            timeout=8000,
        )
        assert page.evaluate(SAME_PAGE), "the page reloaded"
        longest = page.locator(LONGEST_WAIT)
        assert longest.inner_text() in {"01:3" + str(s) for s in range(10)}
        tile = page.locator(".wallboard-queue .tile:nth-child(2)")
        assert tile.get_attribute("class") == "tile bad"
        assert tile.locator(".judged").inner_text() == "Plus de 60 s"
        assert not page.evaluate(WIDER_THAN_SCREEN)
        look(page, "wallboard-1920-two-waiting")
    assert errors == []


def test_a_board_whose_polls_fail_says_so(served):
    with chromium() as browser:
        page = new_page(
            browser, locale="en-GB", viewport={"width": 1280, "height": 900}
        )
        sign_in(page, served.url, served.supervisor)
        page.clock.install()
        page.goto(f"{served.url}/stats/wallboard?lang=en")
        notice = page.locator("#wallboard-stale")
        assert notice.is_hidden()
        page.route("**/stats/wallboard/live*", lambda route: route.abort())
        page.clock.run_for(25_000)
        assert notice.is_visible()
        assert "Not updated for a while" in notice.inner_text()
        look(page, "wallboard-1280-stale")
        page.unroute("**/stats/wallboard/live*")
        page.clock.run_for(6_000)
        page.wait_for_function(
            "() => document.getElementById('wallboard-stale').hidden", timeout=5000
        )


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_fits_the_screen(served, width, height):
    errors: list[str] = []
    with chromium() as browser:
        page = watched_page(
            browser, errors, locale="fr-FR", viewport={"width": width, "height": height}
        )
        sign_in(page, served.url, served.supervisor)
        page.goto(f"{served.url}/stats/wallboard")
        assert page.locator("h1").inner_text() == "Tableau mural"
        assert not page.evaluate(WIDER_THAN_SCREEN)
        # Every duration on one line, inside the screen.
        for box in page.locator("[data-seconds]").all():
            bound = box.bounding_box()
            assert bound is not None
            assert bound["x"] + bound["width"] <= width
        look(page, f"wallboard-{width}")
    assert errors == []
