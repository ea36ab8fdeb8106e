"""The pages' error pages (styled, translated, a way back); the API and the
webhooks keep their own answers."""

import re

import pytest
from flask import abort
from flask_babel import refresh
from werkzeug.exceptions import TooManyRequests

from app.extensions import login_manager
from app.models import Role
from tests.factories import make_user
from tests.test_recordings_pages import login


def h1s(page: str) -> list[str]:
    return re.findall(r"<h1>(.*?)</h1>", page, re.S)


@pytest.fixture
def boom(app):
    """Routes that fail as pages can (added before the app's first request)."""

    def bad_request():
        abort(400)

    def throttled():
        raise TooManyRequests

    def broken():
        raise RuntimeError("the database is gone")

    app.add_url_rule("/test/bad", view_func=bad_request)
    app.add_url_rule("/test/throttled", view_func=throttled)
    app.add_url_rule("/test/broken", view_func=broken)
    return app


@pytest.mark.parametrize(
    ("path", "status", "english", "french"),
    [
        ("/no/such/page", 404, "Page not found", "Page introuvable"),
        ("/test/bad", 400, "could not be understood", "pas pu être comprise"),
        ("/test/throttled", 429, "Too many attempts", "Trop de tentatives"),
    ],
)
def test_an_error_page_speaks_the_users_language(
    client, boom, path, status, english, french
):
    page = client.get(path, headers={"Accept-Language": "en"})
    assert page.status_code == status
    assert page.mimetype == "text/html"
    assert len(h1s(page.text)) == 1
    assert english in page.text
    assert 'href="/login"' in page.text  # a way on
    refresh()  # the tests' app context outlives a request: forget its locale
    in_french = client.get(path + "?lang=fr")
    assert in_french.status_code == status
    assert french in in_french.text


def test_a_forbidden_page_says_so_and_leads_back_to_the_tickets(app, client):
    login(client, make_user())
    page = client.get("/softphone/supervision", headers={"Accept-Language": "en"})
    assert page.status_code == 403
    assert "You may not open this page" in page.text
    assert 'href="/"' in page.text or 'href="/tickets' in page.text


def test_a_method_not_allowed_is_a_page_too(client):
    page = client.delete("/login", headers={"Accept-Language": "fr"})
    assert page.status_code == 405
    assert len(h1s(page.text)) == 1


def test_a_recordings_page_error_is_styled(app, client):
    login(client, make_user("sup@example.org", Role.SUPERVISOR))
    page = client.get("/recordings/99999", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert "Page not found" in page.text


def test_the_500_page_asks_nothing_of_the_database(app, client, boom, monkeypatch):
    login(client, make_user())

    def database_down(_user_id):
        raise AssertionError("the error page must not load the user")

    monkeypatch.setattr(login_manager, "_user_callback", database_down)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answered as in production
    page = client.get("/test/broken", headers={"Accept-Language": "en"})
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.text
    assert "the database is gone" not in page.text
    assert len(h1s(page.text)) == 1


def test_the_api_keeps_its_json_errors(app, client):
    unknown = client.get("/api/no/such")
    assert unknown.status_code == 404
    assert unknown.json["error"]["code"] == "not_found"
    wrong = client.delete("/api/tickets")
    assert wrong.status_code == 405
    assert wrong.json["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    assert client.get("/api/tickets").json["error"]["code"] == "unauthorized"


def test_webhooks_keep_their_bare_answers(client):
    refused = client.post("/voice/incoming", data={"CallSid": "CA1"})
    assert refused.status_code == 403
    assert "Écoute" not in refused.text  # not a staff page


def test_an_answer_made_by_the_raiser_is_kept(client):
    """The sign-in throttle answers with the sign-in page, not the 429 page."""
    user = make_user()
    for _ in range(6):  # the sixth is past the account's 5 a minute here
        page = client.post(
            "/login",
            data={"email": user.email, "password": "wrong"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        )
    assert page.status_code == 200
    assert 'name="password"' in page.text
