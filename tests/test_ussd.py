"""USSD (CONTRACT §9.2): sessions step by step, one ticket a session, 182 characters."""

from datetime import UTC, datetime
from itertools import product
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.lines import LANGUAGES, Lines, current_lines
from app.menus import menu_for
from app.models import Caller, ChannelReceipt, Message, Ticket
from app.references import format_reference
from app.sms_text import is_gsm7, sms_texts
from app.yamlmodel import ConfigFileError
from tests.conftest import CALLER, HOTLINE, LINE
from tests.factories import make_caller, make_ticket
from ussd.menu import MAX_SCREEN, Filing, FollowUp, Screen, UssdMenu, inputs_of
from ussd.texts import load_ussd_texts, ussd_texts
from ussd.views import TEXTS_FILE

SECRET = "test-ussd-secret"  # TestingConfig.USSD_SECRET
OTHER_PHONE = "+2290197000001"
MAIN_FR = (
    "CON Centre d'écoute\n1 Suivre une demande\n2 Déposer une demande\n3 Informations"
)
CATEGORIES_FR = (
    "CON Objet de votre demande:\n"
    "1 La qualité de l'accueil et du service\n"
    "2 Un retard de traitement d'un dossier\n"
    "3 Un paiement ou un salaire\n"
    "4 Un autre sujet"
)
UNKNOWN_FR = (
    "END Aucune demande de ce numéro de téléphone ne porte cette référence. "
    "Vérifiez-la et recommencez."
)


@pytest.fixture
def ussd(client):
    """POST one step of a session; the answer's body."""

    def post(
        text: str,
        session: str = "ATUid_one",
        phone: str = CALLER,
        key: str | None = SECRET,
        status: int = 200,
    ) -> str:
        path = "/ussd" if key is None else f"/ussd?key={key}"
        form = {
            "sessionId": session,
            "serviceCode": "*384*1234#",
            "phoneNumber": phone,
            "networkCode": "61602",
            "text": text,
        }
        response = client.post(path, data=form)
        assert response.status_code == status
        assert response.content_type == "text/plain; charset=utf-8"
        return response.get_data(as_text=True)

    return post


def tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


# --- the key -----------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "wrong", SECRET + "x", "tést"])
def test_a_missing_or_wrong_key_is_403(ussd, key):
    assert ussd("", key=key, status=403) == "Forbidden"
    assert ussd("2*1*1", key=key, status=403) == "Forbidden"
    assert tickets() == []


def test_an_unset_secret_closes_the_channel(app, ussd):
    app.config["USSD_SECRET"] = None
    assert ussd("", key="", status=403) == "Forbidden"
    assert ussd("", key="None", status=403) == "Forbidden"


def test_no_csrf_token_is_asked_for(app, ussd):
    # Africa's Talking posts a plain form: the key is the credential.
    app.config["WTF_CSRF_ENABLED"] = True
    assert ussd("") == MAIN_FR


# --- filing a request -----------------------------------------------------------


def test_a_session_files_a_request_step_by_step(ussd, sms):
    assert ussd("") == MAIN_FR
    assert ussd("2") == CATEGORIES_FR
    assert ussd("2*3") == (
        "CON Déposer une demande: Un paiement ou un salaire?\n1 Confirmer\n2 Annuler"
    )
    assert tickets() == []  # nothing is filed before it is confirmed
    answer = ussd("2*3*1")

    ticket = db.session.scalars(select(Ticket)).one()
    reference = format_reference(ticket.reference)
    assert answer == (
        f"END Demande enregistrée sous la référence {reference}. "
        "Vous la recevez par SMS."
    )
    assert (ticket.channel, ticket.category, ticket.line, ticket.language) == (
        "ussd",
        "payment",
        LINE,
        "fr",
    )
    assert (ticket.kind, ticket.status, ticket.caller.phone_e164) == (
        "request",
        "new",
        CALLER,
    )
    assert ticket.resolve_due is not None  # on the SLA clock like every channel
    receipt = db.session.scalars(select(ChannelReceipt)).one()
    assert (receipt.key, receipt.ticket_id) == ("ussd:ATUid_one", ticket.id)
    # The usual acknowledgment, through the outbox, to the phone that dialled.
    assert [sent["to"] for sent in sms.sent] == [CALLER]
    assert sms.sent[0]["body"] == (
        f"Centre d'écoute: votre demande est enregistrée sous le no {reference}. "
        "Gardez ce numéro pour la suivre."
    )


def test_a_repeated_step_files_one_ticket_and_answers_it_again(ussd, sms):
    first = ussd("2*1*1")
    assert ussd("2*1*1") == first
    assert ussd("2*2*1") == first  # the same session cannot file a second one
    ticket = db.session.scalars(select(Ticket)).one()
    assert format_reference(ticket.reference) in first
    assert ticket.category == "service"
    assert len(sms.sent) == 1
    assert db.session.scalar(select(func.count(Message.id))) == 1
    assert db.session.scalar(select(func.count(ChannelReceipt.id))) == 1

    other = ussd("2*1*1", session="ATUid_two")
    assert other != first
    assert len(tickets()) == 2
    assert len(sms.sent) == 2


def test_a_number_in_local_form_is_the_same_caller(ussd):
    make_caller(CALLER)
    ussd("2*4*1", phone="0197000000")  # as some networks send it: no +229
    assert db.session.scalar(select(func.count(Caller.id))) == 1
    assert tickets()[0].caller.phone_e164 == CALLER


def test_without_a_usable_number_the_reference_is_shown_not_texted(ussd, sms):
    answer = ussd("2*4*1", phone="not a number")
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.caller is None
    assert answer == (
        f"END Demande enregistrée sous la référence "
        f"{format_reference(ticket.reference)}. Notez-la pour la suivre."
    )
    assert sms.sent == []


def test_cancelling_files_nothing(ussd, sms):
    assert ussd("2*1*2") == "END Demande annulée. Aucune demande n'a été déposée."
    assert tickets() == []
    assert sms.sent == []


# --- wrong keys and garbage ---------------------------------------------------------


def test_a_wrong_key_shows_the_same_menu_again_and_the_session_goes_on(ussd):
    assert ussd("7") == MAIN_FR.replace("CON ", "CON Choix invalide.\n")
    assert ussd("7*2") == CATEGORIES_FR
    assert ussd("7*2*5") == CATEGORIES_FR.replace("CON ", "CON Choix invalide.\n")
    assert ussd("7*2*5*0") == CATEGORIES_FR.replace("CON ", "CON Choix invalide.\n")
    assert ussd("7*2*5*2*9").startswith(
        "CON Choix invalide.\nDéposer une demande: Un retard"
    )
    assert ussd("7*2*5*2*9*1").startswith("END Demande enregistrée")
    assert tickets()[0].category == "delay"


def test_too_many_steps_or_garbage_end_the_session(ussd):
    too_many = "END Trop de saisies. Composez à nouveau le code pour recommencer."
    not_understood = (
        "END Saisie non comprise. Composez à nouveau le code pour recommencer."
    )
    assert ussd("*".join(["9"] * 13)) == too_many
    assert ussd("3*1") == not_understood  # an input after an END
    assert ussd("1" * 201) == not_understood
    assert ussd("", session="") == not_understood
    assert tickets() == []


def test_a_database_outage_ends_the_session_with_an_apology(
    ussd, sms, monkeypatch, caplog
):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr("ussd.views.file_once", down)
    assert ussd("2*1*1") == (
        "END Nous rencontrons un problème technique. Veuillez réessayer plus tard."
    )
    assert "USSD session failed" in caplog.text
    assert tickets() == []
    assert sms.sent == []


# --- following a request ------------------------------------------------------------


def filed_by(phone: str, status: str = "in_progress") -> Ticket:
    ticket = make_ticket(
        make_caller(phone), channel="phone", line=LINE, language="fr", status=status
    )
    ticket.updated_at = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    db.session.commit()
    return ticket


def test_the_filing_phone_hears_the_status_and_the_last_change(ussd):
    ticket = filed_by(CALLER)
    assert ussd("1") == "CON Entrez la référence de votre demande (8 chiffres):"
    reference = format_reference(ticket.reference)
    # 23:30 UTC is 00:30 on the 28th in Porto-Novo, the line's zone.
    expected = (
        f"END Dossier {reference}: en cours de traitement.\n"
        "Dernier changement le 28 novembre 2026."
    )
    assert ussd(f"1*{ticket.reference}") == expected


def test_another_number_of_the_same_person_hears_it_too(ussd):
    ticket = filed_by(CALLER, status="waiting")
    other = make_caller(OTHER_PHONE)
    other.person_id = ticket.caller.id
    db.session.commit()
    assert ussd(f"1*{ticket.reference}", phone=OTHER_PHONE).startswith(
        f"END Dossier {format_reference(ticket.reference)}: en attente d'un complément"
    )


def test_any_other_phone_or_reference_gets_the_unknown_answer(ussd):
    ticket = filed_by(CALLER)
    make_caller(OTHER_PHONE)
    wrong_check_digit = ticket.reference[:7] + str((int(ticket.reference[7]) + 1) % 10)
    assert ussd(f"1*{ticket.reference}", phone=OTHER_PHONE) == UNKNOWN_FR
    assert ussd(f"1*{ticket.reference}", phone="+2290199999999") == UNKNOWN_FR
    assert ussd(f"1*{ticket.reference}", phone="") == UNKNOWN_FR
    assert ussd(f"1*{wrong_check_digit}") == UNKNOWN_FR
    assert ussd("1*12345674") == UNKNOWN_FR  # well formed, filed by nobody
    assert ussd("1*123") == UNKNOWN_FR
    assert ussd("1*") == UNKNOWN_FR


# --- information and English ------------------------------------------------------


def test_information_gives_the_hours_and_the_web_page(app, ussd):
    assert ussd("3") == (
        "END Le centre d'écoute vous répond du lundi au vendredi de 7 heures 30 à "
        "19 heures, et le samedi de 8 heures à 13 heures."
    )
    app.config["PUBLIC_BASE_URL"] = "https://ecoute.example.bj/"
    assert ussd("3").endswith(
        "13 heures.\nFormulaire et suivi: https://ecoute.example.bj/public"
    )


def test_a_first_line_with_hours_and_categories_gives_its_own(app, ussd):
    lines = current_lines()
    hotline = lines.by_number[HOTLINE]
    app.extensions["lines"] = Lines((hotline, *lines.lines), lines.by_number)
    assert ussd("3") == (
        "END Nous vous répondons du lundi au vendredi de 8 heures à 17 heures 30."
    )
    assert ussd("2") == (
        "CON Objet de votre demande:\n1 Paiements et virements\n"
        "2 Pensions et retraites\n3 Salaires des agents de l'État\n4 Accueil et délais"
    )
    ussd("2*3*1")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.line, ticket.category) == (HOTLINE, "salary")


def test_english_when_ussd_language_says_so(app, ussd, sms):
    app.config["USSD_LANGUAGE"] = "en"
    assert ussd("") == (
        "CON Listening centre\n1 Follow a request\n2 File a request\n3 Information"
    )
    assert ussd("9") == (
        "CON Invalid choice.\n"
        "Listening centre\n1 Follow a request\n2 File a request\n3 Information"
    )
    assert ussd("2") == (
        "CON What is your request about?\n1 The quality of service\n"
        "2 A delay in handling a file\n3 A payment or a salary\n4 Another subject"
    )
    answer = ussd("2*2*1")
    ticket = db.session.scalars(select(Ticket)).one()
    assert answer == (
        f"END Request filed under reference {format_reference(ticket.reference)}. "
        "You will receive it by SMS."
    )
    assert ticket.language == "en"
    assert sms.sent[0]["body"].startswith("Listening centre: your request")


# --- every screen fits ----------------------------------------------------------------


def menus(app) -> list[UssdMenu]:
    """Every line's categories in both languages, and a set that needs pages."""
    long_set = tuple(
        (f"c{n}", f"Catégorie numéro {n} au libellé bien plus long qu'il ne faudrait")
        for n in range(23)
    )
    huge = (("huge", "x" * 400),)
    found = []
    for lang in LANGUAGES:
        sets = {long_set, huge}
        for line in current_lines().lines:
            sets.add(
                tuple(
                    (key, labels.get(lang) or next(iter(labels.values())))
                    for key, labels in menu_for(line).categories_for(line)
                )
            )
        information = (
            menu_for(current_lines().lines[0]).say(lang, "centre_hours"),
            ussd_texts().get(lang, "web_page", url="https://" + "w" * 60 + "/public"),
        )
        found += [
            UssdMenu(ussd_texts(), lang, cats, information) for cats in sorted(sets)
        ]
    return found


def shipped_menu(app) -> UssdMenu:
    """The first line's menu in French, on one page."""
    menu = next(m for m in menus(app) if m.categories[0][0] == "service")
    assert (menu.lang, len(menu._pages)) == ("fr", 1)
    return menu


def every_path(menu: UssdMenu) -> list[list[str]]:
    """Every path through the menu, with a wrong key at each step."""
    pages = menu._pages
    paths = [[], ["9"], ["1"], ["3"], ["1", "12345674"]]
    for page in range(len(pages)):
        to_page = ["2"] + ["0"] * page
        paths += [to_page, [*to_page, "x"]]
        for digit in range(1, len(pages[page]) + 1):
            chosen = [*to_page, str(digit)]
            paths += [chosen, [*chosen, "7"], [*chosen, "1"], [*chosen, "2"]]
    return paths


def test_every_screen_of_every_path_fits_in_182_characters(app):
    for menu in menus(app):
        seen_categories = set()
        for path in every_path(menu):
            step = menu.answer(path)
            if isinstance(step, Filing):
                seen_categories.add(step.category)
                screens = [menu.filed("1234-5674", sms) for sms in (True, False)]
            elif isinstance(step, FollowUp):
                longest = max(sms_texts().statuses[menu.lang].values(), key=len)
                screens = [
                    menu.unknown_reference(),
                    menu.status("1234-5674", longest, "30 septembre 2026"),
                ]
            else:
                screens = [step]
            for screen in screens:
                assert screen.body.startswith(("CON ", "END "))
                assert len(screen.body) <= MAX_SCREEN, (menu.lang, path, screen.body)
                assert screen.body[len("CON ") :] == screen.text  # never cut
        # Every category can be reached and filed, through the pages if need be.
        assert seen_categories == {key for key, _ in menu.categories}


def test_categories_that_do_not_fit_are_paged(app):
    menu = next(m for m in menus(app) if len(m.categories) == 23 and m.lang == "fr")
    first = menu.answer(["2"])
    assert first.body.startswith("CON Objet de votre demande:\n1 Catégorie numéro 0")
    assert first.body.endswith("\n0 Suite")
    pages = [menu.answer(["2", *["0"] * n]).body for n in range(len(menu._pages))]
    assert len(pages) > 2
    assert pages[-1].endswith("\n0 Retour au début")
    assert menu.answer(["2", *["0"] * len(pages)]).body == pages[0]
    second_page_first = menu._pages[1][0]
    assert menu.answer(["2", "0", "1", "1"]) == Filing(f"c{second_page_first}")


def test_the_shipped_texts_stay_in_gsm7(app):
    """A character GSM-7 lacks turns a screen into UCS-2 on some networks, where
    182 characters no longer fit."""
    for lang in LANGUAGES:
        for name, text in ussd_texts().texts[lang].items():
            assert is_gsm7(text), (lang, name, text)
        for menu in menus(app):
            for _, label in menu.categories:
                assert is_gsm7(label), label


KEYPAD = st.text(alphabet="0123456789*#", max_size=40)
# Paths deep into the menu, with any character as a key on the way.
KEYS = st.lists(
    st.one_of(
        # Digits to Python but not keys: superscript, Arabic-Indic, fullwidth.
        st.sampled_from(["1", "2", "3", "0", "9", "", "12345674", "²", "٣", "\uff11"]),
        st.text(st.characters(exclude_characters="\x00*", exclude_categories=["Cs"])),
    ),
    max_size=8,
).map("*".join)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    # NUL is refused app-wide with a 400 (app/security.py), before any view;
    # lone surrogates cannot even be sent (no UTF-8 for them).
    text=st.one_of(
        KEYPAD,
        KEYS,
        st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"])),
    ),
    session=st.sampled_from(["ATUid_h1", "ATUid_h2", "x" * 300]),
    phone=st.sampled_from([CALLER, "", "0197000000", "+1", "é"]),
    lang=st.sampled_from(LANGUAGES),
)
def test_no_input_ever_breaks_a_session(app, client, text, session, phone, lang):
    app.config["USSD_LANGUAGE"] = lang
    response = client.post(
        f"/ussd?key={SECRET}",
        data={"sessionId": session, "phoneNumber": phone, "text": text},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.startswith(("CON ", "END "))
    assert len(body) <= MAX_SCREEN


# --- the pure menu and its texts ---------------------------------------------------


def test_a_nul_character_is_refused_like_everywhere_else(client):
    response = client.post(
        f"/ussd?key={SECRET}", data={"sessionId": "A", "text": "1\x00"}
    )
    assert response.status_code == 400


def test_inputs_are_split_literally():
    assert inputs_of("") == []
    assert inputs_of("1") == ["1"]
    assert inputs_of("1*1234*5678") == ["1", "1234", "5678"]
    assert inputs_of("2**1") == ["2", "", "1"]


def test_only_the_keys_shown_choose_a_category(app):
    menu = shipped_menu(app)
    invalid = ussd_texts().get(menu.lang, "invalid_choice")
    for key in ["²", "٣", "01", " 1", "1 ", "+1", "0", str(len(menu.categories) + 1)]:
        screen = menu.answer(["2", key])
        assert screen.body.startswith(f"CON {invalid}\n"), key
    assert menu.answer(["2", "1"]).body.startswith("CON ")


def test_a_reference_with_a_star_in_it_is_not_a_reference(app):
    menu = shipped_menu(app)
    assert menu.answer(["1", "1234"]) == FollowUp("1234")
    assert menu.answer(["1", "1234", "5678"]) == Screen(
        ussd_texts().get(menu.lang, "not_understood"), more=False
    )


def write_texts(tmp_path: Path, replace: str, by: str) -> Path:
    path = tmp_path / "ussd.yaml"
    text = TEXTS_FILE.read_text(encoding="utf-8")
    assert replace in text
    path.write_text(text.replace(replace, by, 1), encoding="utf-8")
    return path


def test_a_misspelt_placeholder_stops_start_up_naming_the_line(tmp_path):
    path = write_texts(tmp_path, "sous la référence {reference}.", "sous {ref}.")
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "{ref}" in text
    )
    with pytest.raises(ConfigFileError) as caught:
        load_ussd_texts(path)
    assert str(caught.value) == (
        f"{path}:{line}: texts.filed.fr: {{ref}} is not one of its placeholders "
        "({reference})"
    )


def test_a_text_too_long_for_a_screen_or_a_missing_one_stops_start_up(tmp_path):
    long = write_texts(tmp_path, 'fr: "Choix invalide."', f'fr: "{"x" * 151}"')
    with pytest.raises(ConfigFileError, match=r"texts\.invalid_choice\.fr: 151 char"):
        load_ussd_texts(long)
    missing = write_texts(tmp_path, '    en: "Invalid choice."\n', "")
    with pytest.raises(ConfigFileError, match=r"texts\.invalid_choice: missing 'en'"):
        load_ussd_texts(missing)


def test_the_shipped_texts_load(app):
    texts = load_ussd_texts(TEXTS_FILE)
    assert set(texts.texts) == set(LANGUAGES)
    for lang, name in product(LANGUAGES, ["main_menu", "filed"]):
        assert texts.texts[lang][name]
