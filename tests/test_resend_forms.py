"""A page form refused for its CSRF token or for an ended session comes back
with what was typed, ready to send again (issue #12)."""

import re
from html import unescape

import pytest
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Ticket
from tests.factories import PASSWORD, make_user
from tests.test_auth_pages import csrf_token
from tests.test_recordings_pages import login

NOTE = "Le dossier de Mme Houngbo\nattend la pièce <b>n°3</b> & la signature."


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def sign_in(client, email: str) -> None:
    token = csrf_token(client)
    data = {"email": email, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the page's resend form, as a browser sends it."""
    form = re.search(
        r'<form method="post" action="([^"]*)" class="stack">(.*?)</form>', page, re.S
    )
    fields = {
        name: unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)
        )
    }
    for name, value in re.findall(
        r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form.group(2), re.S
    ):
        fields[name] = unescape(value)
    return unescape(form.group(1)), fields


def desk_request(token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "phone": "0197000000",
        "channel": "counter",
        "category": "pension",
        "description": NOTE,
    }


def test_a_stale_token_brings_the_form_back_with_the_text(csrf_app, client):
    sign_in(client, make_user().email)
    refresh()  # the tests' app context outlives a request: forget its locale
    refused = client.post(
        "/tickets",
        data=desk_request("stale-token"),
        headers={"Accept-Language": "en", "Referer": "http://localhost/?q=1"},
    )
    assert refused.status_code == 400
    assert "This page had expired" in refused.text
    assert len(re.findall(r"<h1>", refused.text)) == 1
    assert 'href="/?q=1"' in refused.text  # back to the page it came from
    action, fields = form_of(refused.text)
    assert action == "/tickets"
    assert fields["description"] == NOTE  # a visible textarea, escaped
    assert fields["channel"] == "counter"  # a hidden field
    assert fields["csrf_token"] != "stale-token"
    assert db_tickets() == []
    sent = client.post(action, data=fields)
    assert sent.status_code == 302
    assert [t.description for t in db_tickets()] == [NOTE]


def db_tickets() -> list[Ticket]:
    return db.session.scalars(select(Ticket)).all()


def test_a_refused_page_speaks_french(csrf_app, client):
    refused = client.post("/tickets?lang=fr", data=desk_request("stale"))
    assert refused.status_code == 400
    assert "Cette page avait expiré" in refused.text


def test_a_password_is_never_echoed(csrf_app, client):
    refused = client.post(
        "/login",
        data={"email": "awa@example.org", "password": "s3cret-pass", "csrf_token": "x"},
    )
    assert refused.status_code == 400
    assert "s3cret-pass" not in refused.text
    assert 'type="password" name="password"' in refused.text
    assert 'value="awa@example.org"' in refused.text


def test_htmx_gets_the_form_alone_aimed_at_the_main_area(csrf_app, client):
    sign_in(client, make_user().email)
    refused = client.post(
        "/tickets", data=desk_request("stale"), headers={"HX-Request": "true"}
    )
    assert refused.status_code == 400
    assert "<html" not in refused.text
    assert refused.headers["HX-Retarget"] == "#main"
    assert form_of(refused.text)[1]["description"] == NOTE


def test_the_api_and_webhooks_keep_their_answers(csrf_app, client):
    sign_in(client, make_user().email)
    api = client.post("/api/tickets", json={"phone": "0197000000"})
    assert api.status_code == 403
    assert api.json["error"]["code"] == "csrf_failed"


def test_an_ended_session_keeps_the_text_across_the_sign_in(csrf_app, client):
    user = make_user()
    sign_in(client, user.email)
    token = csrf_token(client, "/tickets/new")
    # Signed out elsewhere (another tab): the token still matches the session.
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    refused = client.post(
        "/tickets", data=desk_request(token), headers={"Referer": "http://localhost/"}
    )
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/login?next=/resend"
    assert db_tickets() == []
    signed_in = client.post(
        "/login?next=%2Fresend",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.headers["Location"] == "/resend"
    refresh()
    page = client.get("/resend", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Your session had ended" in page.text
    action, fields = form_of(page.text)
    assert (action, fields["description"]) == ("/tickets", NOTE)
    assert client.post(action, data=fields).status_code == 302
    assert [t.description for t in db_tickets()] == [NOTE]
    # Offered once: the session holds it no more.
    assert client.get("/resend").status_code == 302


def test_a_long_text_is_cut_to_fit_the_session_cookie_and_says_so(csrf_app, client):
    user = make_user()
    sign_in(client, user.email)
    token = csrf_token(client, "/tickets/new")
    client.post("/logout", data={"csrf_token": token})
    long = "mot " * 1200  # 4,800 characters: more than a cookie holds
    client.post("/tickets", data={**desk_request(token), "description": long})
    client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    refresh()
    page = client.get("/resend", headers={"Accept-Language": "en"})
    assert "Only the beginning of a long text" in page.text
    assert long[:1000] in page.text


def test_nothing_kept_leads_to_the_tickets(client):
    login(client, make_user())
    assert client.get("/resend").headers["Location"] == "/"


def test_a_get_without_a_session_still_goes_to_the_sign_in(client):
    response = client.get("/?q=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_another_agent_signing_in_never_sees_the_kept_text(csrf_app, client):
    first, second = make_user("awa@example.org"), make_user("koffi@example.org")
    sign_in(client, first.email)
    token = csrf_token(client, "/tickets/new")
    client.post("/logout", data={"csrf_token": token})
    client.post("/tickets", data=desk_request(token))  # kept, then to the sign-in
    sign_in(client, second.email)
    shown = client.get("/resend")
    assert shown.status_code == 302
    assert NOTE not in client.get("/").text


def test_a_lost_session_cookie_leads_through_the_sign_in_to_the_text(csrf_app, client):
    """The browser dropped the cookie: the token fails first, then the login."""
    user = make_user()
    refused = client.post("/tickets", data=desk_request("from-a-lost-session"))
    assert refused.status_code == 400
    action, fields = form_of(refused.text)
    again = client.post(action, data=fields)
    assert again.headers["Location"] == "/login?next=/resend"
    sign_in(client, user.email)
    action, fields = form_of(client.get("/resend").text)
    assert fields["description"] == NOTE
    assert client.post(action, data=fields).status_code == 302
    assert [t.description for t in db_tickets()] == [NOTE]


def test_htmx_is_sent_to_the_sign_in_as_a_whole_page(csrf_app, client):
    user = make_user()
    sign_in(client, user.email)
    token = csrf_token(client, "/tickets/new")
    client.post("/logout", data={"csrf_token": token})
    answer = client.post(
        "/tickets", data=desk_request(token), headers={"HX-Request": "true"}
    )
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/login?next=/resend"
    sign_in(client, user.email)
    assert form_of(client.get("/resend").text)[1]["description"] == NOTE


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/x",
        "http://localhost/\\evil.example",
        "http://localhost//evil.example",
        "javascript:alert(1)",
    ],
)
def test_the_way_back_never_leaves_the_site(csrf_app, client, referer):
    refused = client.post(
        "/tickets", data=desk_request("stale"), headers={"Referer": referer}
    )
    assert refused.status_code == 400
    assert "evil" not in refused.text
    assert "javascript:" not in refused.text
