"""Security headers on every response; pages without inline script or style;
production cookies that are Secure, HttpOnly and SameSite=Lax."""

from html.parser import HTMLParser

import pytest

from app import create_app
from app.extensions import db
from app.models import Role
from config import ProductionConfig
from tests.factories import PASSWORD, make_token, make_user
from tests.test_recordings_pages import add_recording


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (piece.strip() for piece in header.split(";"))
        if part
    }


def assert_secured(response) -> None:
    directives = policy(response)
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert "wss://*.twilio.com" in directives["connect-src"].split()
    assert "https://*.twilio.com" in directives["connect-src"].split()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_kind_of_response_carries_the_headers(client, twilio_post):
    responses = [
        client.get("/login"),
        client.get("/"),  # redirect to the login
        client.get("/static/ecoute.css"),
        client.get("/no-such-page"),
        client.get("/api/tickets"),  # 401 JSON
        client.post("/voice/incoming"),  # 403: unsigned
        twilio_post("/voice/incoming", CallSid="CA1", From="+2290197000000"),
    ]
    assert [r.status_code for r in responses] == [200, 302, 200, 404, 401, 403, 200]
    for response in responses:
        assert_secured(response)
        response.close()


class InlineFinder(HTMLParser):
    """What a script-src 'self' / style-src 'self' policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        # A data block (JSON for a page's script) is never run: the CSP allows it.
        data_block = names.get("type") == "application/json"
        if tag == "script" and "src" not in names and not data_block:
            self._in_script = True
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append("inline <script>")


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/",
        "/softphone",
        "/softphone/supervision",
        "/recordings",
        "/recordings/{recording}",
        "/callers/+2290197000000",
        "/stats/report",
        "/public/stats",
        "/public",
        "/public/request",
        "/public/status",
    ],
)
def test_pages_have_no_inline_script_style_or_handler(client, path):
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    recording = add_recording()
    if path != "/login":
        client.post("/login", data={"email": supervisor.email, "password": PASSWORD})
    response = client.get(path.format(recording=recording.id))
    assert response.status_code == 200
    assert_secured(response)
    finder = InlineFinder()
    finder.feed(response.get_data(as_text=True))
    assert finder.found == []


def test_the_player_gives_wavesurfer_this_requests_style_nonce(client):
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    recording = add_recording()
    client.post("/login", data={"email": supervisor.email, "password": PASSWORD})
    first = client.get(f"/recordings/{recording.id}")
    second = client.get(f"/recordings/{recording.id}")
    nonces = []
    for response in (first, second):
        styles = policy(response)["style-src"].split()
        [nonce] = [s[len("'nonce-") : -1] for s in styles if s.startswith("'nonce-")]
        assert f'data-csp-nonce="{nonce}"' in response.get_data(as_text=True)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]  # one per request, never reused


def test_an_api_client_with_a_token_gets_the_headers_too(client):
    token = make_token(make_user())
    response = client.get("/api/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert_secured(response)


@pytest.fixture
def production(monkeypatch, tmp_path):
    monkeypatch.setattr("app.INSTANCE", tmp_path / "instance")

    class Production(ProductionConfig):
        SECRET_KEY = "production-test-secret"
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        SQLALCHEMY_ENGINE_OPTIONS = {}  # noqa: RUF012
        REDIS_URL = None
        TWILIO_AUTH_TOKEN = "production-test-token"
        WTF_CSRF_ENABLED = False
        # No scheduler thread: it would outlive this app and its dropped tables,
        # failing every 30 s for the rest of the run (and once, formatting its
        # traceback beside another thread, crashed CPython 3.11's compiler).
        SCHEDULER_INTERVAL_SECONDS = 0.0

    app = create_app(Production)
    with app.app_context():
        db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            db.drop_all()


def test_production_cookies_are_secure_httponly_and_lax(production):
    user = make_user()
    client = production.test_client()
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD},
        base_url="https://ecoute.example",
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session
    for cookie in cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= attributes, cookie
    for name in ("REMEMBER_COOKIE_SECURE", "REMEMBER_COOKIE_HTTPONLY"):
        assert production.config[name] is True
    assert production.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
