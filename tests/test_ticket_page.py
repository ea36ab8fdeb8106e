"""The ticket page (/tickets/<reference>, issue #12): who sees it, each action
through its form, the rules' refusals beside the form, the preview of the
citizen's text, and who hears the recordings."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Message, Recording, Role, Service, Ticket, TicketEvent
from app.services import sla_clock
from app.services.followups import NOTE_IN_TEXT
from tests.conftest import CALLER, LINE
from tests.factories import make_caller, make_ticket, make_user, sid, stored_recording
from tests.test_recordings_pages import login


@pytest.fixture
def people(app) -> dict:
    pensions = Service(key="pensions", name="Direction des pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    people = {
        "agent": make_user("awa@example.org", Role.AGENT),
        "other": make_user("koffi@example.org", Role.AGENT),
        "supervisor": make_user("chef@example.org", Role.SUPERVISOR),
    }
    people["agent"].services.append(pensions)
    people["other"].services.append(salaries)
    db.session.commit()
    return people


@pytest.fixture
def ticket(people) -> Ticket:
    service = db.session.scalar(select(Service).filter_by(key="pensions"))
    ticket = make_ticket(
        make_caller(CALLER),
        line=LINE,
        category="pension",
        service=service,
        description="Ma pension de mars n'est pas arrivée.",
    )
    sla_clock.start(ticket)
    db.session.commit()
    return ticket


def url(ticket: Ticket, action: str | None = None) -> str:
    base = f"/tickets/{ticket.display_reference}"
    return f"{base}/{action}" if action else base


def actions_of(ticket: Ticket) -> list[str]:
    db.session.expire_all()
    return [event.action for event in db.session.get(Ticket, ticket.id).events]


def fresh(ticket: Ticket) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket.id)


# --- who sees it -------------------------------------------------------------------


def test_a_stranger_is_sent_to_sign_in(client, ticket):
    response = client.get(url(ticket))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("who", "status"), [("agent", 200), ("supervisor", 200)])
def test_the_service_and_supervisors_see_it(client, people, ticket, who, status):
    login(client, people[who])
    response = client.get(url(ticket))
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert page.count("<h1") == 1
    assert f"Demande {ticket.display_reference}" in page
    assert "Direction des pensions" in page
    assert "Pensions et retraites" in page  # the category's label, not its key
    assert "Heures de Africa/Porto-Novo" in page


def test_another_services_agent_gets_a_404(client, people, ticket):
    login(client, people["other"])
    assert client.get(url(ticket)).status_code == 404
    # Nor may they act on it, or preview its texts.
    response = client.post(url(ticket, "note"), data={"note-text": "x"})
    assert response.status_code == 404
    response = client.post(url(ticket, "preview/message"), data={"message-text": "x"})
    assert response.status_code == 404
    assert "note" not in actions_of(ticket)


@pytest.mark.parametrize("reference", ["1234", "abcd-efgh", "1234-5679"])
def test_a_bad_reference_is_a_404(client, people, ticket, reference):
    login(client, people["supervisor"])
    assert client.get(f"/tickets/{reference}").status_code == 404


def test_the_reference_is_taken_without_its_dash(client, people, ticket):
    login(client, people["agent"])
    assert client.get(f"/tickets/{ticket.reference}").status_code == 200


def test_the_page_speaks_english_when_asked(client, people, ticket):
    login(client, people["agent"])
    page = client.get(url(ticket) + "?lang=en").get_data(as_text=True)
    assert f"Request {ticket.display_reference}" in page
    assert "Take it (put me in charge)" in page
    assert "Times in Africa/Porto-Novo." in page


# --- the header --------------------------------------------------------------------


def test_the_header_shows_the_deadlines_and_the_caller(client, people, ticket):
    ticket.caller.name = "Adjoa Mensah"
    ticket.caller.matricule = "MAT-1234"
    ticket.caller.email = "adjoa@example.org"
    ticket.priority = "urgent"
    ticket.appeal = True
    ticket.hold = True
    ticket.escalation_level = 1
    db.session.commit()
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    for shown in ("Adjoa Mensah", "MAT-1234", "adjoa@example.org", CALLER):
        assert shown in page
    assert f'href="/callers/{CALLER}"' in page
    assert "Recours" in page
    assert "Gel juridique" in page
    assert "Escaladé, niveau 1" in page
    assert "Priorité : Urgent" in page
    assert re.search(r'class="badge (left|soon)">Reste ', page), "time left"


def test_a_missed_deadline_shows_late(client, people, ticket):
    ticket.take_charge_due = ticket.created_at.replace(year=2020)
    db.session.commit()
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert re.search(r'class="badge late">En retard de ', page)


# --- each action, without JavaScript ----------------------------------------------


def test_take_it(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "take"))
    assert response.status_code == 302
    assert response.headers["Location"] == url(ticket)
    assert fresh(ticket).assignee_id == people["agent"].id
    assert fresh(ticket).status == "assigned"
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "Vous êtes maintenant responsable de cette demande." in page
    assert 'id="form-take"' not in page  # taken: no button any more


def test_an_internal_note_is_never_texted(client, people, ticket, sms):
    login(client, people["agent"])
    response = client.post(url(ticket, "note"), data={"note-text": "Pièce vérifiée."})
    assert response.status_code == 302
    note = fresh(ticket).events[-1]
    assert note.action == "note"
    assert note.detail == {"text": "Pièce vérifiée.", "visibility": "internal"}
    assert sms.sent == []
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "Pièce vérifiée." in page
    assert "Note interne" in page


def test_an_empty_note_is_refused_beside_its_form(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "note"), data={"note-text": "  "})
    assert response.status_code == 400
    assert "Write something first." in response.get_data(as_text=True) or (
        "crivez" in response.get_data(as_text=True)
    )
    assert "note" not in actions_of(ticket)


def test_a_public_message_goes_as_previewed(client, people, ticket, sms):
    login(client, people["agent"])
    text = "Votre dossier est complet, le paiement suit."
    preview = client.post(url(ticket, "preview/message"), data={"message-text": text})
    assert preview.status_code == 200
    shown = re.search(r'id="message-sms">([^<]+)<', preview.get_data(as_text=True))
    response = client.post(url(ticket, "message"), data={"message-text": text})
    assert response.status_code == 302
    assert [sent["body"] for sent in sms.sent] == [shown.group(1).replace("&#39;", "'")]
    assert text in sms.sent[0]["body"]
    notes = [event for event in fresh(ticket).events if event.action == "note"]
    assert notes[0].detail == {"text": text, "visibility": "public"}


def test_the_preview_counts_segments(client, people, ticket):
    login(client, people["agent"])
    short = client.post(url(ticket, "preview/message"), data={"message-text": "Merci."})
    page = short.get_data(as_text=True)
    assert f"Centre d&#39;écoute, dossier {ticket.display_reference}: Merci." in page
    assert ">1 SMS<" in page
    assert "GSM-7" in page
    long = client.post(url(ticket, "preview/message"), data={"message-text": "a" * 250})
    assert ">2 SMS<" in long.get_data(as_text=True)
    # Only what the citizen receives is counted: the note is cut as sent.
    longest = client.post(
        url(ticket, "preview/message"), data={"message-text": "a" * 1500}
    )
    body = re.search(r'id="message-sms">([^<]+)<', longest.get_data(as_text=True))
    assert body.group(1).count("a") <= NOTE_IN_TEXT + 10
    # A character GSM-7 lacks and transliteration keeps (an emoji): UCS-2.
    emoji = client.post(url(ticket, "preview/message"), data={"message-text": "👍"})
    assert "(UCS-2)" in emoji.get_data(as_text=True) or "?" in emoji.get_data(
        as_text=True
    )


def test_the_resolution_preview_uses_the_resolved_text(client, people, ticket):
    login(client, people["agent"])
    page = client.post(
        url(ticket, "preview/resolve"), data={"resolve-text": "Virement fait."}
    ).get_data(as_text=True)
    assert (
        f"votre dossier {ticket.display_reference} est résolu. Virement fait." in page
    )


def test_no_preview_for_nothing_typed(client, people, ticket):
    login(client, people["agent"])
    page = client.post(url(ticket, "preview/message"), data={"message-text": " "})
    assert "SMS" not in page.get_data(as_text=True)


def test_the_preview_says_when_nothing_will_be_sent(client, people, ticket):
    ticket.caller.sms_opt_out = True
    db.session.commit()
    login(client, people["agent"])
    page = client.post(url(ticket, "preview/message"), data={"message-text": "Merci."})
    assert "rien ne sera envoyé" in page.get_data(as_text=True)


def test_preview_without_javascript_keeps_the_text(client, people, ticket, sms):
    login(client, people["agent"])
    response = client.post(
        url(ticket, "message"), data={"message-text": "Bonjour.", "preview": "1"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Le citoyen recevra :" in page
    assert re.search(r'name="message-text"[^>]*>\s*Bonjour\.</textarea>', page)
    assert sms.sent == []  # a preview sends nothing
    assert "note" not in actions_of(ticket)


def test_resolve_needs_an_answer(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "resolve"), data={"resolve-text": "   "})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="resolve-error"' in page
    assert "elle est nécessaire pour résoudre" in page
    assert fresh(ticket).status == "new"


def test_resolve_with_an_answer_texts_it(client, people, ticket, sms):
    login(client, people["agent"])
    response = client.post(
        url(ticket, "resolve"), data={"resolve-text": "Virement fait le 3 avril."}
    )
    assert response.status_code == 302
    ticket = fresh(ticket)
    assert ticket.status == "resolved"
    assert any("Virement fait le 3 avril." in sent["body"] for sent in sms.sent)
    page = client.get(url(ticket)).get_data(as_text=True)
    assert 'id="form-resolve"' not in page
    assert 'id="form-reopen"' in page


def test_a_second_answer_is_refused_with_the_text_kept(client, people, ticket):
    ticket.status = "resolved"
    db.session.commit()
    login(client, people["agent"])
    response = client.post(url(ticket, "resolve"), data={"resolve-text": "Encore."})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "La demande est déjà résolue" in page
    assert re.search(r'name="resolve-text"[^>]*>\s*Encore\.</textarea>', page)


def test_status_and_the_closed_rule(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "status"), data={"status-status": "in_progress"})
    assert response.status_code == 302
    assert fresh(ticket).status == "in_progress"
    ticket = fresh(ticket)
    ticket.status = "closed"
    db.session.commit()
    response = client.post(url(ticket, "status"), data={"status-status": "waiting"})
    assert response.status_code == 409
    assert "Une demande close ne peut qu" in response.get_data(as_text=True)
    assert fresh(ticket).status == "closed"


def test_an_unknown_status_is_refused(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "status"), data={"status-status": "lost"})
    assert response.status_code == 400
    assert fresh(ticket).status == "new"


def test_reopen(client, people, ticket):
    ticket.status = "closed"
    db.session.commit()
    login(client, people["agent"])
    assert client.post(url(ticket, "reopen")).status_code == 302
    ticket = fresh(ticket)
    assert ticket.status == "reopened"
    assert ticket.appeal is True


def test_priority_replans_the_deadlines(client, people, ticket):
    ticket.category = "other"  # no plan of its own: the urgent plan applies
    sla_clock.start(ticket)
    db.session.commit()
    login(client, people["agent"])
    before = fresh(ticket).resolve_due
    response = client.post(
        url(ticket, "priority"), data={"priority-priority": "urgent"}
    )
    assert response.status_code == 302
    ticket = fresh(ticket)
    assert ticket.priority == "urgent"
    assert ticket.sla_plan == "urgent"
    assert ticket.resolve_due < before


def test_a_supervisor_assigns_a_service_and_a_person(client, people, ticket):
    login(client, people["supervisor"])
    response = client.post(
        url(ticket, "assign"),
        data={
            "assign-service": "salaries",
            "assign-assignee": str(people["other"].id),
        },
    )
    assert response.status_code == 302
    ticket = fresh(ticket)
    assert ticket.service.key == "salaries"
    assert ticket.assignee_id == people["other"].id


def test_an_agent_may_name_only_themselves(client, people, ticket):
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert f'value="{people["other"].id}"' not in page
    response = client.post(
        url(ticket, "assign"),
        data={"assign-service": "pensions", "assign-assignee": str(people["other"].id)},
    )
    assert response.status_code == 400
    assert fresh(ticket).assignee_id is None
    response = client.post(
        url(ticket, "assign"),
        data={"assign-service": "pensions", "assign-assignee": str(people["agent"].id)},
    )
    assert response.status_code == 302
    assert fresh(ticket).assignee_id == people["agent"].id


def test_hold_is_refused_to_an_agent(client, people, ticket):
    login(client, people["agent"])
    assert 'id="form-hold"' not in client.get(url(ticket)).get_data(as_text=True)
    response = client.post(url(ticket, "hold"), data={"hold-hold": "1"})
    assert response.status_code == 403
    assert "Seul un superviseur ou un administrateur" in response.get_data(as_text=True)
    assert fresh(ticket).hold is False


def test_a_supervisor_puts_on_hold_and_lifts_it(client, people, ticket):
    login(client, people["supervisor"])
    assert client.post(url(ticket, "hold"), data={"hold-hold": "1"}).status_code == 302
    assert fresh(ticket).hold is True
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "Lever le gel juridique" in page
    assert client.post(url(ticket, "hold"), data={"hold-hold": "0"}).status_code == 302
    assert fresh(ticket).hold is False


# --- htmx: the same forms, the ticket's part of the page back ---------------------

HTMX = {"HX-Request": "true"}


def test_htmx_gets_the_ticket_part_alone(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "note"), data={"note-text": "Vu."}, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["Ecoute-Partial"] == "ticket"
    page = response.get_data(as_text=True)
    assert "<html" not in page
    assert 'id="ticket-done"' in page
    assert "Vu." in page


def test_htmx_gets_a_refusal_beside_its_form(client, people, ticket):
    login(client, people["agent"])
    response = client.post(url(ticket, "hold"), data={"hold-hold": "1"}, headers=HTMX)
    assert response.status_code == 403
    assert response.headers["Ecoute-Partial"] == "ticket"
    assert 'id="hold-error"' in response.get_data(as_text=True)


# --- CSRF ----------------------------------------------------------------------------


def test_an_action_without_its_csrf_token_is_refused(app, client, people, ticket):
    login(client, people["agent"])
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(url(ticket, "note"), data={"note-text": "Sans jeton."})
    assert response.status_code == 400
    assert "note" not in actions_of(ticket)
    page = client.get(url(ticket)).get_data(as_text=True)
    token = re.search(r'name="note-csrf_token" type="hidden" value="([^"]+)"', page)
    response = client.post(
        url(ticket, "note"),
        data={"note-text": "Avec jeton.", "note-csrf_token": token.group(1)},
    )
    assert response.status_code == 302
    assert "note" in actions_of(ticket)


# --- the timeline ------------------------------------------------------------------


@pytest.fixture
def recorded(app, people, ticket) -> Recording:
    """A call on the ticket, taken by nobody in particular, with its audio."""
    call = Call(
        call_sid=sid("CA"),
        caller=ticket.caller,
        line=LINE,
        from_raw=CALLER,
        status="completed",
        duration=75,
    )
    db.session.add(call)
    db.session.flush()
    ticket.calls.append(call)
    recording = stored_recording(app, call, ticket.id)
    db.session.add(recording)
    ticket.record("listened", people["supervisor"].email, recording_id=1)
    db.session.commit()
    return recording


def audio_tag(recording: Recording) -> str:
    return f'preload="none" src="/api/recordings/{recording.id}/audio"'


def test_only_who_may_listen_gets_the_player(client, people, ticket, recorded):
    login(client, people["agent"])  # their service's ticket, not theirs
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "<audio" not in page
    assert "peuvent l&#39;écouter" in page
    assert "Terminé" in page  # the call, with its status in words
    client.post(url(ticket, "take"))  # now in charge: they may listen
    page = client.get(url(ticket)).get_data(as_text=True)
    assert audio_tag(recorded) in page
    audio = client.get(f"/api/recordings/{recorded.id}/audio")
    assert audio.status_code == 200
    audio.close()


def test_a_supervisor_gets_the_player_and_the_listening(client, people, recorded):
    ticket = db.session.get(Ticket, recorded.ticket_id)
    login(client, people["supervisor"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert audio_tag(recorded) in page
    assert 'data-action="listened"' in page


def test_listening_is_for_supervisors_only(client, people, ticket, recorded):
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert 'data-action="listened"' not in page


def test_messages_in_and_out_and_notices_without_their_body(client, people, ticket):
    db.session.add_all(
        [
            Message(
                ticket_id=ticket.id,
                caller_id=ticket.caller_id,
                direction="inbound",
                to_number=LINE,
                from_number=CALLER,
                body="J'ai envoyé le document.",
                status="received",
            ),
            Message(
                ticket_id=ticket.id,
                caller_id=ticket.caller_id,
                direction="outbound",
                to_number=CALLER,
                body="Votre dossier avance.",
                status="failed",
                error_code="30003",
            ),
            Message(
                ticket_id=ticket.id,
                direction="outbound",
                audience="staff",
                channel="sms",
                to_number="+2290197554433",
                body="Lien personnel: https://example.org/f/SECRET",
                status="delivered",
            ),
        ]
    )
    db.session.commit()
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "J&#39;ai envoyé le document." in page
    assert "SMS du citoyen" in page
    assert "Avis SMS envoyé à +2290197554433" in page
    assert "SECRET" not in page
    assert "Remis" in page  # the notice's delivery status
    assert "SMS au citoyen" in page
    assert "Échec (30003)" in page  # why it failed


def test_the_timeline_is_oldest_first(client, people, ticket):
    login(client, people["agent"])
    client.post(url(ticket, "note"), data={"note-text": "Premier."})
    client.post(url(ticket, "note"), data={"note-text": "Second."})
    page = client.get(url(ticket)).get_data(as_text=True)
    assert page.index("Premier.") < page.index("Second.")
    assert page.index('data-action="created"') < page.index("Premier.")
    stored = db.session.scalars(select(TicketEvent.action)).all()
    assert stored.count("note") == 2


def test_a_withheld_number_has_no_profile_and_gets_no_text(client, people):
    ticket = make_ticket(None, line=LINE, channel="counter")
    login(client, people["other"])  # the centre's intake: every agent sees it
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "Numéro masqué : pas de profil." in page
    assert "Guichet" in page
    preview = client.post(url(ticket, "preview/message"), data={"message-text": "Ok"})
    assert "rien ne sera envoyé" in preview.get_data(as_text=True)


def test_the_language_switch_after_a_refusal_goes_back_to_the_page(
    client, people, ticket
):
    login(client, people["agent"])
    page = client.post(url(ticket, "note"), data={"note-text": ""})
    switch = re.search(r'href="([^"]+)" lang="en"', page.get_data(as_text=True))
    response = client.get(switch.group(1).replace("&amp;", "&"))
    assert response.status_code == 302
    assert response.headers["Location"] == url(ticket) + "?lang=en"


def test_focal_points_reminders_and_escalations_read_as_words(client, people, ticket):
    due = ticket.take_charge_due.isoformat()
    ticket.record("focal_link", "system", focal_point="Bio Sika")
    ticket.record(
        "sla_reminder",
        "system",
        deadline="take_charge",
        level=0,
        due=due,
        notified=["Awa Dossou"],
    )
    ticket.record(
        "escalation",
        "system",
        deadline="resolve",
        level=1,
        due=due,
        notified=["Bio Sika"],
    )
    ticket.record("note", "focal point: Bio Sika", text="Vu au service.")
    ticket.record("rating", "caller", score=2)
    db.session.commit()
    login(client, people["agent"])
    page = client.get(url(ticket)).get_data(as_text=True)
    assert "Lien envoyé à un point focal" in page
    assert "Bio Sika" in page
    assert "Délai : prise en charge. Niveau 0. Prévenus : Awa Dossou." in page
    assert "Délai : réponse. Niveau 1. Prévenus : Bio Sika." in page
    assert "Point focal Bio Sika" in page
    assert "2/5" in page


def test_the_recordings_pages_link_to_the_ticket(client, people, ticket, recorded):
    login(client, people["supervisor"])
    link = f'href="{url(ticket)}"'
    assert link in client.get("/recordings").get_data(as_text=True)
    assert link in client.get(f"/recordings/{recorded.id}").get_data(as_text=True)
