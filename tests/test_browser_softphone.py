"""An agent's softphone page shows the caller's history when a call rings them.

The real app runs under a real server in a thread, on a SQLite file with CSRF on;
Debian's chromium loads the real page and softphone.js. Only the Twilio Voice SDK
is stubbed (a Device that registers at once): the access token is a real one, the
presence and the events are the app's. The call is played by `flask --app wsgi
simulate-call --url`, a separate process signing with the same Twilio token.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from app.events import agent_channel, broker
from app.extensions import db
from app.models import Call, Presence, Role
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
