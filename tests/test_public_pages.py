"""The public pages of CONTRACT §9.1 (issue #14): /public, the request form and
the status look-up. No login, French first, no script, light; one budget per
address; the look-up tells a stranger nothing about a reference."""

import html
import re
from datetime import UTC, datetime

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Ticket
from app.services import sla_clock
from tests.conftest import CALLER
from tests.factories import make_caller, make_ticket
from tests.test_queries import counting

PAGE_BUDGET = 50_000  # bytes: the page and its style sheet, on a slow network
DESCRIPTION = "Ma pension de mars n'est pas arrivée sur mon compte."
DASH = "\u2013"  # en dash
GOOD = {"category": "pension", "description": DESCRIPTION}


@pytest.fixture(autouse=True)
def roomy_limit(app):
    """Tests that are not about the limit file more than five requests."""
    app.config["PUBLIC_RATE_LIMIT"] = "1000/hour"


def text(response) -> str:
    return response.get_data(as_text=True)


def main_text(response) -> str:
    """The page's main content as words, tags removed."""
    page = text(response)
    body = page[page.index("<main") : page.index("</main>")]
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def weight(client, response) -> int:
    """The page's bytes and its style sheets'."""
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', text(response))
    assert sheets == ["/static/public.css"]
    total = len(response.data)
    for sheet in sheets:
        with client.get(sheet) as css:
            assert css.status_code == 200
            total += len(css.data)
    return total


def tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def reference_on(response) -> str:
    found = re.search(r'<p class="reference"[^>]*>(\d{4}-\d{4})</p>', text(response))
    assert found, text(response)
    return found[1]


# --- GET /public ---


def test_the_contact_page_is_french_first_whatever_the_browser_says(client):
    response = client.get("/public", headers={"Accept-Language": "en"})

    assert response.status_code == 200
    page = text(response)
    assert '<html lang="fr">' in page
    assert "<h1>Joindre le centre d'écoute</h1>" in page
    assert '<a class="tel" href="tel:+2290121300001">01 21 30 00 01</a>' in page
    assert f"<li>lundi {DASH} vendredi : 08:00{DASH}17:30</li>" in page
    assert "<li>Tous les jours, à toute heure.</li>" in page
    assert 'href="/public/request">Faire une demande</a>' in page
    assert '<form method="get" action="/public/status"' in page
    assert "<script" not in page
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=600"


def test_the_contact_page_in_english_keeps_english_in_its_links(client):
    page = text(client.get("/public?lang=en"))

    assert '<html lang="en">' in page
    assert "<h1>Contact the listening centre</h1>" in page
    assert f"<li>Monday {DASH} Friday: 08:00{DASH}17:30</li>" in page
    assert 'href="/public/request?lang=en">Make a request</a>' in page
    assert '<input type="hidden" name="lang" value="en">' in page
    assert 'href="/public?lang=fr"' in page  # the switch back to French


def test_the_figures_share_the_layout_and_its_links(client):
    english = text(client.get("/public/stats?lang=en"))
    french = text(client.get("/public/stats"))

    assert '<a href="/public/request?lang=en">Make a request</a>' in english
    assert '<a href="/public/request">Faire une demande</a>' in french
    assert '<a class="skip" href="#main">Aller au contenu</a>' in french


def test_the_centres_address_shows_only_when_mail_can_reach_it(app, client):
    app.config["MAIL_FROM"] = "ecoute@localhost"  # the default
    assert "mailto:" not in text(client.get("/public"))
    app.config["MAIL_FROM"] = "Centre d'écoute <ecoute@tresor.bj>"
    page = text(client.get("/public"))
    assert '<a href="mailto:ecoute@tresor.bj">ecoute@tresor.bj</a>' in page


# --- the request form ---


def test_the_form_lists_the_categories_and_asks_for_none_by_default(client):
    page = text(client.get("/public/request"))

    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)', page)
    assert options[0] == ("", "Choisissez…")
    assert ("pension", "Pensions et retraites") in options
    assert ("payment", "Un paiement ou un salaire") in options
    assert "selected" not in page
    assert "<script" not in page


def test_a_request_with_a_phone_only(client, sms):
    response = client.post(
        "/public/request",
        data={**GOOD, "phone": "01 97 00 00 00", "name": "  Awa   Dossou "},
    )

    assert response.status_code == 200
    reference = reference_on(response)
    (ticket,) = tickets()
    assert ticket.display_reference == reference
    assert ticket.channel == "web"
    assert ticket.kind == "request"
    assert ticket.category == "pension"
    assert ticket.description == DESCRIPTION
    assert ticket.language == "fr"
    assert ticket.caller.phone_e164 == CALLER
    assert ticket.caller.name == "Awa Dossou"
    assert ticket.contact_email is None
    assert ticket.resolve_due is not None
    assert [message["to"] for message in sms.sent] == [CALLER]
    assert reference in sms.sent[0]["body"]
    words = main_text(response)
    assert "Vous recevez la référence par SMS." in words
    assert "e-mail" not in words.split("SMS.")[1].split("Un agent")[0]
    assert "Nous visons une réponse d'ici le" in words
    link = f'href="/public/status?reference={reference}"'
    assert link in text(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_request_with_an_e_mail_only_has_no_caller(client, sms):
    response = client.post(
        "/public/request", data={**GOOD, "email": "Awa.Dossou@Example.ORG"}
    )

    assert response.status_code == 200
    (ticket,) = tickets()
    assert ticket.caller is None
    assert ticket.contact_email == "Awa.Dossou@example.org"
    assert sms.sent == []
    # The acknowledgment goes to the address, like any channel's (open_ticket).
    assert [
        (message.channel, message.to_number, message.template)
        for message in db.session.scalars(select(Message))
    ] == [("email", "Awa.Dossou@example.org", "acknowledgment")]
    words = main_text(response)
    assert "Vous recevez la référence par e-mail à Awa.Dossou@example.org." in words
    assert "par SMS" not in words


def test_a_request_with_both_texts_the_phone_and_keeps_the_e_mail(client, sms):
    response = client.post(
        "/public/request?lang=en",
        data={**GOOD, "phone": "+229 01 97 00 00 00", "email": "awa@example.org"},
    )

    assert response.status_code == 200
    assert '<html lang="en">' in text(response)
    (ticket,) = tickets()
    assert ticket.caller.phone_e164 == CALLER
    assert ticket.contact_email == "awa@example.org"
    assert ticket.language == "en"
    assert [message["to"] for message in sms.sent] == [CALLER]
    words = main_text(response)
    assert "You receive the reference by SMS." in words
    assert "You receive the reference by e-mail at awa@example.org." in words


def test_a_name_never_replaces_the_one_the_centre_knows(client):
    caller = make_caller(CALLER)
    caller.name = "Awa Dossou"
    db.session.commit()

    client.post("/public/request", data={**GOOD, "phone": CALLER, "name": "Intrus"})

    assert tickets()[0].caller.name == "Awa Dossou"


def test_a_name_from_another_number_goes_on_the_person_s_profile(client):
    root = make_caller("+2290196000000")
    make_caller(CALLER).person_id = root.id
    db.session.commit()

    client.post("/public/request", data={**GOOD, "phone": CALLER, "name": "Awa"})

    # The profile lives on the root number (CONTRACT §8.5), not on this one.
    assert (root.name, tickets()[0].caller.name) == ("Awa", None)


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"category": ""}, "category", "Choisissez l'objet de votre demande."),
        ({"category": "weather"}, "category", "N'est pas un choix valide."),
        ({"description": ""}, "description", "Écrivez votre demande."),
        (
            {"description": "Trop court"[:9]},
            "description",
            "Entre 10 et 5\u00a0000 caractères, s'il vous plaît.",
        ),
        (
            {"description": "   court     "},
            "description",
            "Entre 10 et 5\u00a0000 caractères, s'il vous plaît.",
        ),
        (
            {"description": "x" * 5001},
            "description",
            "Entre 10 et 5\u00a0000 caractères, s'il vous plaît.",
        ),
        (
            {"phone": "", "email": ""},
            "phone",
            "Donnez un numéro de téléphone ou une adresse e-mail.",
        ),
        ({"phone": "12"}, "phone", "Ce n'est pas un numéro de téléphone."),
        ({"email": "awa@"}, "email", "Ce n'est pas une adresse e-mail."),
        ({"email": "awa@example.org", "phone": "abc"}, "phone", None),
        ({"name": "Awa\x07"}, "name", "Ce nom ne peut pas être enregistré."),
    ],
)
def test_every_refusal_shows_the_form_again_with_the_error_beside_it(
    client, sms, fields, field, error
):
    sent = {**GOOD, "phone": "0197000000", "email": "", "name": "Awa", **fields}

    response = client.post("/public/request", data=sent)

    assert response.status_code == 400
    page = text(response)
    marked = re.search(
        rf'<div class="field invalid">\s*<label for="{field}">.*?'
        rf'<span class="error" id="{field}-error">([^<]*)</span>',
        page,
        re.S,
    )
    assert marked, page
    if error is not None:
        assert html.unescape(marked[1]) == error
    assert f'aria-describedby="{field}-help {field}-error"' in page or (
        f'aria-describedby="{field}-error"' in page
    )
    assert 'aria-invalid="true"' in page
    # What was typed is kept, to correct rather than type again.
    if field != "description" and sent["description"]:
        assert f"{escape(sent['description'])}</textarea>" in page
    if sent["phone"] and field != "phone":
        assert f'value="{sent["phone"]}"' in page
    assert tickets() == []
    assert sms.sent == []


def test_a_post_without_its_csrf_token_is_refused(app, client):
    app.config["WTF_CSRF_ENABLED"] = True

    response = client.post("/public/request", data={**GOOD, "phone": CALLER})

    assert response.status_code == 400
    assert tickets() == []


def test_the_real_form_with_its_csrf_token_files(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    page = text(client.get("/public/request"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    response = client.post(
        "/public/request", data={**GOOD, "phone": CALLER, "csrf_token": token}
    )

    assert response.status_code == 200
    assert len(tickets()) == 1


# --- the status look-up ---


@pytest.fixture
def filed() -> Ticket:
    """A web request from CALLER, who also gave an e-mail."""
    ticket = make_ticket(
        make_caller(CALLER), channel="web", contact_email="awa@example.org"
    )
    sla_clock.start(ticket)
    ticket.status = "in_progress"
    db.session.commit()
    return ticket


def look_up(client, reference: str, contact: str, lang: str | None = None):
    query = {"reference": reference, "contact": contact}
    if lang:
        query["lang"] = lang
    return client.get("/public/status", query_string=query)


def spaced(reference: str) -> str:
    return f"{reference[:4]} {reference[4:]}"


@pytest.mark.parametrize(
    ("written", "contact"),
    [
        ("dash", "01 97 00 00 00"),
        ("compact", CALLER),
        ("spaces", "+229 0197 000 000"),
        ("dash", "AWA@Example.org"),
        ("spaces", " awa@example.org "),
    ],
)
def test_the_status_to_whoever_gives_the_filing_contact(
    client, filed, written, contact
):
    reference = {
        "dash": filed.display_reference,
        "compact": filed.reference,
        "spaces": spaced(filed.reference),
    }[written]

    response = look_up(client, reference, contact)

    assert response.status_code == 200
    words = main_text(response)
    assert f"Référence {filed.display_reference}" in words
    assert "Statut En cours" in words
    assert "Réponse attendue d'ici le" in words
    assert "(Africa/Porto-Novo)" in words
    assert response.headers["Cache-Control"] == "no-store"


def test_the_status_in_english_with_dates_in_the_centres_zone(client, filed):
    filed.updated_at = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    db.session.commit()

    words = main_text(look_up(client, filed.reference, CALLER, "en"))

    assert "Status In progress" in words
    # 22:30 UTC is 23:30 in Porto-Novo (UTC+01:00).
    assert "Last change 29 November 2026, 23:30" in words


def test_another_number_of_the_same_person_may_ask(client, filed):
    other = make_caller("+2290196000000")
    other.person_id = filed.caller.id
    db.session.commit()

    assert look_up(client, filed.reference, "0196000000").status_code == 200


def without_echo(response, *echoed: str) -> bytes:
    page = response.data
    for value in echoed:
        page = page.replace(value.encode(), b"ECHO")
    return page


def test_a_wrong_contact_is_answered_as_an_unknown_reference(client, filed):
    unknown = "1234-5674"  # a valid check digit, no such ticket
    cases = {
        "wrong phone": (filed.display_reference, "0196999999"),
        "wrong e-mail": (filed.display_reference, "bob@example.org"),
        "unknown": (unknown, CALLER),
        "malformed": ("1234-5670", CALLER),  # a typing mistake: check digit
        "not a reference": ("hello", "awa@example.org"),
    }
    answers = {}
    for case, (reference, contact) in cases.items():
        with counting() as statements:
            response = look_up(client, reference, contact)
        answers[case] = (
            response.status_code,
            without_echo(response, reference, contact),
            len(statements),
        )

    assert {answer[0] for answer in answers.values()} == {404}
    assert len({answer[1] for answer in answers.values()}) == 1
    # The same one query each time: nothing returns early for a bad reference.
    assert {answer[2] for answer in answers.values()} == {1}
    assert "Nous ne trouvons aucune demande" in text(look_up(client, unknown, CALLER))
    assert "En cours" not in text(look_up(client, filed.reference, "0196999999"))


def test_the_receipts_link_opens_the_form_filled_in_and_asks_nothing(
    app, client, filed
):
    app.config["PUBLIC_RATE_LIMIT"] = "1/hour"
    for _ in range(3):  # not a look-up: it costs nothing
        response = client.get(f"/public/status?reference={filed.display_reference}")
        assert response.status_code == 200
    page = text(response)
    assert f'name="reference" value="{filed.display_reference}"' in page
    assert "En cours" not in page
    assert "Nous ne trouvons aucune demande" not in page


def test_an_empty_contact_is_a_wrong_one(client, filed):
    response = look_up(client, filed.display_reference, "")

    assert response.status_code == 404
    assert "Nous ne trouvons aucune demande" in text(response)


def test_the_look_up_form_alone_is_not_a_question(client):
    response = client.get("/public/status")

    assert response.status_code == 200
    assert "Nous ne trouvons aucune demande" not in text(response)
    assert '<input id="reference" name="reference" value=""' in text(response)


# --- one budget per address ---


def file_one(client, **options):
    return client.post("/public/request", data={**GOOD, "phone": CALLER}, **options)


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_the_form_is_refused_past_the_limit_with_a_clear_page(app, client):
    app.config["PUBLIC_RATE_LIMIT"] = "3/hour"
    bad = {**GOOD, "phone": "12"}
    # Refused posts count too: a flood of bad forms is still a flood.
    for _ in range(2):
        assert client.post("/public/request", data=bad).status_code == 400
    assert file_one(client).status_code == 200
    assert client.get("/public/request").status_code == 200  # reading is free

    refused = file_one(client)

    assert refused.status_code == 429
    # A moving window of an hour: the first post leaves it in an hour.
    assert 3590 <= int(refused.headers["Retry-After"]) <= 3601
    assert "<h1>Trop de demandes</h1>" in text(refused)
    assert "Réessayez dans 60 minutes." in main_text(refused)
    assert len(tickets()) == 1
    assert file_one(client, **from_address("10.9.9.9")).status_code == 200


def test_the_look_up_is_refused_past_the_limit(app, client, filed):
    app.config["PUBLIC_RATE_LIMIT"] = "2/hour"
    assert look_up(client, "1234-5674", CALLER).status_code == 404
    assert look_up(client, filed.reference, CALLER).status_code == 200

    refused = look_up(client, filed.reference, CALLER, "en")

    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert "<h1>Too many requests</h1>" in text(refused)
    assert client.get("/public/status").status_code == 200  # the empty form


def test_the_form_the_json_twin_and_the_look_up_share_one_budget(app, client):
    app.config["PUBLIC_RATE_LIMIT"] = "3/hour"
    assert file_one(client).status_code == 200
    api = client.post("/api/public/requests", json={**GOOD, "email": "a@example.org"})
    assert api.status_code == 201
    assert look_up(client, api.json["reference"], "a@example.org").status_code == 200

    assert file_one(client).status_code == 429
    assert look_up(client, api.json["reference"], "a@example.org").status_code == 429
    assert client.post("/api/public/requests", json=GOOD).status_code == 429


# --- light pages ---


def test_every_public_page_weighs_under_50_kb_with_its_css(app, client, filed):
    pages = {
        "contact": client.get("/public"),
        "contact en": client.get("/public?lang=en"),
        "form": client.get("/public/request"),
        "refused form": client.post("/public/request", data={"name": "x" * 121}),
        "filed": file_one(client),
        "status": look_up(client, filed.reference, CALLER),
        "not found": look_up(client, "1234-5674", CALLER),
    }
    app.config["PUBLIC_RATE_LIMIT"] = "1/hour"  # a new limit, counted afresh
    look_up(client, "1234-5674", CALLER)
    pages["too many"] = look_up(client, "1234-5674", CALLER)
    assert pages["too many"].status_code == 429

    weights = {name: weight(client, response) for name, response in pages.items()}

    assert max(weights.values()) < PAGE_BUDGET, weights
    for name, response in pages.items():
        assert "<script" not in text(response), name
        assert text(response).count("<h1>") == 1, name
