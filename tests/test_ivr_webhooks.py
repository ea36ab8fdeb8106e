"""The voice webhooks, driven with signed requests the way Twilio sends them."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app import create_app
from app.extensions import db
from app.models import Call, Caller, Message, Recording, Ticket, TicketEvent
from app.services.presence import set_status
from config import TestingConfig
from tests.conftest import CALLER, HOTLINE, LINE, TOKEN, sign
from tests.factories import make_caller, make_ticket, make_token, make_user, sid
from tests.twiml import gather, parse, says, spoken, verbs


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


class Call_:
    """One caller's call: the same CallSid and numbers on every webhook."""

    def __init__(self, post, from_: str = CALLER, to: str = LINE) -> None:
        self.post = post
        self.sid = sid("CA")
        self.base = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": from_,
            "To": to,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def send(self, path: str, **form: str):
        response = self.post(path, **{**self.base, "CallStatus": "in-progress", **form})
        assert response.status_code in (200, 204), (path, response.status_code)
        return response

    def twiml(self, path: str, **form: str):
        response = self.send(path, **form)
        assert response.mimetype == "text/xml"
        return parse(response.data)

    def incoming(self):
        return self.twiml("/voice/incoming", CallStatus="ringing")

    def status(self, status: str, **form: str):
        return self.send("/voice/status", CallStatus=status, **form)

    def recording(self, path: str, recording_sid: str, status: str = "completed"):
        return self.send(
            path,
            RecordingSid=recording_sid,
            RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording_sid}",
            RecordingStatus=status,
            RecordingDuration="14",
            RecordingChannels="1",
            RecordingSource="RecordVerb",
        )


@pytest.fixture
def call(twilio_post):
    return Call_(twilio_post)


def voicemail_paths(root):
    record = root.find("Record")
    return record.get("action"), record.get("recordingStatusCallback")


def file_complaint(call, category: str = "2"):
    call.incoming()
    call.twiml("/voice/menu?lang=fr&attempt=1", Digits="1")
    root = call.twiml("/voice/category?lang=fr&attempt=1", Digits=category)
    return voicemail_paths(root)


# --- signatures ------------------------------------------------------------------


# Unsigned, forged and tampered requests: tests/test_webhook_signatures.py.


def test_signature_over_public_base_url_behind_a_proxy():
    class Proxied(TestingConfig):
        PUBLIC_BASE_URL = "https://ecoute.example.org"

    app = create_app(Proxied)
    with app.app_context():
        db.create_all()
        client = app.test_client()
        form = {
            "CallSid": sid("CA"),
            "From": CALLER,
            "To": LINE,
            "CallStatus": "ringing",
        }
        public = sign("https://ecoute.example.org/voice/incoming", form)
        local = sign("http://localhost/voice/incoming", form)
        headers = {"X-Twilio-Signature": local}
        assert (
            client.post("/voice/incoming", data=form, headers=headers).status_code
            == 403
        )
        response = client.post(
            "/voice/incoming", data=form, headers={"X-Twilio-Signature": public}
        )
        assert response.status_code == 200
        action = gather(parse(response.data)).get("action")
        assert action == "https://ecoute.example.org/voice/menu?lang=fr&attempt=1"
        db.drop_all()


def test_repeated_form_fields_are_all_signed(client):
    # Twilio may repeat a field; signing must cover every value, as Twilio does.
    form = MultiDict(
        [("CallSid", sid("CA")), ("To", LINE), ("Event", "a"), ("Event", "b")]
    )
    signature = sign("http://localhost/voice/incoming", form)
    response = client.post(
        "/voice/incoming", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200


# --- the incoming call -------------------------------------------------------------


def test_incoming_call_is_logged_against_its_caller_and_greeted(call):
    root = call.incoming()
    assert verbs(root) == ["Gather", "Redirect"]
    assert "Bienvenue" in spoken(root)
    logged = db.session.scalars(select(Call)).one()
    assert logged.call_sid == call.sid
    assert logged.caller.phone_e164 == CALLER
    assert logged.line == LINE
    assert logged.status == "ringing"


def test_the_same_incoming_webhook_twice_logs_one_call(call):
    call.incoming()
    call.incoming()
    assert count(Call) == count(Caller) == 1


def test_unknown_to_is_served_by_the_first_line(twilio_post):
    call = Call_(twilio_post, to="+2290199999999")
    assert "Numéro vert" in spoken(call.incoming())
    assert db.session.scalars(select(Call)).one().line == LINE


@pytest.mark.parametrize("from_", ["anonymous", "client:alice", "", "12", "+"])
def test_odd_from_values_are_kept_and_served(twilio_post, sms, from_):
    call = Call_(twilio_post, from_=from_)
    assert gather(call.incoming()) is not None
    logged = db.session.scalars(select(Call)).one()
    assert logged.from_raw == from_
    assert logged.caller is None
    action, _ = file_complaint(call)
    root = call.twiml(
        action, RecordingSid=sid("RE"), RecordingUrl="https://x", Digits="#"
    )
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.phone is None
    assert f"{' '.join(ticket.reference[:4])}" in spoken(root)
    assert "SMS" not in spoken(root)  # no number to text: the caller hears it only
    assert sms.sent == []


def test_old_eight_digit_benin_number_gets_the_01_prefix(twilio_post):
    Call_(twilio_post, from_="+22997000000").incoming()
    assert db.session.scalars(select(Caller)).one().phone_e164 == "+2290197000000"


# --- option 1: a complaint ---------------------------------------------------------


def test_complaint_by_voicemail_creates_ticket_attaches_recording_and_texts(call, sms):
    action, callback = file_complaint(call, "2")
    recording_sid = sid("RE")
    root = call.twiml(
        action,
        RecordingSid=recording_sid,
        RecordingUrl="https://api.twilio.com/r",
        RecordingDuration="14",
        Digits="#",
    )
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.category, ticket.status) == (
        "complaint",
        "delay",
        "new",
    )
    assert ticket.phone == CALLER
    assert ticket.language == "fr"
    spelled = f"{' '.join(ticket.reference[:4])}, {' '.join(ticket.reference[4:])}"
    assert spoken(root).count(spelled) == 2
    assert verbs(root)[-1] == "Hangup"
    assert sms.sent[0]["to"] == CALLER
    assert sms.sent[0]["from"] == LINE
    assert ticket.display_reference in sms.sent[0]["body"]
    message = db.session.scalars(select(Message)).one()
    # Twilio took it ("queued" on its side): ours waits for the status callback.
    assert (message.status, message.message_sid) == ("sending", "SM" + "0" * 31 + "1")
    call.recording(callback, recording_sid)
    recording = db.session.scalars(select(Recording)).one()
    assert (recording.ticket_id, recording.status, recording.duration) == (
        ticket.id,
        "completed",
        14,
    )
    actions = [event.action for event in ticket.events]
    assert actions[0] == "created"
    assert actions.count("recording") == 1
    assert "sms_queued" in actions


def test_duplicate_voicemail_and_recording_deliveries_change_nothing(call, sms):
    action, callback = file_complaint(call)
    recording_sid = sid("RE")
    form = {"RecordingSid": recording_sid, "RecordingUrl": "https://x", "Digits": "#"}
    first = call.twiml(action, **form)
    second = call.twiml(action, **form)
    assert spoken(first) == spoken(second)  # the same reference, read again
    call.recording(callback, recording_sid)
    call.recording(callback, recording_sid)
    call.status("completed", CallDuration="60")
    call.status("completed", CallDuration="60")
    assert count(Ticket) == count(Recording) == count(Message) == 1
    assert len(sms.sent) == 1
    events = db.session.scalars(select(TicketEvent.action)).all()
    assert events.count("recording") == 1
    assert events.count("created") == 1


def test_recording_callback_before_the_voicemail_action_and_call_status(call, sms):
    action, callback = file_complaint(call, "3")
    recording_sid = sid("RE")
    call.recording(callback, recording_sid)  # Twilio's callbacks can come first
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.category) == ("complaint", "payment")
    call.status("completed", CallDuration="80")
    root = call.twiml(action, RecordingSid=recording_sid, RecordingUrl="https://x")
    assert count(Ticket) == count(Recording) == 1
    assert " ".join(ticket.reference[:4]) in spoken(root)
    assert len(sms.sent) == 1


def test_recording_callback_after_the_call_completed_without_the_action(call):
    # The caller hung up mid-message and the action was lost: the status callback
    # files the complaint, the late recording callback attaches the message.
    _, callback = file_complaint(call, "1")
    call.status("completed", CallDuration="40")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.category) == ("complaint", "service")
    call.recording(callback, sid("RE"))
    assert db.session.scalars(select(Recording)).one().ticket_id == ticket.id


def test_absent_recording_marks_the_ticket_call_back(call):
    action, callback = file_complaint(call)
    call.twiml(action)  # Twilio heard nothing: the Redirect posts without a recording
    call.recording(callback, sid("RE"), status="absent")
    ticket = db.session.scalars(select(Ticket)).one()
    texts = [
        event.detail.get("text")
        for event in ticket.events
        if event.action == "no_message"
    ]
    assert texts
    assert all("call back" in text for text in texts)


def test_silence_after_the_beep_still_files_the_ticket(call):
    action, _ = file_complaint(call)
    root = call.twiml(action)  # the <Redirect> after <Record>, nothing recorded
    assert "pas reçu de message" in spoken(root)
    assert count(Ticket) == 1


# --- option 2: follow a request -----------------------------------------------------


def test_follow_up_reads_status_and_date_and_logs_the_call(call, app):
    ticket = make_ticket(make_caller(), status="in_progress", line=LINE)
    ticket.updated_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    db.session.commit()
    call.incoming()
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="2")
    action = gather(root).get("action")
    root = call.twiml(action, Digits=ticket.reference)
    assert "en cours de traitement" in spoken(root)
    assert "20 novembre 2026" in spoken(root)
    assert root.find("Redirect").text.startswith("/voice/main")
    db.session.refresh(ticket)
    assert [c.call_sid for c in ticket.calls] == [call.sid]
    assert ticket.events[-1].action == "call"


def test_follow_up_by_speech_with_the_dash(call):
    ticket = make_ticket(make_caller(), line=LINE)
    shown = ticket.display_reference
    root = call.twiml(
        "/voice/follow-up?lang=en&attempt=1",
        SpeechResult=f"{shown[:4]} dash {shown[5:]}.",
    )
    assert "registered" in spoken(root)


def test_mistyped_reference_is_caught_by_luhn_and_asked_again(call):
    ticket = make_ticket(make_caller(), line=LINE)
    typo = ticket.reference[:7] + str((int(ticket.reference[7]) + 1) % 10)
    root = call.twiml("/voice/follow-up?lang=fr&attempt=1", Digits=typo)
    assert "pas valide" in spoken(root)
    assert gather(root).get("action") == "/voice/follow-up?lang=fr&attempt=2"
    root = call.twiml("/voice/follow-up?lang=fr&attempt=3", Digits=typo)
    # Three tries: not back to the menu in silence, but a person or a message.
    assert gather(root).get("action") == "/voice/follow-up-help?lang=fr"
    assert "tapez 0" in spoken(root)
    assert ticket.calls == []


def test_after_three_wrong_references_0_goes_to_an_agent(call, sms):
    call.incoming()
    root = call.twiml("/voice/follow-up?lang=fr&attempt=3", Digits="12345678")
    root = call.twiml(gather(root).get("action"), Digits="0")
    # Nobody signed in: the agent path's own "no advisor", then a message.
    assert "Aucun conseiller" in spoken(root)
    assert db.session.scalars(select(Call)).one().intent == "agent"
    call.status("completed", CallDuration="50")  # hangs up before the beep
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert len(sms.sent) == 1


def test_after_three_wrong_references_silence_takes_a_message(call):
    call.incoming()
    root = call.twiml("/voice/follow-up?lang=fr&attempt=3", Digits="")
    assert "pas entendu" in spoken(root)
    root = call.twiml(root.find("Redirect").text)  # silence
    action, _ = voicemail_paths(root)
    assert "purpose=callback" in action
    assert db.session.scalars(select(Call)).one().intent == "callback"
    root = call.twiml(action, RecordingSid=sid("RE"), RecordingUrl="https://x")
    assert db.session.scalars(select(Ticket)).one().kind == "callback"


def test_words_without_digits_are_not_understood(call):
    root = call.twiml(
        "/voice/follow-up?lang=fr&attempt=1", SpeechResult="je ne sais plus"
    )
    assert spoken(root).startswith("Désolé, je n'ai pas compris.")
    assert gather(root).get("action") == "/voice/follow-up?lang=fr&attempt=2"


def test_status_is_told_only_to_the_phone_that_filed_it(twilio_post):
    ticket = make_ticket(make_caller("+2290196000000"), line=LINE)
    stranger = Call_(twilio_post)  # CALLER, not the ticket's phone
    stranger.incoming()
    heard = spoken(
        stranger.twiml("/voice/follow-up?lang=fr&attempt=1", Digits=ticket.reference)
    )
    unknown = spoken(
        stranger.twiml("/voice/follow-up?lang=fr&attempt=1", Digits="12345674")
    )
    assert heard == unknown  # the same answer as a reference that does not exist
    assert "aucun dossier" in heard
    assert "enregistré" not in heard
    db.session.refresh(ticket)
    assert ticket.calls == []
    withheld = Call_(twilio_post, from_="anonymous")
    root = withheld.twiml("/voice/follow-up?lang=fr&attempt=1", Digits=ticket.reference)
    assert "aucun dossier" in spoken(root)
    owner = Call_(twilio_post, from_="+2290196000000")
    root = owner.twiml("/voice/follow-up?lang=fr&attempt=1", Digits=ticket.reference)
    assert "est enregistré" in spoken(root)


def test_unknown_but_valid_reference(call):
    root = call.twiml("/voice/follow-up?lang=fr&attempt=1", Digits="12345674")
    assert "aucun dossier" in spoken(root)


# --- options 3, 0, 9, retries ------------------------------------------------------


def test_information_then_back_to_the_main_menu(call):
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="3")
    assert "lundi au vendredi" in spoken(root)
    redirect = root.find("Redirect").text
    assert "Gather" in verbs(call.twiml(redirect))
    assert count(Call) == 0  # the menu step needs no database write


def test_agent_requested_none_available_gives_a_callback_ticket(call, sms):
    call.incoming()
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")
    assert "Aucun conseiller" in spoken(root)
    action, _ = voicemail_paths(root)
    call.twiml(action, RecordingSid=sid("RE"), RecordingUrl="https://x")
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert len(sms.sent) == 1


def test_hang_up_while_waiting_for_an_agent_gives_a_callback_ticket(call, sms):
    call.incoming()
    call.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")
    call.status("completed", CallDuration="9")
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert "hung up" in ticket.description
    assert len(sms.sent) == 1


def test_hang_up_in_the_menu_without_asking_anything_files_nothing(call):
    call.incoming()
    call.twiml("/voice/menu?lang=fr&attempt=1", Digits="3")
    call.status("completed", CallDuration="30")
    assert count(Ticket) == 0


def test_english_menu_on_9_and_english_sms(call, sms):
    call.incoming()
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="9")
    action = gather(root).get("action")
    root = call.twiml(action, Digits="1")
    root = call.twiml(gather(root).get("action"), Digits="1")
    vm, _ = voicemail_paths(root)
    root = call.twiml(vm, RecordingSid=sid("RE"), RecordingUrl="https://x")
    assert "Your reference number is" in spoken(root)
    assert db.session.scalars(select(Ticket)).one().language == "en"
    assert sms.sent[0]["body"].startswith("Listening centre")


def test_three_silences_hand_the_call_on(call):
    call.incoming()
    path = "/voice/menu?lang=fr&attempt=1"
    for attempt in (2, 3):
        root = call.twiml(path)  # no Digits: the <Redirect> after a silent <Gather>
        path = gather(root).get("action")
        assert path == f"/voice/menu?lang=fr&attempt={attempt}"
        assert "pas entendu" in spoken(root)
    root = call.twiml(path)
    assert root.find("Record") is not None
    assert db.session.scalars(select(Call)).one().intent == "agent"


def test_speech_keyword_routes_like_a_key(call):
    root = call.twiml(
        "/voice/menu?lang=fr&attempt=1",
        SpeechResult="Une réclamation",
        Confidence="0.8",
    )
    assert gather(root).get("action").startswith("/voice/category")


@pytest.mark.parametrize(
    "digits",
    ["abc", "1" * 5000, "\u0661", "é", "<Say>x</Say>", "12", " ", "\x00", "🙂" * 100],
)
def test_junk_digits_replay_the_menu_never_fail(call, digits):
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits=digits)
    assert gather(root).get("action") == "/voice/menu?lang=fr&attempt=2"


@pytest.mark.parametrize(
    "path", ["/voice/category?lang=fr", "/voice/follow-up?lang=fr"]
)
def test_huge_unicode_input_in_every_gather_step(call, path):
    root = call.twiml(path, Digits="9" * 5000, SpeechResult="ééé " * 1250)
    assert "pas valide" in spoken(root)


@pytest.mark.parametrize(
    "query",
    ["lang=xx&attempt=1", "lang=fr&attempt=-4", "attempt=99999999999", "lang=%00"],
)
def test_tampered_state_in_the_query_is_clamped(call, query):
    root = call.twiml(f"/voice/menu?{query}", Digits="5")
    assert gather(root) is not None


def test_voicemail_with_an_unknown_category_or_purpose_still_files(call):
    call.incoming()
    call.twiml("/voice/voicemail?lang=fr&purpose=hack&category=../../etc", Digits="#")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.category) == ("callback", None)


# --- status callbacks --------------------------------------------------------------


def test_status_callbacks_out_of_order_never_move_back(call):
    call.incoming()
    call.status("completed", CallDuration="61", SequenceNumber="3")
    call.status("in-progress", SequenceNumber="2")
    call.status("ringing", SequenceNumber="1")
    call.status("busy")
    logged = db.session.scalars(select(Call)).one()
    assert (logged.status, logged.duration) == ("completed", 61)
    assert logged.ended_at is not None


def test_status_callback_before_incoming_creates_the_call(call):
    call.status("in-progress")
    call.incoming()
    logged = db.session.scalars(select(Call)).one()
    assert logged.status == "in-progress"
    assert logged.caller.phone_e164 == CALLER


def test_status_callback_without_callsid_is_a_clear_400(twilio_post):
    response = twilio_post("/voice/status", CallStatus="completed")
    assert response.status_code == 400


# --- faults ------------------------------------------------------------------------


def test_database_fault_still_answers_twiml_with_a_voicemail(call, caplog):
    db.drop_all()  # every query now fails
    root = call.incoming()
    assert "problème technique" in spoken(root)
    record = root.find("Record")
    assert record.get("action").startswith("/voice/fallback")
    assert "voice webhook /voice/incoming failed" in caplog.text
    root = call.twiml(record.get("action"), RecordingSid=sid("RE"))
    assert verbs(root)[-1] == "Hangup"
    db.create_all()


def test_fallback_url_answers_with_no_database(call):
    db.drop_all()
    root = call.twiml("/voice/fallback", ErrorCode="11200")
    assert "problème technique" in spoken(root)
    assert root.find("Record") is not None
    db.create_all()


def test_request_body_limit(client):
    form = {"CallSid": sid("CA"), "Digits": "1" * 300_000}
    signature = sign("http://localhost/voice/menu", form, TOKEN)
    response = client.post(
        "/voice/menu", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 413


def test_ticket_from_a_call_is_visible_through_the_api(call, client):
    action, _ = file_complaint(call)
    call.twiml(action, RecordingSid=sid("RE"), RecordingUrl="https://x")
    token = make_token(make_user())
    reference = db.session.scalars(select(Ticket)).one().display_reference
    response = client.get(
        f"/api/tickets/{reference}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["phone"] == CALLER
    assert [c["call_sid"] for c in body["calls"]] == [call.sid]
    assert len(body["recordings"]) == 1
    assert body["messages"][0]["direction"] == "outbound"


# --- opening hours -----------------------------------------------------------------


@pytest.fixture
def hotline_hours(monkeypatch):
    """Pin the clock for the hotline (Mon-Fri 08:00-17:30, Porto-Novo time)."""

    def at(moment: datetime) -> None:
        monkeypatch.setattr("ivr.views.utcnow", lambda: moment)

    return at


SUNDAY_NIGHT = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize("choice", ["1", None])
def test_out_of_hours_caller_hears_the_hours_and_leaves_a_message(
    twilio_post, hotline_hours, sms, choice
):
    hotline_hours(SUNDAY_NIGHT)
    call = Call_(twilio_post, to=HOTLINE)
    root = call.incoming()
    assert "fermé" in spoken(root)
    assert "du lundi au vendredi de 8 heures à 17 heures 30" in spoken(root)
    assert ("en-GB", "Polly.Amy-Neural", "For English, press 9.") in says(root)
    g = gather(root)
    assert g.get("action") == "/voice/closed?lang=fr&attempt=1"
    if choice:
        root = call.twiml(g.get("action"), Digits=choice)
    else:  # silence: the <Redirect> after the <Gather>, and still a message
        root = call.twiml(root.find("Redirect").text)
    action, _ = voicemail_paths(root)
    call.twiml(action, RecordingSid=sid("RE"), RecordingUrl="https://x")
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.kind, ticket.line) == ("callback", HOTLINE)
    assert len(sms.sent) == 1


def test_out_of_hours_caller_follows_a_request_by_reference(
    twilio_post, hotline_hours, sms
):
    hotline_hours(SUNDAY_NIGHT)
    ticket = make_ticket(make_caller(), status="in_progress", line=HOTLINE)
    call = Call_(twilio_post, to=HOTLINE)
    root = call.incoming()
    root = call.twiml(gather(root).get("action"), Digits="2")
    root = call.twiml(gather(root).get("action"), Digits=ticket.reference)
    assert "en cours de traitement" in spoken(root)
    # Back to the closed menu, not to the daytime menu with its advisors.
    root = call.twiml(root.find("Redirect").text)
    assert gather(root).get("action") == "/voice/closed?lang=fr&attempt=1"
    call.status("completed", CallDuration="70")
    # The caller had their answer: hanging up now files no callback.
    assert count(Ticket) == 1
    assert sms.sent == []


def test_out_of_hours_three_wrong_references_take_a_message(twilio_post, hotline_hours):
    hotline_hours(SUNDAY_NIGHT)
    call = Call_(twilio_post, to=HOTLINE)
    call.incoming()
    root = call.twiml("/voice/follow-up?lang=fr&attempt=3", Digits="12345678")
    assert "conseiller" not in spoken(root)  # nobody to offer at night
    assert root.find("Record") is not None
    call.status("completed", CallDuration="40")  # and hangs up before the beep
    assert db.session.scalars(select(Ticket)).one().kind == "callback"


def test_out_of_hours_hang_up_in_the_closed_menu_is_a_callback(
    twilio_post, hotline_hours
):
    hotline_hours(SUNDAY_NIGHT)
    call = Call_(twilio_post, to=HOTLINE)
    root = call.incoming()
    call.twiml(gather(root).get("action"), Digits="7")  # a wrong key, then gone
    call.status("completed", CallDuration="12")
    assert db.session.scalars(select(Ticket)).one().kind == "callback"


def test_out_of_hours_hang_up_before_the_beep_is_a_callback(twilio_post, hotline_hours):
    hotline_hours(datetime(2026, 12, 25, 10, 0, tzinfo=UTC))  # Christmas, a holiday
    call = Call_(twilio_post, to="+2290121300001")
    assert "jour férié" in spoken(call.incoming())
    call.status("completed", CallDuration="5")
    assert db.session.scalars(select(Ticket)).one().kind == "callback"


def test_open_hours_play_the_menu(twilio_post, hotline_hours):
    hotline_hours(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday 10:00
    root = Call_(twilio_post, to="+2290121300001").incoming()
    assert "Hotline Trésor 1" in spoken(gather(root))


def test_callbacks_during_a_database_outage_are_spooled_then_replayed(
    app, call, runner, tmp_path, sms
):
    app.instance_path = str(tmp_path)
    call.incoming()
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")
    _, callback = voicemail_paths(root)
    recording_sid = sid("RE")
    db.session.remove()
    db.drop_all()  # the database goes away mid-call
    assert call.status("completed", CallDuration="20").status_code == 204
    assert call.recording(callback, recording_sid).status_code == 204
    assert len(list((tmp_path / "spool").glob("*.json"))) == 2
    failing = runner.invoke(args=["spool", "replay"])
    assert "2 still failing" in failing.output
    db.create_all()  # back, but empty: the replay rebuilds what was lost
    result = runner.invoke(args=["spool", "replay"])
    assert "replayed 2 callback(s), 0 still failing" in result.output
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert db.session.scalars(select(Recording)).one().ticket_id == ticket.id
    assert list((tmp_path / "spool").glob("*.json")) == []


# --- the queue: press 1 to leave a message, then hang up ------------------------------


def test_press_1_in_the_queue_then_hang_up_before_the_beep_is_a_callback(call, sms):
    """Every webhook Twilio sends on this path, in the order it sends them."""
    agent = make_user()
    set_status(agent, "busy", call_sid=sid("CA"))  # everyone is on a call
    db.session.commit()
    call.incoming()
    root = call.twiml("/voice/menu?lang=fr&attempt=1", Digits="0")
    enqueue = root.find("Enqueue")
    call.status("in-progress", SequenceNumber="1")
    wait = call.twiml(
        enqueue.get("waitUrl"), QueuePosition="1", QueueTime="0", QueueSid=sid("QU")
    )
    assert "tapez 1" in spoken(wait)
    left = call.twiml(gather(wait).get("action"), Digits="1")
    assert verbs(left) == ["Leave"]
    assert db.session.scalars(select(Call)).one().intent == "callback"
    root = call.twiml(
        enqueue.get("action"), QueueResult="leave", QueueTime="20", QueueSid=sid("QU")
    )
    assert root.find("Record") is not None
    assert count(Ticket) == 0  # not yet: the caller may still leave the message
    # The caller hangs up during the notice: no <Record> action, no recording
    # callback; only the call's final status.
    call.status("completed", CallDuration="64", SequenceNumber="2")
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.kind == "callback"
    assert "hung up" in ticket.description
    assert [m["to"] for m in sms.sent] == [CALLER]
    call.status("completed", CallDuration="64", SequenceNumber="2")  # again
    assert count(Ticket) == 1
