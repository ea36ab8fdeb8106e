"""The IVR's pure functions: (menu, state, input) -> TwiML, with no HTTP at all."""

from dataclasses import replace
from datetime import UTC, datetime, time
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from app.lines import Hours, load_lines
from app.menus import load_menus, normalise
from config import ROOT
from ivr import menu as ivr
from ivr.hours import spoken_hours
from tests.twiml import gather, parse, says, spoken, verbs

LINES = load_lines(ROOT / "config" / "lines.yaml")
MENU = load_menus(ROOT / "config" / "menus", LINES)["default"]
GREEN, HOTLINE = LINES.lines[0], LINES.lines[1]


def url(endpoint: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"/{endpoint}?{query}"


def route(digits: str = "", speech: str = "", attempt: int = 1, lang: str = "fr"):
    step = ivr.route_main(MENU, GREEN, lang, attempt, digits, speech, url)
    return step, parse(str(step.twiml))


def test_main_menu_gathers_keys_and_french_speech_then_redirects_on_silence():
    root = parse(str(ivr.main_menu(MENU, GREEN, "fr", url, greet=True)))
    assert verbs(root) == ["Gather", "Redirect"]
    g = gather(root)
    assert g.get("input") == "dtmf speech"
    assert g.get("language") == "fr-FR"
    assert g.get("numDigits") == "1"
    assert g.get("action") == "/ivr.menu?lang=fr&attempt=1"
    assert root.find("Redirect").text == g.get("action")
    assert "plainte" in g.get("hints")
    say = g.find("Say")
    assert say.get("voice") == "Polly.Lea-Neural"
    assert "Numéro vert" in spoken(root)


def test_option_1_lists_the_line_categories():
    step, root = route("1")
    assert step.intent is None  # nothing to remember yet: no database write
    assert gather(root).get("action").startswith("/ivr.category?")
    assert "paiement ou un salaire, tapez 3" in spoken(root)
    hotline = parse(str(ivr.category_menu(MENU, HOTLINE, "fr", url)))
    assert "Pensions et retraites, tapez 2" in spoken(hotline)


def test_category_choice_records_after_the_notice():
    step = ivr.route_category(MENU, GREEN, "fr", 1, "3", "", url)
    root = parse(str(step.twiml))
    assert (step.intent, step.category) == ("complaint", "payment")
    assert verbs(root) == ["Say", "Say", "Record", "Redirect"]
    assert "enregistré" in root[0].text  # the recording notice comes first
    record = root.find("Record")
    assert record.get("finishOnKey") == "#"
    assert (
        record.get("action")
        == "/ivr.voicemail?lang=fr&purpose=complaint&category=payment"
    )
    assert "purpose=complaint" in record.get("recordingStatusCallback")
    assert record.get("recordingStatusCallbackEvent") == "completed absent"


def test_category_by_speech():
    step = ivr.route_category(MENU, GREEN, "fr", 1, "", "c'est pour mon salaire", url)
    assert step.category == "payment"


def test_wrong_category_three_times_still_takes_the_message():
    step = ivr.route_category(MENU, GREEN, "fr", 1, "7", "", url)
    assert step.intent is None
    assert "pas valide" in spoken(parse(str(step.twiml)))
    step = ivr.route_category(MENU, GREEN, "fr", 3, "7", "", url)
    assert (step.intent, step.category) == ("complaint", None)
    assert parse(str(step.twiml)).find("Record") is not None


def test_option_2_asks_for_the_reference_ended_by_hash():
    _, root = route("2")
    g = gather(root)
    assert g.get("finishOnKey") == "#"
    assert g.get("numDigits") is None
    assert g.get("action") == "/ivr.follow_up?lang=fr&attempt=1"


def test_option_3_gives_information_then_back_to_the_menu():
    _, root = route("3")
    assert verbs(root) == ["Say", "Say", "Redirect"]
    assert "lundi au vendredi de 7 heures 30" in spoken(root)  # the centre's
    assert "formulaire" in spoken(root)
    assert root.find("Redirect").text == "/ivr.main?lang=fr"


def test_option_3_on_a_line_with_hours_says_that_lines_hours():
    step = ivr.route_main(MENU, HOTLINE, "fr", 1, "3", "", url)
    said = spoken(parse(str(step.twiml)))
    assert HOTLINE_HOURS in said
    assert "19 heures" not in said


def test_option_0_asks_the_view_for_an_agent():
    step, _ = route("0")
    assert (step.intent, step.wants_agent) == ("agent", True)


def test_nobody_to_ring_takes_a_callback_message():
    root = parse(str(ivr.to_agent(MENU, "fr", url, None)))
    assert "Aucun conseiller" in spoken(root)
    assert "purpose=callback" in root.find("Record").get("action")


RING = ivr.Ring(
    "agent_42", "CA" + "1" * 32, "+2290197000000", "+2290121300000", (7, 42)
)


def test_an_agent_is_rung_with_the_call_as_parameters():
    root = parse(str(ivr.to_agent(MENU, "fr", url, RING)))
    dial = root.find("Dial")
    assert dial.get("action") == "/ivr.dial_result?lang=fr&tried=7%2C42"
    assert dial.get("timeout") == str(ivr.AGENT_RING_SECONDS)
    assert dial.get("record") is None
    client = dial.find("Client")
    assert client.findtext("Identity") == "agent_42"
    assert client.get("statusCallbackEvent") == "ringing answered completed"
    params = {p.get("name"): p.get("value") for p in client.iter("Parameter")}
    assert params == {
        "callSid": RING.call_sid,
        "caller": RING.caller,
        "line": RING.line,
    }


def test_recorded_line_tells_the_caller_then_records_both_channels():
    root = parse(str(ivr.to_agent(MENU, "fr", url, RING, record=True)))
    assert verbs(root) == ["Say", "Dial"]
    # The conversation may be recorded: not the voicemail's "your message".
    assert "Cette conversation peut être enregistrée" in root[0].text
    assert "message" not in root[0].text
    english = parse(str(ivr.to_agent(MENU, "en", url, RING, record=True)))
    assert "This call may be recorded" in english[0].text
    dial = root.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == "/recordings.callback?"
    assert dial.get("recordingStatusCallbackEvent") == "completed absent"


def test_hold_enqueues_with_a_wait_url_that_offers_a_message():
    root = parse(str(ivr.hold(MENU, "fr", url, "ecoute-2290121300000")))
    enqueue = root.find("Enqueue")
    assert enqueue.text == "ecoute-2290121300000"
    assert enqueue.get("waitUrl") == "/ivr.queue_wait?lang=fr"
    wait = parse(str(ivr.queue_wait(MENU, "en", url, 3)))
    assert "number 3 in the queue" in spoken(wait)
    assert "press 1" in spoken(wait)
    assert gather(wait).get("action") == "/ivr.queue_choice?lang=en"


def test_option_9_switches_to_english_and_back():
    _, root = route("9")
    g = gather(root)
    assert g.get("language") == "en-GB"
    assert g.get("action") == "/ivr.menu?lang=en&attempt=1"
    assert "To file a complaint" in spoken(root)
    _, root = route("9", lang="en")
    assert gather(root).get("language") == "fr-FR"


def test_star_repeats_without_using_up_an_attempt():
    _, root = route("*", attempt=2)
    assert gather(root).get("action") == "/ivr.menu?lang=fr&attempt=2"


@pytest.mark.parametrize(
    ("digits", "speech", "notice"),
    [("", "", "pas entendu"), ("5", "", "pas valide"), ("", "bonjour", "pas compris")],
)
def test_silence_or_wrong_input_replays_with_the_next_attempt(digits, speech, notice):
    step, root = route(digits, speech, attempt=1)
    assert step.intent is None
    assert gather(root).get("action") == "/ivr.menu?lang=fr&attempt=2"
    assert notice in spoken(root)


def test_third_play_without_a_choice_goes_to_an_agent_or_voicemail():
    step, _ = route("", "", attempt=3)
    assert (step.intent, step.wants_agent) == ("agent", True)


@pytest.mark.parametrize(
    ("speech", "lang", "action_start"),
    [
        ("Je veux déposer une réclamation", "fr", "/ivr.category"),
        ("SUIVI de mon dossier", "fr", "/ivr.follow_up"),
        ("I want to check the status", "en", "/ivr.follow_up"),
        ("complaint", "en", "/ivr.category"),
    ],
)
def test_spoken_keywords_choose_options(speech, lang, action_start):
    _, root = route("", speech, lang=lang)
    assert gather(root).get("action").startswith(action_start)


def test_reference_is_read_digit_by_digit_twice_then_hangs_up():
    root = parse(str(ivr.reference_announcement(MENU, "fr", "12345674", by_sms=True)))
    assert verbs(root)[-1] == "Hangup"
    assert spoken(root).count("1 2 3 4, 5 6 7 4") == 2
    assert "SMS" in spoken(root)
    silent = parse(
        str(ivr.reference_announcement(MENU, "en", "12345674", by_sms=False))
    )
    assert "text message" not in spoken(silent)


def test_closed_line_says_so_and_offers_a_message():
    step = ivr.closed(MENU, "fr", url)
    root = parse(str(step.twiml))
    assert step.intent == "callback"
    assert "fermé" in spoken(root)
    assert root.find("Record") is not None


def test_technical_problem_voicemail_never_needs_the_database():
    root = parse(str(ivr.technical_problem(MENU, "fr", url)))
    assert "problème technique" in spoken(root)
    assert root.find("Record").get("action").startswith("/ivr.fallback?")
    assert "recordings.callback" in root.find("Record").get("recordingStatusCallback")


# --- each sentence in its own language's voice --------------------------------------

FR = ("fr-FR", "Polly.Lea-Neural")
EN = ("en-GB", "Polly.Amy-Neural")


@pytest.mark.parametrize(
    ("lang", "own", "other", "offer"),
    [
        ("fr", FR, EN, "For English, press 9."),
        ("en", EN, FR, "Pour le français, tapez 9."),
    ],
)
def test_the_other_language_is_offered_in_its_own_voice(lang, own, other, offer):
    root = parse(str(ivr.main_menu(MENU, GREEN, lang, url, greet=True)))
    heard = says(root)
    assert [(language, voice) for language, voice, text in heard if text == offer] == [
        other
    ]
    rest = [(language, voice) for language, voice, text in heard if text != offer]
    assert rest
    assert set(rest) == {own}
    assert not any("9" in text for _, _, text in heard if text != offer)
    # Early, right after the welcome: a caller of the other language need not wait.
    assert [text for _, _, text in heard].index(offer) == 1


def test_a_one_language_menu_offers_no_other():
    french_only = replace(MENU, languages=("fr",))
    root = parse(str(ivr.main_menu(french_only, GREEN, "fr", url)))
    assert {(language, voice) for language, voice, _ in says(root)} == {FR}


# --- speech ---------------------------------------------------------------------------


def test_hints_keep_accents_once_each_and_only_the_languages_own():
    hints = gather(parse(str(ivr.main_menu(MENU, GREEN, "fr", url)))).get("hints")
    words = hints.split(", ")
    assert {"réclamation", "référence", "conseillère", "répéter"} <= set(words)
    assert "reclamation" not in words
    assert len({normalise(word) for word in words}) == len(words)
    assert "complaint" not in words  # English keywords are for the English menu
    english = gather(parse(str(ivr.main_menu(MENU, GREEN, "en", url)))).get("hints")
    assert "complaint" in english.split(", ")
    assert "plainte" not in english.split(", ")


def test_category_menu_hints_are_its_labels_and_repeat():
    g = gather(parse(str(ivr.category_menu(MENU, GREEN, "fr", url))))
    words = g.get("hints").split(", ")
    assert {"qualité", "salaire", "paiement", "répéter"} <= set(words)
    assert "plainte" not in words
    assert len({normalise(word) for word in words}) == len(words)


def test_reference_prompt_has_no_menu_hints():
    root = parse(str(ivr.follow_up_prompt(MENU, "fr", url)))
    assert gather(root).get("hints") is None


@pytest.mark.parametrize(
    ("speech", "lang", "action"),
    [
        ("un renseignement sur mon dossier", "fr", "follow_up"),
        ("des informations sur ma demande", "fr", "follow_up"),
        ("un renseignement sur vos horaires", "fr", "information"),
        ("information about my request", "en", "follow_up"),
        ("what are your opening hours", "en", "information"),
        ("je veux parler à un conseiller", "fr", "agent"),
    ],
)
def test_information_words_yield_to_a_more_precise_wish(speech, lang, action):
    assert MENU.option_for(lang, "", speech) == action


@pytest.mark.parametrize("route_name", ["route_main", "route_category"])
def test_speech_not_understood_is_not_an_invalid_choice(route_name):
    route_fn = getattr(ivr, route_name)
    step = route_fn(MENU, GREEN, "fr", 1, "", "euh bonjour madame", url)
    assert "je n'ai pas compris" in spoken(parse(str(step.twiml)))
    assert "pas valide" not in spoken(parse(str(step.twiml)))
    step = route_fn(MENU, GREEN, "en", 1, "", "hello there", url)
    assert "I did not understand" in spoken(parse(str(step.twiml)))


# --- the category menu can be repeated ------------------------------------------------


def test_category_menu_says_how_to_repeat_and_hears_repeter():
    root = parse(str(ivr.category_menu(MENU, GREEN, "fr", url)))
    assert spoken(root).endswith("tapez étoile ou dites répéter.")
    for digits, speech in (("*", ""), ("", "Répéter, s'il vous plaît")):
        step = ivr.route_category(MENU, GREEN, "fr", 2, digits, speech, url)
        root = parse(str(step.twiml))
        assert gather(root).get("action") == "/ivr.category?lang=fr&attempt=2"
        assert "pas compris" not in spoken(root)
    step = ivr.route_category(MENU, GREEN, "en", 1, "", "repeat", url)
    assert "press star or say repeat" in spoken(parse(str(step.twiml)))


# --- out of hours ---------------------------------------------------------------------

HOTLINE_HOURS = "du lundi au vendredi de 8 heures à 17 heures 30"
SUNDAY_NIGHT = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)


def closed_route(digits="", speech="", attempt=1, lang="fr", now=SUNDAY_NIGHT):
    step = ivr.route_closed(MENU, HOTLINE, lang, attempt, digits, speech, url, now=now)
    return step, parse(str(step.twiml))


def test_closed_menu_says_the_hours_and_the_two_choices():
    root = parse(str(ivr.closed_menu(MENU, HOTLINE, "fr", url, SUNDAY_NIGHT)))
    assert verbs(root) == ["Gather", "Redirect"]
    g = gather(root)
    assert g.get("action") == "/ivr.closed?lang=fr&attempt=1"
    assert root.find("Redirect").text == g.get("action")  # silence: the message
    assert g.get("numDigits") == "1"
    heard = says(root)
    assert heard[0][2] == "Le centre d'écoute est actuellement fermé."
    assert heard[1] == (*EN, "For English, press 9.")
    assert heard[2] == (*FR, f"Nous vous répondons {HOTLINE_HOURS}.")
    assert "suivre une demande, tapez 2" in heard[3][2]
    assert "laisser un message, tapez 1" in heard[3][2]
    assert "férié" not in spoken(root)
    english = spoken(parse(str(ivr.closed_menu(MENU, HOTLINE, "en", url, CHRISTMAS))))
    assert "Today is a public holiday." in english
    assert "We are open Monday to Friday from 8 am to 5:30 pm." in english


@pytest.mark.parametrize(("digits", "speech"), [("2", ""), ("", "le suivi")])
def test_closed_menu_2_follows_a_request(digits, speech):
    step, root = closed_route(digits, speech)
    assert step.intent is None
    assert gather(root).get("action") == "/ivr.follow_up?lang=fr&attempt=1"


@pytest.mark.parametrize(
    ("digits", "attempt"), [("1", 1), ("", 1), ("0", 1), ("5", 3), ("", 3)]
)
def test_closed_menu_message_silence_or_third_wrong_key_records(digits, attempt):
    step, root = closed_route(digits, attempt=attempt)
    assert step.intent == "callback"
    assert (
        root.find("Record")
        .get("action")
        .startswith("/ivr.voicemail?lang=fr&purpose=callback")
    )
    assert "Votre message sera enregistré" in spoken(root)


def test_closed_menu_wrong_key_replays_and_9_switches_language():
    step, root = closed_route("5")
    assert step.intent is None
    assert gather(root).get("action") == "/ivr.closed?lang=fr&attempt=2"
    assert spoken(root).startswith("Ce choix n'est pas valide.")
    _, root = closed_route("", "bla bla")
    assert spoken(root).startswith("Désolé, je n'ai pas compris.")
    _, root = closed_route("9")
    assert gather(root).get("action") == "/ivr.closed?lang=en&attempt=1"
    assert says(root)[1] == (*FR, "Pour le français, tapez 9.")


def test_hours_in_words():
    zone = ZoneInfo("Africa/Porto-Novo")
    assert spoken_hours(HOTLINE.hours, "fr") == HOTLINE_HOURS
    two = Hours(
        zone,
        {
            **dict.fromkeys(range(5), ((time(7, 30), time(19, 0)),)),
            5: ((time(8, 0), time(13, 0)),),
        },
    )
    assert spoken_hours(two, "fr") == (
        "du lundi au vendredi de 7 heures 30 à 19 heures "
        "et le samedi de 8 heures à 13 heures"
    )
    assert spoken_hours(two, "en") == (
        "Monday to Friday from 7:30 am to 7 pm and on Saturday from 8 am to 1 pm"
    )
    split = Hours(zone, {2: ((time(8, 0), time(12, 0)), (time(14, 0), time(17, 0)))})
    assert spoken_hours(split, "fr") == (
        "le mercredi de 8 heures à midi et de 14 heures à 17 heures"
    )
    always = Hours(zone, dict.fromkeys(range(7), ((time(0, 0), time.max),)))
    assert spoken_hours(always, "en") == "every day around the clock"
    assert spoken_hours(Hours(zone, {}), "fr") == ""


# --- three wrong references: a person or a message ------------------------------------


def test_third_wrong_reference_offers_an_agent_or_a_message():
    step = ivr.follow_up_retry(MENU, "fr", 3, "reference_invalid", url, agents=True)
    root = parse(str(step.twiml))
    assert step.intent is None
    g = gather(root)
    assert g.get("action") == "/ivr.follow_up_help?lang=fr"
    assert root.find("Redirect").text == g.get("action")
    assert spoken(root) == (
        "Ce numéro de dossier n'est pas valide. Vérifiez-le et recommencez. "
        "Pour parler à un conseiller, tapez 0. "
        "Sinon, restez en ligne pour laisser un message."
    )
    assert "conseiller" in g.get("hints").split(", ")


def test_second_wrong_reference_asks_again():
    step = ivr.follow_up_retry(MENU, "en", 2, "reference_unknown", url, agents=True)
    g = gather(parse(str(step.twiml)))
    assert g.get("action") == "/ivr.follow_up?lang=en&attempt=3"


def test_third_wrong_reference_out_of_hours_takes_the_message():
    step = ivr.follow_up_retry(MENU, "fr", 3, "reference_unknown", url, agents=False)
    root = parse(str(step.twiml))
    assert step.intent == "callback"
    assert "aucun dossier" in spoken(root)
    assert "conseiller, tapez 0" not in spoken(root)
    assert root.find("Record") is not None


@pytest.mark.parametrize(
    ("digits", "speech", "agent"),
    [("0", "", True), ("", "un conseiller", True), ("", "", False), ("2", "", False)],
)
def test_follow_up_help_rings_an_agent_or_records(digits, speech, agent):
    step = ivr.route_follow_up_help(MENU, GREEN, "fr", 1, digits, speech, url)
    if agent:
        assert (step.intent, step.wants_agent) == ("agent", True)
    else:
        assert (step.intent, step.wants_agent) == ("callback", False)
        record = parse(str(step.twiml)).find("Record")
        assert "purpose=callback" in record.get("action")
