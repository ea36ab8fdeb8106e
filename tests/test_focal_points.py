"""Focal points (CONTRACT §8.3): the command, their links on assignment, and
the page a link opens, with no login, for one ticket only."""

import re
import secrets

import pytest
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Role, Service, Ticket, TicketEvent
from app.models.journey import FocalLink, FocalPoint
from app.services import notices
from tests.conftest import LINE
from tests.factories import make_caller, make_ticket, make_token, make_user

CALLER_PHONE = "+2290197123456"


def focal_point(runner, *args: str):
    """`flask services focal-point pensions ARGS...`"""
    return runner.invoke(args=["services", "focal-point", "pensions", *args])


@pytest.fixture
def pensions(runner):
    runner.invoke(args=["services", "create", "pensions", "Direction des pensions"])
    return db.session.scalar(select(Service).filter_by(key="pensions"))


@pytest.fixture
def focal(runner, pensions):
    """Two focal points of pensions: Adjoa by phone, Bio (the head) by e-mail."""
    for args in (
        ["--name", "Adjoa Mensah", "--phone", "01 97 55 44 33"],
        ["--name", "Bio Sika", "--email", "bio@pensions.bj", "--head"],
    ):
        result = focal_point(runner, *args)
        assert result.exit_code == 0, result.output
    return pensions


@pytest.fixture
def sent(monkeypatch):
    """Each notify_staff call (through to the real one): the links sent."""
    calls = []
    real = notices.notify_staff

    def record(ticket, template, recipients, **values):
        calls.append((ticket.id, template, list(recipients), values))
        return real(ticket, template, recipients, **values)

    monkeypatch.setattr(notices, "notify_staff", record)
    return calls


@pytest.fixture
def auth(app):
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
def ticket(app):
    return make_ticket(
        make_caller(CALLER_PHONE),
        line=LINE,
        category="pension",
        description="Ma pension de mars n'est pas arrivée.",
    )


def assign(client, auth, ticket: Ticket, service: str | None):
    response = client.patch(
        f"/api/tickets/{ticket.reference}", json={"service": service}, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    return response


def token_of(url: str) -> str:
    match = re.fullmatch(r"https://ecoute\.example\.bj/f/([\w-]+)", url)
    assert match, url
    return match.group(1)


@pytest.fixture
def links(app, client, auth, focal, ticket, sent):
    """The ticket assigned to pensions through the API: {name: token}."""
    app.config["PUBLIC_BASE_URL"] = "https://ecoute.example.bj/"
    assign(client, auth, ticket, "pensions")
    return {
        recipients[0].name: token_of(values["link"])
        for _, _, recipients, values in sent
    }


def events(ticket: Ticket, action: str) -> list[TicketEvent]:
    return list(
        db.session.scalars(
            select(TicketEvent)
            .filter_by(ticket_id=ticket.id, action=action)
            .order_by(TicketEvent.id)
        )
    )


# The command


def test_focal_point_is_added_updated_listed_and_removed(runner, pensions):
    added = focal_point(runner, "--name", "Adjoa  Mensah", "--phone", "97 55 44 33")
    assert added.exit_code == 0, added.output
    assert "added Adjoa Mensah (+2290197554433)" in added.output

    updated = focal_point(
        runner, "--name", "Adjoa Mensah", "--email", "Adjoa@Pensions.bj", "--head"
    )
    assert updated.exit_code == 0, updated.output
    assert "updated Adjoa Mensah [head]" in updated.output
    kept = focal_point(runner, "--name", "Adjoa Mensah", "--phone", "0197554433")
    assert "updated Adjoa Mensah [head]" in kept.output  # --head kept when not given
    (adjoa,) = db.session.scalars(select(FocalPoint)).all()
    assert (adjoa.phone_e164, adjoa.email, adjoa.head) == (
        "+2290197554433",
        "adjoa@pensions.bj",
        True,
    )
    listed = runner.invoke(args=["services", "focal-points", "pensions"])
    assert "Adjoa Mensah [head] (+2290197554433, adjoa@pensions.bj)" in listed.output

    removed = focal_point(runner, "--name", "Adjoa Mensah", "--remove")
    assert removed.exit_code == 0, removed.output
    db.session.expire_all()
    assert db.session.get(FocalPoint, adjoa.id).removed_at is not None
    listed = runner.invoke(args=["services", "focal-points", "pensions"])
    assert "Adjoa" not in listed.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nowhere", "--name", "A", "--phone", "0197554433"], "no service nowhere"),
        (["pensions", "--name", "A"], "--phone or an --email"),
        (["pensions", "--name", "A", "--phone", "12"], "not a phone number"),
        (["pensions", "--name", "A", "--email", "nope"], "not an e-mail address"),
        (["pensions", "--name", "  ", "--email", "a@b.bj"], "1 to 120 characters"),
        (["pensions", "--name", "Ghost", "--remove"], "no focal point Ghost"),
    ],
)
def test_focal_point_command_refuses_bad_input(runner, pensions, args, says):
    result = runner.invoke(args=["services", "focal-point", *args])
    assert result.exit_code != 0
    assert says in result.output
    assert db.session.scalars(select(FocalPoint)).all() == []


# Links on assignment


def test_assigning_a_service_sends_each_focal_point_a_personal_link(
    app, client, auth, focal, ticket, links, sent
):
    assert set(links) == {"Adjoa Mensah", "Bio Sika"}
    assert len(set(links.values())) == 2
    recipients = [call[2][0] for call in sent]
    assert [(r.phone, r.email) for r in recipients] == [
        ("+2290197554433", None),
        (None, "bio@pensions.bj"),
    ]
    assert {call[1] for call in sent} == {"focal_link"}
    # Only hashes are kept; the history names who got one, never the token.
    stored = db.session.scalars(select(FocalLink.token_hash)).all()
    assert len(stored) == 2
    assert not set(links.values()) & set(stored)
    sent_events = events(ticket, "focal_link")
    named = [e.detail["focal_point"] for e in sent_events]
    assert named == ["Adjoa Mensah", "Bio Sika"]
    history = client.get(f"/api/tickets/{ticket.reference}", headers=auth).get_data(
        as_text=True
    )
    for token in links.values():
        assert token not in history


def test_the_focal_point_is_sent_a_staff_notice(app, links):
    notice = db.session.scalars(
        select(Message).filter_by(audience="staff", to_number="+2290197554433")
    ).one()
    assert notice.template == "focal_link"
    assert links["Adjoa Mensah"] in notice.body


def test_without_public_base_url_the_link_is_under_the_address_used(
    client, auth, focal, ticket, sent
):
    client.patch(
        f"/api/tickets/{ticket.reference}",
        json={"service": "pensions"},
        headers=auth,
        base_url="https://ecoute.lan:8443",
    )
    assert sent[0][3]["link"].startswith("https://ecoute.lan:8443/f/")


def test_no_link_for_a_removed_focal_point_nor_twice_for_the_same_service(
    app, client, auth, runner, focal, ticket, sent
):
    focal_point(runner, "--name", "Bio Sika", "--remove")
    assign(client, auth, ticket, "pensions")
    assign(client, auth, ticket, "pensions")  # no change: nothing sent again
    assert [call[2][0].name for call in sent] == ["Adjoa Mensah"]


# The page


def test_the_page_shows_its_ticket_without_login(client, ticket, links):
    other = make_ticket(make_caller("+2290197000999"), description="Autre dossier")
    response = client.get(f"/f/{links['Adjoa Mensah']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert ticket.display_reference in page
    assert "Ma pension de mars n&#39;est pas arrivée." in page
    assert "Pensions et retraites" in page  # the category's label, in French
    assert "••••••••••56" in page
    assert "197123456" not in page
    assert "chef@example.org" not in page  # the staff who assigned it
    assert "Le centre" in page
    assert "Africa/Porto-Novo" in page
    assert other.display_reference not in page
    assert "Autre dossier" not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    refresh()  # the test's app context caches the locale between requests
    english = client.get(f"/f/{links['Adjoa Mensah']}?lang=en")
    assert "Write the answer" in english.get_data(as_text=True)
    link = db.session.scalars(select(FocalLink)).first()
    assert link.last_used_at is not None


def post(client, token: str, action: str, text: str):
    return client.post(f"/f/{token}/{action}", data={f"{action}-text": text})


def test_an_internal_note_from_the_page(client, ticket, links):
    response = post(client, links["Adjoa Mensah"], "note", "Dossier reçu, je vérifie.")
    assert response.status_code == 302
    (note,) = events(ticket, "note")
    assert note.actor == "focal point: Adjoa Mensah (pensions)"
    assert note.detail["text"] == "Dossier reçu, je vérifie."
    assert note.detail["visibility"] == "internal"
    notes = db.session.scalars(select(Message).filter_by(template="public_note"))
    assert notes.all() == []
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dossier reçu, je vérifie." in page


def test_the_answer_from_the_page_resolves_and_is_texted(client, ticket, links, sms):
    response = post(client, links["Bio Sika"], "resolve", "Virement fait le 3 avril.")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"
    (resolution,) = events(ticket, "resolution")
    assert resolution.actor == "focal point: Bio Sika (pensions)"
    texted = [m for m in sms.sent if "Virement fait le 3 avril." in m["body"]]
    assert [m["to"] for m in texted] == [CALLER_PHONE]
    # Resolved is not closed: the link still opens the ticket.
    assert client.get(f"/f/{links['Bio Sika']}").status_code == 200


def test_asking_the_citizen_waits_and_texts_the_question(client, ticket, links, sms):
    response = post(client, links["Adjoa Mensah"], "ask", "Envoyez votre bulletin.")
    assert response.status_code == 302
    db.session.expire_all()
    waiting = db.session.get(Ticket, ticket.id)
    assert waiting.status == "waiting"
    assert waiting.paused_since is not None  # the clock stops
    assert any("Envoyez votre bulletin." in m["body"] for m in sms.sent)
    (note,) = events(ticket, "note")
    assert note.detail["visibility"] == "public"


def test_sending_back_clears_the_service_and_kills_the_links(client, ticket, links):
    token = links["Adjoa Mensah"]
    response = post(client, token, "send_back", "Ce n'est pas une pension civile.")
    assert response.status_code == 200
    db.session.expire_all()
    back = db.session.get(Ticket, ticket.id)
    assert (back.service_id, back.status) == (None, "new")
    (note,) = events(ticket, "note")
    assert note.detail["visibility"] == "internal"
    assert note.actor == "focal point: Adjoa Mensah (pensions)"
    for token in links.values():
        assert client.get(f"/f/{token}").status_code == 404


def test_an_empty_text_is_refused_with_the_page(client, ticket, links):
    before = ticket.status
    response = post(client, links["Adjoa Mensah"], "resolve", "   ")
    assert response.status_code == 400
    assert ticket.display_reference in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == before != "resolved"


def test_a_second_answer_is_refused_not_a_crash(client, ticket, links):
    assert post(client, links["Adjoa Mensah"], "resolve", "Réglé.").status_code == 302
    again = post(client, links["Adjoa Mensah"], "resolve", "Encore.")
    assert again.status_code == 409
    assert len(events(ticket, "resolution")) == 1


def test_forms_need_their_csrf_token(app, client, ticket, links):
    app.config["WTF_CSRF_ENABLED"] = True
    refused = post(client, links["Adjoa Mensah"], "note", "Sans jeton")
    assert refused.status_code == 400
    assert events(ticket, "note") == []
    page = client.get(f"/f/{links['Adjoa Mensah']}").get_data(as_text=True)
    csrf = re.search(r'name="note-csrf_token"[^>]*value="([^"]+)"', page)
    accepted = client.post(
        f"/f/{links['Adjoa Mensah']}/note",
        data={"note-csrf_token": csrf.group(1), "note-text": "Avec jeton"},
    )
    assert accepted.status_code == 302


# Dead links


def test_the_link_dies_with_the_ticket_closed(client, auth, ticket, links):
    client.patch(
        f"/api/tickets/{ticket.reference}", json={"status": "closed"}, headers=auth
    )
    response = client.get(f"/f/{links['Adjoa Mensah']}")
    assert response.status_code == 410
    assert ticket.display_reference not in response.get_data(as_text=True)
    assert post(client, links["Adjoa Mensah"], "note", "x").status_code == 410
    # Reopened (an appeal), it stays dead: the link was for the request until
    # it closed.
    reopened = client.patch(
        f"/api/tickets/{ticket.reference}", json={"status": "reopened"}, headers=auth
    )
    assert reopened.status_code == 200
    assert client.get(f"/f/{links['Adjoa Mensah']}").status_code == 410


def test_the_link_dies_when_the_focal_point_is_removed(runner, client, links):
    focal_point(runner, "--name", "Adjoa Mensah", "--remove")
    assert client.get(f"/f/{links['Adjoa Mensah']}").status_code == 404
    assert client.get(f"/f/{links['Bio Sika']}").status_code == 200


def test_moving_the_ticket_to_another_service_kills_the_old_links(
    runner, client, auth, ticket, links
):
    runner.invoke(args=["services", "create", "salaires", "Direction des salaires"])
    assign(client, auth, ticket, "salaires")
    for token in links.values():
        assert client.get(f"/f/{token}").status_code == 404


def test_revoked_and_random_tokens_look_the_same(runner, client, ticket, links):
    focal_point(runner, "--name", "Bio Sika", "--remove")
    random_token = secrets.token_urlsafe(16)
    revoked = client.get(f"/f/{links['Bio Sika']}")
    unknown = client.get(f"/f/{random_token}")
    assert revoked.status_code == unknown.status_code == 404
    # Alike but for the address typed (the language links repeat it).
    assert revoked.get_data(as_text=True).replace(
        links["Bio Sika"], "T"
    ) == unknown.get_data(as_text=True).replace(random_token, "T")
    assert revoked.headers["Cache-Control"] == "no-store"
    assert client.post(f"/f/{secrets.token_urlsafe(32)}/note").status_code == 404
