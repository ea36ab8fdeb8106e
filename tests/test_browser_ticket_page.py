"""The ticket page in Debian's chromium (issue #12): an agent opens a ticket
from the queue, takes it, writes an internal note and a public message (seeing
the citizen's text before it goes), and resolves it; a supervisor listens to
the call's recording inline.

The real app runs under a real server in a thread, on a SQLite file, with CSRF
on; Playwright drives the browser with JavaScript on, so htmx sends the forms
and swaps the ticket's part of the page. Screenshots at 1280 and 390 px wide.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Role, Service, Ticket, TicketEvent
from app.services import sla_clock
from tests.browser import (
    WAIT_MS,
    WIDER_THAN_SCREEN,
    browser_app,
    chromium,
    serving,
    sign_in,
)
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_user, sid, stored_recording

pytestmark = pytest.mark.browser

SECONDS = 3.0


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    reference: str
    recording_id: int
    agent: str
    supervisor: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    app = browser_app(tmp_path)
    with app.app_context():
        pensions = Service(key="pensions", name="Direction des pensions")
        db.session.add(pensions)
        agent = make_user("awa@example.org", Role.AGENT)
        agent.name = "Awa Dossou"
        agent.services.append(pensions)
        supervisor = make_user("chef@example.org", Role.SUPERVISOR)
        caller = make_caller(CALLER)
        caller.name = "Adjoa Mensah"
        caller.matricule = "MAT-20417"
        ticket = make_ticket(
            caller,
            line=LINE,
            category="pension",
            service=pensions,
            description="Ma pension de mars n'est pas arrivée. J'ai appelé deux fois.",
        )
        sla_clock.start(ticket)
        call = Call(
            call_sid=sid("CA"),
            caller=caller,
            from_raw=CALLER,
            line=LINE,
            status="completed",
            duration=62,
        )
        ticket.calls.append(call)
        recording = stored_recording(app, call, ticket.id, SECONDS)
        db.session.add_all([call, recording])
        db.session.commit()
        seeded = (
            ticket.display_reference,
            recording.id,
            agent.email,
            supervisor.email,
        )
        db.session.remove()

    with serving(app) as url:
        yield Served(url, app, *seeded)


def _watch(page: Page, errors: list[str]) -> None:
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A Content-Security-Policy violation shows as a console error.
    page.on("console", lambda message: _console(message, errors))
    page.on("response", lambda response: _response(response, errors))


def _console(message: ConsoleMessage, errors: list[str]) -> None:
    # A failed load is told by its response (below), with its URL.
    if message.type == "error" and "Failed to load resource" not in message.text:
        errors.append(message.text)


def _response(response: Response, errors: list[str]) -> None:
    # The browser asks for a favicon; the app has none. A refusal the page
    # shows beside its form is a 4xx htmx asked for: none in these flows.
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        errors.append(f"{response.status} {response.url}")


def _shots(page: Page, folder: Path, name: str) -> None:
    """The page at a desk's width and a phone's, never wider than the screen."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert not page.evaluate(WIDER_THAN_SCREEN), f"{name} at {width} px"
        # caret="initial": hiding the caret would inject a style the CSP refuses.
        page.screenshot(
            path=str(folder / f"{name}-{width}.png"), full_page=True, caret="initial"
        )
    page.set_viewport_size({"width": 1280, "height": 900})


def _done(page: Page, words: str) -> None:
    """htmx swapped the ticket in, saying what was done (no page load)."""
    page.wait_for_function(
        "(words) => { const done = document.getElementById('ticket-done');"
        " return !!done && done.textContent.includes(words); }",
        arg=words,
    )


def test_an_agent_takes_notes_writes_and_resolves(served, tmp_path):
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR")
        _watch(page, errors)
        sign_in(page, served.url, served.agent)

        # From the queue, the ticket's row links to its page.
        page.click(f"main a[href$='/tickets/{served.reference}']")
        page.wait_for_url(f"{served.url}/tickets/{served.reference}")
        assert served.reference in page.inner_text("h1")
        assert page.locator("h1").count() == 1
        head = page.inner_text(".ticket-head")
        for shown in ("Adjoa Mensah", "MAT-20417", "Direction des pensions"):
            assert shown in head
        assert "Heures de Africa/Porto-Novo" in head
        # An agent who did not take the call nor is in charge: no player.
        assert page.locator("audio").count() == 0
        _shots(page, tmp_path, "ticket-agent-opened")
        page.evaluate("window.ecouteLoads = (window.ecouteLoads || 0) + 1")

        # Take it: htmx swaps the header; the page is not loaded again.
        page.click("#take-button")
        _done(page, "Vous êtes maintenant responsable")
        assert page.inner_text("#ticket-status") == "Attribué"
        assert page.inner_text("#ticket-assignee") == "Awa Dossou"
        assert page.locator("#take-button").count() == 0
        # Now in charge, the agent may listen to the call.
        assert page.locator("audio[preload=none]").count() == 1

        # An internal note.
        page.fill("#note-text", "Pièce d'identité vérifiée, dossier complet.")
        page.click("#note-button")
        _done(page, "Note interne ajoutée")
        timeline = page.inner_text(".timeline")
        assert "Pièce d'identité vérifiée, dossier complet." in timeline
        assert "Note interne" in timeline

        # A public message: the preview shows the text the citizen gets.
        text = "Votre dossier est complet. Le paiement suivra sous huit jours."
        page.locator("#message-text").press_sequentially(text, delay=5)
        page.wait_for_function(
            "(text) => { const sms = document.getElementById('message-sms');"
            " return !!sms && sms.textContent.endsWith(text); }",
            arg=text,
        )
        sms = page.inner_text("#message-sms")
        assert sms.startswith(f"Centre d'écoute, dossier {served.reference}: ")
        assert page.inner_text("#message-segments") == "1 SMS"
        _shots(page, tmp_path, "ticket-agent-preview")
        page.click("#message-button")
        _done(page, "Message envoyé au citoyen")
        assert text in page.inner_text(".timeline")

        # Resolving without an answer is refused beside the form, which
        # gets the focus (the page's script swaps htmx's 400 in).
        page.click("#resolve-button")
        page.wait_for_selector("#resolve-error")
        assert "nécessaire pour résoudre" in page.inner_text("#resolve-error")
        assert page.evaluate("document.activeElement.id") == "resolve-error"
        assert page.inner_text("#ticket-status") == "Attribué"

        # The answer, with its preview, resolves the request.
        answer = "Le virement de mars a été fait le 3 avril ; vérifiez votre compte."
        page.locator("#resolve-text").press_sequentially(answer, delay=5)
        page.wait_for_function(
            "() => { const sms = document.getElementById('resolve-sms');"
            " return !!sms && sms.textContent.includes('Le virement'); }"
        )
        assert "est résolu." in page.inner_text("#resolve-sms")
        page.click("#resolve-button")
        _done(page, "La réponse est enregistrée")
        assert page.inner_text("#ticket-status") == "Résolu"
        assert page.locator("#form-resolve").count() == 0
        assert page.locator("#reopen-button").count() == 1
        # All of it without loading the page again.
        assert page.evaluate("window.ecouteLoads") == 1
        _shots(page, tmp_path, "ticket-agent-resolved")

    # The one refusal asked for above, and nothing else.
    refused = f"400 {served.url}/tickets/{served.reference}/resolve"
    assert errors == [refused], "\n".join(errors)
    with served.app.app_context():
        ticket = db.session.scalar(
            select(Ticket).filter_by(reference=served.reference.replace("-", ""))
        )
        assert ticket.status == "resolved"
        sent = served.app.extensions["twilio"].sent
        message = f"Centre d'écoute, dossier {served.reference}: {text}"
        assert any(sms["body"] == message for sms in sent)
        assert any(answer in sms["body"] for sms in sent)


def test_a_supervisor_listens_inline(served, tmp_path):
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR")
        _watch(page, errors)
        sign_in(page, served.url, served.supervisor)
        page.goto(f"{served.url}/tickets/{served.reference}")
        audio = page.locator(".timeline audio")
        assert audio.count() == 1
        assert audio.get_attribute("preload") == "none"
        audio.evaluate("audio => audio.play()")
        page.wait_for_function(
            "() => document.querySelector('.timeline audio').currentTime > 0.2"
        )
        audio.evaluate("audio => audio.pause()")
        # The hold is theirs to set.
        assert page.locator("#hold-button").count() == 1
        _shots(page, tmp_path, "ticket-supervisor-listening")

        # They hand it to an agent of the service (htmx, no page load).
        page.select_option("#form-assign select[name$=assignee]", label="Awa Dossou")
        page.click("#assign-button")
        page.wait_for_function(
            "() => document.getElementById('ticket-assignee')"
            ".textContent.includes('Awa Dossou')"
        )
        assert page.inner_text("#ticket-status") == "Attribué"

        # Their listening is in the timeline, for supervisors.
        page.reload()
        listened = page.locator(".timeline [data-action=listened]")
        assert listened.count() == 1
        assert "Enregistrement écouté" in listened.inner_text()

    assert errors == [], "\n".join(errors)
    with served.app.app_context():
        events = db.session.scalars(
            select(TicketEvent).filter_by(action="listened")
        ).all()
        assert [event.actor for event in events] == [served.supervisor]
