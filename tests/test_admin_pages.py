"""Administration pages (issue #12): who gets in, each action through its form,
the errors a person reads, CSRF, and what the log keeps (never a password)."""

import logging
import re
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select

from app.extensions import db
from app.models import FocalLink, FocalPoint, Role, Service, User
from app.models.types import utcnow
from app.services import focal_points
from tests.conftest import CALLER, LINE
from tests.factories import PASSWORD, make_caller, make_ticket, make_token, make_user

HX = {"HX-Request": "true"}


def forget_who_asked() -> None:
    """The tests share one app context, where Flask-Login keeps the last
    request's user and Flask-Babel its language (g): the next request must not
    inherit them."""
    g.pop("_login_user", None)
    g.pop("_flask_babel", None)


def login(client, user, password: str = PASSWORD, address: str = "127.0.0.1"):
    forget_who_asked()
    try:
        return client.post(
            "/login",
            data={"email": user.email, "password": password},
            environ_base={"REMOTE_ADDR": address},
        )
    finally:
        forget_who_asked()


@pytest.fixture
def admin(app) -> User:
    return make_user("admin@example.org", Role.ADMIN)


@pytest.fixture
def pensions(app) -> Service:
    service = Service(key="pensions", name="Direction des pensions")
    db.session.add(service)
    db.session.commit()
    return service


@pytest.fixture
def as_admin(app, client, admin):
    assert login(client, admin).status_code == 302
    return client


def text_of(response) -> str:
    return response.get_data(as_text=True)


def shown_password(response) -> str:
    found = re.search(r'<code class="secret">([^<]+)</code>', text_of(response))
    assert found, text_of(response)
    return found.group(1)


# --- who gets in ---------------------------------------------------------------------

PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users/1",
    "/admin/services",
    "/admin/services/pensions",
    "/admin/configuration",
]
POSTS = [
    "/admin/users",
    "/admin/users/1",
    "/admin/users/1/active",
    "/admin/users/1/password",
    "/admin/users/1/unlock",
    "/admin/services",
    "/admin/services/pensions/focal-points",
]


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_agents_and_supervisors_get_403_everywhere(client, admin, pensions, role):
    assert login(client, make_user("staff@example.org", role)).status_code == 302
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path in POSTS:
        assert client.post(path, data={"active": "0"}).status_code == 403, path
    db.session.refresh(admin)
    assert admin.active


def test_a_stranger_is_sent_to_sign_in(client, admin, pensions):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    assert client.post("/admin/users/1/active").status_code == 302


def test_an_api_token_opens_no_admin_page(client, admin):
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    assert client.get("/admin/users", headers=headers).status_code == 302


def test_the_nav_offers_administration_to_admins_only(client, admin):
    agent = make_user("awa@example.org", Role.AGENT)
    login(client, agent)
    assert "/admin/users" not in text_of(client.get("/"))
    client.post("/logout")
    login(client, admin)
    assert 'href="/admin/users"' in text_of(client.get("/"))


def test_every_page_answers_an_admin_in_both_languages(as_admin, admin, pensions):
    for path in PAGES:
        path = path.replace("/users/1", f"/users/{admin.id}")
        for lang in ("fr", "en"):
            forget_who_asked()
            response = as_admin.get(f"{path}?lang={lang}", follow_redirects=True)
            assert response.status_code == 200, path
            page = text_of(response)
            assert page.count("<h1") == 1, path
            assert f'<html lang="{lang}">' in page


def test_unknown_user_and_service_are_404(as_admin, pensions):
    assert as_admin.get("/admin/users/999").status_code == 404
    assert as_admin.get(f"/admin/users/{2**63}").status_code == 404
    beyond = f"/admin/services/pensions/focal-points/{2**63}/remove"
    assert as_admin.post(beyond).status_code == 404
    assert as_admin.get("/admin/services/nowhere").status_code == 404
    assert as_admin.post("/admin/services/nowhere/focal-points").status_code == 404


# --- users ---------------------------------------------------------------------------


def test_the_list_shows_roles_in_words_services_and_states(as_admin, pensions):
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    gone = make_user("parti@example.org", Role.SUPERVISOR)
    gone.active = False
    gone.failed_logins = 3
    gone.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    page = text_of(as_admin.get("/admin/users?lang=en"))
    row = re.search(r"awa@example.org.*?</tr>", page, re.DOTALL).group(0)
    assert "Agent" in row
    assert "Direction des pensions" in row
    assert "Active" in row
    row = re.search(r"parti@example.org.*?</tr>", page, re.DOTALL).group(0)
    assert "Supervisor" in row
    assert "Disabled" in row
    assert "Locked" in row
    assert "3 failed sign-ins" in row
    assert "supervisor<" not in page  # the stored value never shows


def test_an_admin_creates_a_user_with_a_typed_password(app, as_admin, pensions, caplog):
    caplog.set_level(logging.INFO)
    response = as_admin.post(
        "/admin/users",
        data={
            "new-email": " Awa@Example.org ",
            "new-name": "Awa  Dossou",
            "new-role": "agent",
            "new-services": [str(pensions.id)],
            "new-password": "a long secret",
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).filter_by(email="awa@example.org"))
    assert response.headers["Location"] == f"/admin/users/{user.id}"
    assert user.role == Role.AGENT
    assert user.name == "Awa Dossou"
    assert [service.key for service in user.services] == ["pensions"]
    assert "a long secret" not in caplog.text
    assert "admin@example.org created user awa@example.org" in caplog.text
    assert login(app.test_client(), user, "a long secret").status_code == 302


def test_a_password_left_empty_is_made_and_shown_once(app, as_admin, caplog):
    caplog.set_level(logging.INFO)
    response = as_admin.post(
        "/admin/users", data={"new-email": "koffi@example.org", "new-role": "agent"}
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    password = shown_password(response)
    assert len(password) >= 16
    assert password not in caplog.text
    user = db.session.scalar(select(User).filter_by(email="koffi@example.org"))
    assert login(app.test_client(), user, password).status_code == 302
    # Shown once: the account's page never shows it again.
    assert password not in text_of(as_admin.get(f"/admin/users/{user.id}"))


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"new-email": "admin@example.org"}, "An account with this e-mail already"),
        ({"new-email": "ADMIN@example.org"}, "An account with this e-mail already"),
        ({"new-password": "short"}, "At least 8 characters."),
        ({"new-email": "not-an-address"}, "Not an e-mail address."),
        ({"new-role": "king"}, "Not a valid choice"),
        ({"new-services": ["999"]}, "is not a valid choice"),
    ],
)
def test_a_refused_account_says_why_and_keeps_what_was_typed(as_admin, form, says):
    data = {"new-email": "awa@example.org", "new-role": "agent", "new-name": "Awa"}
    response = as_admin.post("/admin/users?lang=en", data={**data, **form})
    assert response.status_code == 400
    page = text_of(response)
    assert says in page
    assert 'value="Awa"' in page  # what was typed comes back
    assert 'aria-invalid="true"' in page or "valid choice" in says
    assert db.session.scalar(select(User).filter_by(email="awa@example.org")) is None
    assert db.session.scalars(select(User)).all()[0].email == "admin@example.org"


def test_an_account_created_twice_at_once_is_refused_not_a_500(as_admin, monkeypatch):
    # The check runs before another admin's twin is committed: the unique key
    # is what refuses it.
    make_user("awa@example.org", Role.AGENT)
    monkeypatch.setattr("app.services.staff.user_by_email", lambda email: None)
    response = as_admin.post(
        "/admin/users?lang=en",
        data={"new-email": "awa@example.org", "new-role": "agent"},
    )
    assert response.status_code == 400
    assert "An account with this e-mail already exists." in text_of(response)
    assert len(db.session.scalars(select(User)).all()) == 2


def test_role_and_services_change(as_admin, pensions, caplog):
    caplog.set_level(logging.INFO)
    agent = make_user("awa@example.org", Role.AGENT)
    salaries = Service(key="salaires", name="Salaires")
    db.session.add(salaries)
    db.session.commit()
    response = as_admin.post(
        f"/admin/users/{agent.id}",
        data={
            "access-role": "supervisor",
            "access-services": [str(pensions.id), str(salaries.id)],
        },
    )
    assert response.status_code == 302
    db.session.refresh(agent)
    assert agent.role == Role.SUPERVISOR
    assert {service.key for service in agent.services} == {"pensions", "salaires"}
    assert "changed access of awa@example.org role=supervisor" in caplog.text
    as_admin.post(f"/admin/users/{agent.id}", data={"access-role": "agent"})
    db.session.refresh(agent)
    assert agent.services == []


def test_an_admin_cannot_change_their_own_role(as_admin, admin):
    response = as_admin.post(
        f"/admin/users/{admin.id}?lang=en", data={"access-role": "agent"}
    )
    assert response.status_code == 400
    assert "You cannot change your own role." in text_of(response)
    db.session.refresh(admin)
    assert admin.role == Role.ADMIN


def test_disable_then_enable_an_account(app, as_admin, caplog):
    caplog.set_level(logging.INFO)
    agent = make_user("awa@example.org", Role.AGENT)
    token = make_token(agent)
    response = as_admin.post(f"/admin/users/{agent.id}/active", data={"active": "0"})
    assert response.status_code == 302
    db.session.refresh(agent)
    assert not agent.active
    assert "admin@example.org disabled awa@example.org" in caplog.text
    # Disabled: no sign-in, no API.
    assert login(app.test_client(), agent).status_code == 200
    forget_who_asked()
    api = app.test_client().get(
        "/api/tickets", headers={"Authorization": f"Bearer {token}"}
    )
    forget_who_asked()
    assert api.status_code == 401
    as_admin.post(f"/admin/users/{agent.id}/active", data={"active": "1"})
    db.session.refresh(agent)
    assert agent.active
    assert login(app.test_client(), agent).status_code == 302


def test_an_admin_never_disables_themselves(as_admin, admin):
    page = text_of(as_admin.get(f"/admin/users/{admin.id}"))
    assert f"/admin/users/{admin.id}/active" not in page  # no button
    response = as_admin.post(
        f"/admin/users/{admin.id}/active", data={"active": "0"}, follow_redirects=True
    )
    assert "Vous ne pouvez pas désactiver votre propre compte." in text_of(response)
    db.session.refresh(admin)
    assert admin.active


def test_htmx_swaps_the_account_section_only(as_admin):
    agent = make_user("awa@example.org", Role.AGENT)
    response = as_admin.post(
        f"/admin/users/{agent.id}/active", data={"active": "0"}, headers=HX
    )
    assert response.status_code == 200
    page = text_of(response)
    assert page.lstrip().startswith('<section id="account"')
    assert "<html" not in page
    assert "Compte désactivé." in page  # its message travels with it


def test_reset_password_shows_a_new_one_once(app, as_admin, caplog):
    caplog.set_level(logging.INFO)
    agent = make_user("awa@example.org", Role.AGENT)
    for headers in ({}, HX):
        response = as_admin.post(f"/admin/users/{agent.id}/password", headers=headers)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        password = shown_password(response)
        assert password not in caplog.text
        assert login(app.test_client(), agent, PASSWORD).status_code == 200
        assert login(app.test_client(), agent, password).status_code == 302
    assert "admin@example.org reset the password of awa@example.org" in caplog.text


def test_unlock_clears_the_account_and_its_sign_in_count(app, as_admin):
    agent = make_user("awa@example.org", Role.AGENT)
    agent.failed_logins = 7
    agent.locked_until = utcnow() + timedelta(hours=1)
    db.session.commit()
    # Strangers guess from eleven addresses: past the account's 50 an hour.
    stranger = app.test_client()
    for address in range(11):
        for _ in range(5):
            login(stranger, agent, "wrong", f"10.9.0.{address}")
    assert login(app.test_client(), agent, PASSWORD, "10.9.1.1").status_code == 200
    response = as_admin.post(f"/admin/users/{agent.id}/unlock")
    assert response.status_code == 302
    db.session.refresh(agent)
    assert agent.failed_logins == 0
    assert agent.locked_until is None
    assert login(app.test_client(), agent, PASSWORD, "10.9.1.2").status_code == 302


def test_an_unlock_without_redis_still_clears_the_account(as_admin, monkeypatch):
    monkeypatch.setattr("app.auth.throttle.forget_account", lambda email: False)
    agent = make_user("awa@example.org", Role.AGENT)
    agent.failed_logins = 2
    db.session.commit()
    response = as_admin.post(
        f"/admin/users/{agent.id}/unlock?lang=en", follow_redirects=True
    )
    assert "could not be reached" in text_of(response)
    db.session.refresh(agent)
    assert agent.failed_logins == 0


def test_actions_refuse_a_missing_csrf_token(app, as_admin):
    agent = make_user("awa@example.org", Role.AGENT)
    app.config["WTF_CSRF_ENABLED"] = True
    for path, data in (
        (f"/admin/users/{agent.id}/active", {"active": "0"}),
        (f"/admin/users/{agent.id}/password", {}),
        (f"/admin/users/{agent.id}", {"access-role": "admin"}),
        ("/admin/users", {"new-email": "x@example.org", "new-role": "admin"}),
        ("/admin/services", {"service-key": "x", "service-name": "X"}),
    ):
        assert as_admin.post(path, data=data).status_code == 400, path
    db.session.refresh(agent)
    assert agent.active
    assert agent.role == Role.AGENT
    assert db.session.scalar(select(User).filter_by(email="x@example.org")) is None
    # With the page's own token, the same action goes through.
    page = text_of(as_admin.get(f"/admin/users/{agent.id}"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = as_admin.post(
        f"/admin/users/{agent.id}/active", data={"active": "0", "csrf_token": token}
    )
    assert response.status_code == 302


# --- services and focal points -------------------------------------------------------


def test_services_list_their_agents_and_focal_points(as_admin, pensions):
    agent = make_user("awa@example.org", Role.AGENT)
    agent.services.append(pensions)
    focal_points.save_focal_point(
        pensions, "Adjoa Mensah", "+2290197554433", None, True
    )
    removed, _ = focal_points.save_focal_point(
        pensions, "Ancien", None, "a@b.bj", False
    )
    removed.removed_at = utcnow()
    db.session.commit()
    page = text_of(as_admin.get("/admin/services"))
    row = re.search(r"Direction des pensions.*?</tr>", page, re.DOTALL).group(0)
    assert "awa" in row
    assert "Adjoa Mensah (chef)" in row
    assert "Ancien" not in row


def test_create_a_service(as_admin, caplog):
    caplog.set_level(logging.INFO)
    response = as_admin.post(
        "/admin/services",
        data={"service-key": "salaires", "service-name": "Direction des salaires"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/services/salaires"
    assert db.session.scalar(select(Service).filter_by(key="salaires")) is not None
    assert "admin@example.org created service salaires" in caplog.text


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("Bad Key", "Lettres minuscules a-z, chiffres et _ seulement."),
        ("pensions", "Ce service existe déjà."),
    ],
)
def test_a_refused_service_says_why(as_admin, pensions, key, says):
    response = as_admin.post(
        "/admin/services", data={"service-key": key, "service-name": "Autre"}
    )
    assert response.status_code == 400
    assert says in text_of(response)
    assert len(db.session.scalars(select(Service)).all()) == 1


def test_add_a_focal_point_with_the_phone_parsed_like_the_cli(
    as_admin, pensions, caplog
):
    caplog.set_level(logging.INFO)
    response = as_admin.post(
        "/admin/services/pensions/focal-points",
        data={
            "new-name": "  Adjoa   Mensah ",
            "new-phone": "01 97 55 44 33",
            "new-email": "Adjoa@Pensions.bj",
            "new-head": "y",
        },
    )
    assert response.status_code == 302
    point = db.session.scalar(select(FocalPoint))
    assert point.name == "Adjoa Mensah"
    assert point.phone_e164 == "+2290197554433"
    assert point.email == "adjoa@pensions.bj"
    assert point.head
    assert "added focal point Adjoa Mensah (pensions)" in caplog.text
    assert "Adjoa Mensah" in text_of(as_admin.get("/admin/services/pensions"))


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"new-phone": "12"}, "Not a phone number."),
        ({"new-email": "nope"}, "Not an e-mail address."),
        ({}, "Give a phone number or an e-mail (or both)."),
        ({"new-name": "   ", "new-phone": "0197554433"}, "This field is required."),
        (
            {"new-name": "A" * 121, "new-phone": "0197554433"},
            "cannot be longer than 120",
        ),
    ],
)
def test_a_refused_focal_point_says_why(as_admin, pensions, form, says):
    data = {"new-name": "Adjoa", **form}
    for headers, status in (({}, 400), (HX, 200)):
        response = as_admin.post(
            "/admin/services/pensions/focal-points?lang=en", data=data, headers=headers
        )
        assert response.status_code == status
        assert says in text_of(response)
    assert db.session.scalars(select(FocalPoint)).all() == []


def test_update_a_focal_point_clears_what_the_form_left_empty(as_admin, pensions):
    point, _ = focal_points.save_focal_point(
        pensions, "Adjoa", "+2290197554433", "adjoa@pensions.bj", True
    )
    db.session.commit()
    response = as_admin.post(
        f"/admin/services/pensions/focal-points/{point.id}",
        data={
            f"fp{point.id}-name": "Someone Else",  # the name is who they are: kept
            f"fp{point.id}-phone": "",
            f"fp{point.id}-email": "adjoa@pensions.bj",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert text_of(response).lstrip().startswith('<section id="focal-points"')
    db.session.refresh(point)
    assert point.name == "Adjoa"
    assert point.phone_e164 is None
    assert point.email == "adjoa@pensions.bj"
    assert not point.head
    refused = as_admin.post(
        f"/admin/services/pensions/focal-points/{point.id}",
        data={f"fp{point.id}-phone": "", f"fp{point.id}-email": ""},
    )
    assert refused.status_code == 400
    db.session.refresh(point)
    assert point.email == "adjoa@pensions.bj"


def test_remove_a_focal_point_kills_their_links(as_admin, pensions, caplog):
    caplog.set_level(logging.INFO)
    point, _ = focal_points.save_focal_point(
        pensions, "Adjoa", "+2290197554433", None, False
    )
    ticket = make_ticket(make_caller(CALLER), line=LINE, service=pensions)
    db.session.flush()
    focal_points.create_link(point, ticket)
    db.session.commit()
    response = as_admin.post(f"/admin/services/pensions/focal-points/{point.id}/remove")
    assert response.status_code == 302
    db.session.refresh(point)
    assert point.removed_at is not None
    assert db.session.scalar(select(FocalLink)).revoked_at is not None
    assert "removed focal point Adjoa (pensions) links=1" in caplog.text
    # Gone: it cannot be removed or saved again through its old address.
    again = f"/admin/services/pensions/focal-points/{point.id}"
    assert as_admin.post(again + "/remove").status_code == 404
    assert as_admin.post(again).status_code == 404


def test_another_services_focal_point_is_404(as_admin, pensions):
    other = Service(key="salaires", name="Salaires")
    db.session.add(other)
    point, _ = focal_points.save_focal_point(
        other, "Kofi", "+2290197554433", None, False
    )
    db.session.commit()
    path = f"/admin/services/pensions/focal-points/{point.id}"
    assert as_admin.post(path + "/remove").status_code == 404
    db.session.refresh(point)
    assert point.removed_at is None


# --- configuration -------------------------------------------------------------------


def test_the_configuration_is_shown_read_only_with_its_files(app, as_admin):
    response = as_admin.get("/admin/configuration?lang=en")
    page = text_of(response)
    for setting in ("LINES_FILE", "SLA_FILE", "SMS_FILE", "NOTICES_FILE"):
        assert app.config[setting] in page
        assert setting in page
    assert "MENUS_DIR" in page
    assert "default.yaml" in page
    assert "restart" in page
    assert "<form" not in page.split("<main", 1)[1]  # nothing to change here
    # Lines, in words: hours, holidays, categories, recording.
    assert "Hotline Trésor 1" in page
    assert "Monday to Friday: 08:00\u201317:30" in page
    assert "December 25, 2026" in page
    assert "Pensions" in page
    assert "21:00\u201307:00" in page
    # The menu's keys, the SLA plans and calendars, the texts.
    assert "Speak to an agent" in page
    assert "4 business hours" in page
    assert "cote_divoire" in page
    assert "Africa/Abidjan" in page
    assert "Request registered (its reference)" in page
    assert "Escalation to the service's head" in page


def test_the_configuration_in_french(as_admin):
    page = text_of(as_admin.get("/admin/configuration?lang=fr"))
    assert "Du lundi au vendredi : 08:00\u201317:30" in page
    assert "25 décembre 2026" in page
    assert "4 heures ouvrées" in page
    assert "redémarrez" in page


# --- the command line keeps its rules (now the services') ---------------------------


def test_the_cli_and_the_page_share_the_password_rule(runner, as_admin):
    result = runner.invoke(
        args=["users", "create", "a@b.bj", "--role", "agent", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    response = as_admin.post(
        "/admin/users",
        data={"new-email": "a@b.bj", "new-role": "agent", "new-password": "short"},
    )
    assert response.status_code == 400
