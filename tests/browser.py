"""What the browser tests share: the app under a real server, Debian's chromium.

Each test_browser_*.py seeds its own data and asserts its own story; the app on
a SQLite file with CSRF on, the server in a thread, the browser and the login
form are the same for all of them, so they live here once.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from config import TestingConfig
from tests.conftest import FakeGateway, service_required
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
WAIT_MS = 15_000  # the longest any single step may take
WIDER_THAN_SCREEN = "() => document.documentElement.scrollWidth > window.innerWidth"


def browser_app(
    tmp_path: Path, *, fake_gateway: bool = True, **settings: object
) -> Flask:
    """The app on a SQLite file with its tables, CSRF on, as a browser meets it.

    A file, not `sqlite://`: the server thread opens its own connections and
    must see what the test seeded. `settings` become config attributes;
    `fake_gateway=False` keeps the app's own gateway (the softphone signs real
    access tokens with it).
    """
    if not CHROMIUM.exists():
        service_required("Debian chromium")
    config = type(
        "BrowserConfig",
        (TestingConfig,),
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'ecoute.sqlite3'}",
            "RECORDINGS_DIR": str(tmp_path / "recordings"),
            "WTF_CSRF_ENABLED": True,
            **settings,
        },
    )
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    if fake_gateway:
        app.extensions["twilio"] = FakeGateway()
    with app.app_context():
        db.create_all()
    return app


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app under werkzeug's threaded server on a free port: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        # The server thread's SQLite connections, closed before tmp_path goes.
        with app.app_context():
            db.engine.dispose()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, closed even when the test fails."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=WAIT_MS * 2,
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, **options: Any) -> Page:
    """A page in a context of its own (`options` as for Browser.new_page) on
    which no step waits longer than WAIT_MS."""
    page = browser.new_page(**options)
    page.set_default_timeout(WAIT_MS)
    return page


def no_js_phone(browser: Browser) -> Page:
    """A 360 px phone in French with JavaScript off: how a citizen or a focal
    point may come, and every page must still work (STYLE.md §12)."""
    return new_page(
        browser,
        locale="fr-FR",
        java_script_enabled=False,
        viewport={"width": 360, "height": 780},
    )


def watched_page(browser: Browser, errors: list[str], **options: Any) -> Page:
    """A new page whose uncaught script errors and Content-Security-Policy
    refusals are appended to `errors`."""
    page = new_page(browser, **options)
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A Content-Security-Policy violation shows as a console error.
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and errors.append(message.text)
        ),
    )
    return page


def sign_in(page: Page, url: str, email: str, password: str = PASSWORD) -> None:
    """The real login form, its CSRF token included, to the queue."""
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
