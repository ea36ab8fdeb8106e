"""An agent's softphone page shows the caller's history when a call rings them.

The real app runs under a real server in a thread, on a SQLite file with CSRF on;
Debian's chromium loads the real page and softphone.js. Only the Twilio Voice SDK
is stubbed (a Device that registers at once): the access token is a real one, the
presence and the events are the app's. The call is played by `flask --app wsgi
simulate-call --url`, a separate process signing with the same Twilio token.
"""

import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from app import create_app
from app.events import agent_channel, broker
from app.extensions import db
from app.models import Call, Presence, Role, Ticket
from app.telephony import SoftphoneKeys
from config import TestingConfig
from tests.conftest import CALLER, LINE, service_required
from tests.factories import PASSWORD, make_caller, make_ticket, make_user
from tests.test_browser_recordings import CHROMIUM, CHROMIUM_ARGS, WAIT_MS
from tests.test_migrations import flask_env, run_flask

pytestmark = pytest.mark.browser

ACCOUNT_SID = "AC" + "1" * 32
KEYS = SoftphoneKeys(
    api_key="SK" + "2" * 32, api_secret="s" * 32, twiml_app_sid="AP" + "3" * 32
)
SOFTPHONE_JS = (
    Path(__file__).resolve().parents[1] / "softphone" / "static" / "softphone.js"
)

# The Voice SDK stand-in: what softphone.js may call on a Device, recorded.
TWILIO_STUB = """
window.twilioStub = {tokens: [], registered: 0};
class Device {
  constructor(token, options) {
    this.token = token; this.handlers = {}; this.state = "unregistered";
    this.audio = {incoming() {}, outgoing() {}, disconnect() {}};
    window.twilioStub.tokens.push(token);
    window.twilioStub.device = this;
  }
  on(name, callback) { (this.handlers[name] ||= []).push(callback); return this; }
  once(name, callback) { return this.on(name, callback); }
  off(name, callback) {
    this.handlers[name] = (this.handlers[name] || []).filter((f) => f !== callback);
    return this;
  }
  removeListener(name, callback) { return this.off(name, callback); }
  removeAllListeners() { this.handlers = {}; return this; }
  emit(name, ...args) { (this.handlers[name] || []).forEach((f) => f(...args)); }
  async register() {
    this.state = "registered"; window.twilioStub.registered += 1;
    setTimeout(() => this.emit("registered"), 0);
  }
  async unregister() { this.state = "unregistered"; this.emit("unregistered"); }
  updateToken(token) { this.token = token; window.twilioStub.tokens.push(token); }
  updateOptions() {}
  disconnectAll() {}
  destroy() { this.state = "destroyed"; this.emit("destroyed"); }
  async connect() { throw new Error("no outgoing calls in the stub"); }
}
Device.EventName = {Error: "error", Incoming: "incoming", Registered: "registered",
  Registering: "registering", TokenWillExpire: "tokenWillExpire",
  Unregistered: "unregistered", Destroyed: "destroyed"};
Device.State = {Registered: "registered", Registering: "registering",
  Unregistered: "unregistered", Destroyed: "destroyed"};
Device.isSupported = true;
window.Twilio = {Device};
"""


@dataclass(frozen=True)
class Served:
    url: str
    app: object
    database: str
    agent: str
    agent_id: int
    reference: str


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        service_required("Debian chromium")
    database = f"sqlite:///{tmp_path / 'ecoute.sqlite3'}"

    class BrowserConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = database
        RECORDINGS_DIR = str(tmp_path / "recordings")
        WTF_CSRF_ENABLED = True

    app = create_app(BrowserConfig)
    app.instance_path = str(tmp_path / "instance")
    # The real gateway (no auth token: SMS go to the log), able to sign tokens.
    gateway = app.extensions["twilio"]
    gateway.account_sid = ACCOUNT_SID
    gateway.softphone = KEYS
    assert not gateway.configured  # nothing may reach api.twilio.com
    with app.app_context():
        db.create_all()
        agent = make_user("agent@example.org", Role.AGENT)
        caller = make_caller(CALLER)
        caller.name, caller.matricule = "Awa Houngbédji", "123456-B"
        earlier = make_ticket(caller, line=LINE, category="service")
        seeded = (agent.email, agent.id, earlier.display_reference)
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", app, database, *seeded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def presence_of(served: Served) -> str | None:
    with served.app.app_context():
        presence = db.session.get(Presence, served.agent_id)
        status = presence.status if presence else None
        db.session.remove()
    return status


# An incoming call as the Voice SDK hands it to the page, for the call just rung.
ANSWER_A_CALL = """([callSid, caller]) => {
  const handlers = {};
  const call = {
    customParameters: new Map([["callSid", callSid], ["caller", caller]]),
    parameters: {From: caller},
    on(name, callback) { (handlers[name] ||= []).push(callback); return call; },
    accept() { (handlers.accept || []).forEach((f) => f()); },
    reject() {}, disconnect() {}, mute() {}, isMuted() { return false; },
  };
  window.twilioStub.device.emit("incoming", call);
}"""


def rung_call_sid(served: Served) -> str:
    with served.app.app_context():
        call_sid = db.session.scalars(select(Call.call_sid)).one()
        db.session.remove()
    return call_sid


def push_screen_pop(served: Served, call_sid: str, phone: str) -> None:
    """What the app pushes when a call rings the agent, through its own broker."""
    payload = {
        "caller": {"phone": phone},
        "tickets": [],
        "calls": [],
        "messages": [],
        "recordings": [],
        "call_sid": call_sid,
        "line": LINE,
    }
    with served.app.app_context():
        broker().publish(agent_channel(served.agent_id), "screenpop", payload)


def wait_until(check, what: str, seconds: float = WAIT_MS / 1000) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds}s for {what}")
        time.sleep(0.1)


def test_agent_sees_the_callers_history_when_a_call_rings_them(served, tmp_path):
    assert SOFTPHONE_JS.is_file(), (
        f"{SOFTPHONE_JS} is missing: softphone/templates/softphone/index.html "
        "loads it, and without it the page never fetches a token or listens"
    )
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=WAIT_MS * 2,
        )
        try:
            page = browser.new_page(locale="fr-FR")
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda error: errors.append(str(error)))
            # A Content-Security-Policy violation shows as a console error.
            page.on(
                "console",
                lambda message: (
                    "Content Security Policy" in message.text
                    and errors.append(message.text)
                ),
            )

            def stub(route: Route) -> None:
                route.fulfill(
                    status=200,
                    content_type="application/javascript",
                    body=TWILIO_STUB,
                )

            page.route("**/softphone/vendor/twilio.min.js", stub)

            page.goto(f"{served.url}/login")
            page.fill("input[name=email]", served.agent)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{served.url}/")

            with page.expect_response("**/softphone/token") as token_response:
                page.goto(f"{served.url}/softphone")
            assert token_response.value.status == 200
            # softphone.js built a Device with the app's token, and registered it.
            page.wait_for_function("window.twilioStub.registered > 0")
            token = token_response.value.json()["token"]
            assert page.evaluate("window.twilioStub.tokens[0]") == token

            with page.expect_response("**/softphone/presence") as presence_response:
                page.select_option("#presence", "available")
            assert presence_response.value.status == 200
            wait_until(lambda: presence_of(served) == "available", "presence")

            env = flask_env(
                tmp_path / "simulator-instance",
                DATABASE_URL=served.database,
                TWILIO_AUTH_TOKEN=TestingConfig.TWILIO_AUTH_TOKEN,
            )
            played = run_flask(
                "simulate-call",
                "--from",
                "0197000000",
                "--press",
                "0",
                "--url",
                served.url,
                env=env,
            )
            assert f"agent_{served.agent_id}" in played.stdout  # it rang this agent

            page.wait_for_function(
                "document.getElementById('pop-phone').textContent.trim() !== ''"
            )
            assert page.inner_text("#pop-phone").strip() == CALLER
            # Whose number it is, from the caller's profile (CONTRACT §8.5).
            assert page.inner_text("#pop-name") == "Awa Houngbédji"
            assert page.inner_text("#pop-matricule-row") == "Matricule 123456-B"
            page.screenshot(path=str(tmp_path / "screenpop-1280.png"), full_page=True)
            page.wait_for_function(
                "document.querySelectorAll('#pop-tickets li').length > 0"
            )
            assert served.reference in page.inner_text("#pop-tickets")
            assert page.is_visible("#screenpop")

            # The agent answers; a push about another call never replaces it.
            page.evaluate(ANSWER_A_CALL, [rung_call_sid(served), CALLER])
            page.click("#answer")
            page.wait_for_function(
                "document.getElementById('call-state').textContent === 'En ligne'"
            )
            push_screen_pop(served, "CA" + "f" * 32, "+2290197999999")
            push_screen_pop(served, rung_call_sid(served), CALLER)
            page.wait_for_timeout(500)
            assert page.inner_text("#pop-phone").strip() == CALLER
            # A push with no profile leaves no stale name behind.
            assert not page.is_visible("#pop-name")
            assert not page.is_visible("#pop-person")
            page.screenshot(path=str(tmp_path / "softphone-1280.png"), full_page=True)

            # The device drops: the agent is taken out of routing and told why.
            page.evaluate("window.twilioStub.device.unregister()")
            wait_until(lambda: presence_of(served) == "offline", "offline")
            page.wait_for_selector("#problem:not([hidden])")
            assert "Hors ligne" in page.inner_text("#problem")
            assert page.input_value("#presence") == "offline"
            with page.expect_response("**/softphone/presence") as refused:
                page.select_option("#presence", "available")
            assert refused.value.status == 409
            assert "pas connecté" in page.inner_text("#problem")
            assert page.input_value("#presence") == "offline"
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(tmp_path / "softphone-390.png"), full_page=True)
        finally:
            browser.close()

    assert errors == []


# --- the softphone as a workspace (issue #12) -------------------------------------

# An incoming call that can also end, as the Voice SDK's Call does.
A_CALL_THAT_ENDS = """([callSid, caller]) => {
  const handlers = {};
  const fire = (name) => (handlers[name] || []).forEach((f) => f());
  const call = {
    customParameters: new Map([["callSid", callSid], ["caller", caller]]),
    parameters: {From: caller},
    on(name, callback) { (handlers[name] ||= []).push(callback); return call; },
    accept() { fire("accept"); }, reject() { fire("reject"); },
    disconnect() { fire("disconnect"); }, mute() {}, isMuted() { return false; },
  };
  window.twilioStub.device.emit("incoming", call);
}"""


def signed_post(served: Served, path: str, **form: str) -> int:
    """A webhook to the running server, signed as Twilio signs it."""
    url = served.url + path
    token = TestingConfig.TWILIO_AUTH_TOKEN
    signature = RequestValidator(token).compute_signature(url, form)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def a_call_rings_the_agent(served: Served) -> str:
    """The caller presses 0 and stays on the line (the simulator would play
    the whole call to its end): the call's SID."""
    call = {"CallSid": "CA" + "b" * 32, "From": CALLER, "To": LINE}
    assert signed_post(served, "/voice/incoming", **call, CallStatus="ringing") == 200
    menu = "/voice/menu?lang=fr&attempt=1"
    assert (
        signed_post(served, menu, **call, CallStatus="in-progress", Digits="0") == 200
    )
    return call["CallSid"]


def agent_leg(served: Served, call_sid: str, status: str) -> None:
    """Twilio's status callback of the agent's leg (in-progress: answered)."""
    leg = {
        "CallSid": "CA" + "a" * 32,
        "ParentCallSid": call_sid,
        "To": f"client:agent_{served.agent_id}",
    }
    assert signed_post(served, "/voice/agent-status", **leg, CallStatus=status) == 204


def ticket_of(served: Served, reference: str) -> tuple[str, list[str]]:
    with served.app.app_context():
        ticket = db.session.scalars(
            select(Ticket).filter_by(reference=reference.replace("-", ""))
        ).one()
        found = ticket.status, [event.action for event in ticket.events]
        db.session.remove()
    return found


def signed_in_page(browser, served: Served, locale: str, errors: list[str]):
    page = browser.new_page(locale=locale, viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and errors.append(message.text)
        ),
    )
    page.route(
        "**/softphone/vendor/twilio.min.js",
        lambda route: route.fulfill(
            status=200, content_type="application/javascript", body=TWILIO_STUB
        ),
    )
    page.goto(f"{served.url}/login")
    page.fill("input[name=email]", served.agent)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/")
    return page


def shoot(page, folder: Path, name: str) -> None:
    # caret="initial": hiding the caret leaves an empty style="" on every input,
    # which htmx's settling then copies, and the CSP refuses (a test artefact).
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        path = str(folder / f"{name}-{width}.png")
        page.screenshot(path=path, full_page=True, caret="initial")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_agent_works_a_call_from_the_softphone(served, tmp_path):
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = signed_in_page(browser, served, "fr-FR", errors)
            page.goto(f"{served.url}/softphone?lang=fr")
            page.wait_for_function("() => window.twilioStub.registered > 0")
            page.wait_for_function(
                "() => document.getElementById('device-state').textContent === 'Prêt'"
            )
            # No call: no ticket form, and nothing to save.
            assert not page.is_visible("#current-ticket")
            assert not page.is_visible("#call")
            assert page.inner_text("#presence option:checked") == "Hors ligne"
            # Even forced, a save with no call's ticket sends nothing.
            patches: list[str] = []
            page.on(
                "request",
                lambda request: (
                    "/api/tickets" in request.url and patches.append(request.url)
                ),
            )
            page.evaluate("document.getElementById('current-ticket').requestSubmit()")
            assert "Aucun dossier" in page.inner_text("#problem")
            page.evaluate("document.getElementById('problem').hidden = true")
            shoot(page, tmp_path, "softphone-idle")
            with page.expect_response("**/softphone/presence"):
                page.select_option("#presence", "available")
            wait_until(lambda: presence_of(served) == "available", "presence")

            call_sid = a_call_rings_the_agent(served)
            page.wait_for_selector("#pop-tickets a")
            # The caller's open ticket, linked to its page; the caller, to theirs.
            link = page.locator("#pop-tickets a").first
            assert link.inner_text() == served.reference
            assert link.get_attribute("href") == f"/tickets/{served.reference}"
            assert (
                page.get_attribute("#pop-phone", "href") == "/callers/%2B2290197000000"
            )
            assert "En cours" in page.inner_text("#pop-tickets") or "Nouveau" in (
                page.inner_text("#pop-tickets")
            )

            page.evaluate(A_CALL_THAT_ENDS, [call_sid, CALLER])
            assert page.inner_text("#call-state") == "Appel entrant"
            page.click("#answer")
            agent_leg(served, call_sid, "in-progress")
            # The ticket the answer opened, in the agent's charge, in the form.
            page.wait_for_selector("#current-ticket:not([hidden])")
            opened = page.inner_text("#ticket-reference")
            assert opened != served.reference
            assert ticket_of(served, opened)[0] == "assigned"
            assert page.input_value("select[name=category]") == ""  # none chosen
            assert page.inner_text("select[name=status] option:checked") == "Attribué"
            page.wait_for_function(
                "() => document.getElementById('call-timer').textContent >= '00:02'"
            )
            assert page.is_visible("#call-timer")

            # The call is about the earlier request: attach it there instead.
            with page.expect_response("**/softphone/attach") as attached:
                page.click(f"button.attach[data-reference='{served.reference}']")
            assert attached.value.status == 200
            page.wait_for_function(
                "(reference) => document.getElementById('ticket-reference')"
                ".textContent === reference",
                arg=served.reference,
            )
            assert "rattaché" in page.inner_text("#ticket-saved")
            assert ticket_of(served, opened)[0] == "closed"
            page.fill("textarea[name=note]", "Le citoyen rappelle pour son dossier.")
            shoot(page, tmp_path, "softphone-call")
            with page.expect_response("**/api/tickets/*") as saved:
                page.click("#current-ticket button[type=submit]")
            assert saved.value.status == 200
            page.wait_for_function(
                "() => document.getElementById('ticket-saved').textContent !== ''"
            )
            assert page.inner_text("#ticket-saved") == "Enregistré."
            assert "note" in ticket_of(served, served.reference)[1]
            assert patches == [f"{served.url}/api/tickets/{served.reference}"]

            # The call ends: the form and the timer go.
            page.click("#hangup")
            page.wait_for_selector("#current-ticket", state="hidden")
            assert not page.is_visible("#call-timer")
            agent_leg(served, call_sid, "completed")
            wait_until(lambda: presence_of(served) == "available", "free again")

            # Presence follows the device: dropped, offline; back, available.
            page.evaluate("window.twilioStub.device.unregister()")
            wait_until(lambda: presence_of(served) == "offline", "offline")
            page.evaluate("window.twilioStub.device.register()")
            wait_until(lambda: presence_of(served) == "available", "available again")
            page.wait_for_function(
                "() => document.getElementById('presence').value === 'available'"
            )
            assert "de nouveau connecté" in page.inner_text("#problem")

            # The same page in English: the script's words come from the page.
            page.goto(f"{served.url}/softphone?lang=en")
            page.wait_for_function(
                "() => document.getElementById('device-state').textContent === 'Ready'"
            )
            assert page.inner_text("#presence option:checked") == "Available"
            assert page.inner_text("h1") == "Softphone"
            shoot(page, tmp_path, "softphone-en")
        finally:
            browser.close()
    assert errors == []


def test_the_caller_page_from_the_screen_pop(served, tmp_path):
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = signed_in_page(browser, served, "fr-FR", errors)
            page.goto(f"{served.url}/softphone?lang=fr")
            page.wait_for_function("() => window.twilioStub.registered > 0")
            page.evaluate(
                """(phone) => window.ecouteSoftphone.showScreenPop({
                  caller: {phone, name: "Awa Houngbédji"}, tickets: [], calls: [],
                  messages: [], recordings: []})""",
                CALLER,
            )
            page.click("#pop-phone")
            page.wait_for_url(f"{served.url}/callers/%2B2290197000000")
            assert page.inner_text("h1") == "Awa Houngbédji"
            assert served.reference in page.inner_text("table.caller-tickets")
            shoot(page, tmp_path, "caller")

            # The profile form, through htmx: the page is not reloaded.
            page.evaluate("window.stillHere = true")
            page.fill("#email", "pas-une-adresse")
            page.click("form.stack button[type=submit]")
            page.wait_for_selector("#email-error")
            assert "adresse e-mail" in page.inner_text("#email-error")
            assert page.input_value("#email") == "pas-une-adresse"  # kept
            shoot(page, tmp_path, "caller-error")
            page.fill("#email", "awa@example.bj")
            page.fill("#phones", f"{CALLER}\n0196000000")
            page.click("form.stack button[type=submit]")
            page.wait_for_selector("text=Profil enregistré.")
            assert page.evaluate("window.stillHere") is True
            assert "+2290196000000" in page.inner_text("ul.numbers")
            assert "awa@example.bj" in page.inner_text(".profile")
            shoot(page, tmp_path, "caller-saved")
        finally:
            browser.close()
    assert errors == []
