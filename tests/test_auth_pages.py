"""Staff sign-in: login required, CSRF on forms, lock-out, French and English."""

import re

import pytest
from flask_babel import refresh

from app.extensions import db
from app.models import Role
from tests.factories import PASSWORD, make_caller, make_ticket, make_user


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def login(client, email: str, password: str = PASSWORD, token: str | None = None):
    data = {"email": email, "password": password}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/login", data=data)


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_login_shows_the_tickets_in_french_by_default(csrf_app, client):
    user = make_user("agent@example.org", Role.AGENT)
    ticket = make_ticket(make_caller(), line="+2290121300000")
    response = login(client, user.email, token=csrf_token(client))
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "File de travail" in page
    assert ticket.display_reference in page
    # The fixture's app context spans requests, and Flask-Babel caches the locale
    # in it; in production every request has its own context.
    refresh()
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Work queue" in english


def test_login_form_without_csrf_token_is_refused(csrf_app, client):
    user = make_user()
    response = login(client, user.email)
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_and_nothing_is_locked(csrf_app, client):
    user = make_user()
    token = csrf_token(client)
    for _ in range(5):
        page = login(client, user.email, "wrong", token).get_data(as_text=True)
        assert "incorrect" in page
    # The address is slowed for a minute (tests/test_auth_throttle.py); the
    # account itself is not locked.
    db.session.refresh(user)
    assert user.locked_until is None


def test_logout_needs_post_with_csrf(csrf_app, client):
    user = make_user()
    token = csrf_token(client)
    login(client, user.email, token=token)
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={})  # no token: still signed in
    assert client.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client):
    user = make_user()
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": user.email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/"
