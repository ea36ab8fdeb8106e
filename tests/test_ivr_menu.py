"""The IVR's pure functions: (menu, state, input) -> TwiML, with no HTTP at all."""

from urllib.parse import urlencode

import pytest

from app.lines import load_lines
from app.menus import load_menus
from config import ROOT
from ivr import menu as ivr
from tests.twiml import gather, parse, spoken, verbs

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
    assert verbs(root) == ["Say", "Redirect"]
    assert "lundi au vendredi" in spoken(root)
    assert root.find("Redirect").text == "/ivr.main?lang=fr"


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
    assert "enregistré" in root[0].text
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
    [("", "", "pas entendu"), ("5", "", "pas valide"), ("", "bonjour", "pas valide")],
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
