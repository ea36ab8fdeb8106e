"""The supervisors' recording pages: the filtered list and the player."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Call, Caller, Recording, Role, Ticket
from recordings.pages import PAGE_SIZE, WAVESURFER
from tests.conftest import CALLER, HOTLINE, LINE, service_required
from tests.factories import PASSWORD, make_caller, make_ticket, make_user, sid

DAY = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def people(app):
    return {
        "supervisor": make_user("chef@example.org", Role.SUPERVISOR),
        "admin": make_user("admin@example.org", Role.ADMIN),
        "agent": make_user("agent@example.org", Role.AGENT),
        "other": make_user("other@example.org", Role.AGENT),
    }


def login(client, user) -> None:
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def add_recording(
    *,
    at: datetime = DAY,
    line: str = LINE,
    agent=None,
    category: str | None = "service",
    phone: str = CALLER,
    media_status: str | None = "stored",
    ticket: bool = True,
) -> Recording:
    caller = None
    if phone:
        caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone))
        caller = caller or make_caller(phone)
    call = Call(
        call_sid=sid("CA"),
        caller=caller,
        from_raw=phone or "anonymous",
        line=line,
        agent_id=agent.id if agent else None,
        started_at=at,
    )
    made = (
        make_ticket(caller, line=line, category=category, created_at=at)
        if ticket
        else None
    )
    recording = Recording(
        recording_sid=sid("RE"),
        call=call,
        ticket_id=made.id if made else None,
        status="completed",
        duration=75,
        media_status=media_status,
        storage_key=f"{sid('RE')}.wav" if media_status == "stored" else None,
        media_format="wav",
        size_bytes=1200,
        created_at=at,
    )
    db.session.add_all([call, recording])
    db.session.commit()
    return recording


def listed(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-recording="(\d+)"', page)]


# --- who sees the list ------------------------------------------------------------


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_admins_see_the_list(client, people, who):
    recording = add_recording(agent=people["agent"])
    login(client, people[who])
    response = client.get("/recordings")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed(page) == [recording.id]
    ticket_reference = re.search(r"\d{4}-\d{4}", page).group(0)
    assert f'href="/recordings/{recording.id}">{ticket_reference}</a>' in page
    assert "agent@example.org" in page
    assert CALLER in page
    assert "Numéro vert" in page
    assert "1:15" in page  # 75 seconds
    assert "Disponible" in page
    assert 'href="/recordings"' in page  # the nav link


def test_agents_get_403_and_no_link(client, people):
    add_recording()
    login(client, people["agent"])
    assert client.get("/recordings").status_code == 403
    assert 'href="/recordings"' not in client.get("/").get_data(as_text=True)


def test_anonymous_is_sent_to_the_login(client, people):
    response = client.get("/recordings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    response = client.get(f"/recordings/{add_recording().id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_newest_first_fifty_a_page(client, people):
    made = [add_recording(at=DAY + timedelta(minutes=n)) for n in range(PAGE_SIZE + 3)]
    newest_first = [recording.id for recording in reversed(made)]
    login(client, people["supervisor"])
    first = client.get("/recordings").get_data(as_text=True)
    assert listed(first) == newest_first[:PAGE_SIZE]
    assert "Page 1 sur 2" in first
    second = client.get("/recordings?page=2").get_data(as_text=True)
    assert listed(second) == newest_first[PAGE_SIZE:]
    # Out of range or not a number: the nearest page, never an error.
    beyond = client.get("/recordings?page=99").get_data(as_text=True)
    assert listed(beyond) == newest_first[PAGE_SIZE:]
    garbled = client.get("/recordings?page=x").get_data(as_text=True)
    assert listed(garbled) == newest_first[:PAGE_SIZE]


# --- filters ------------------------------------------------------------------------


@pytest.fixture
def mixed(people):
    """Four recordings that differ by one thing each from the first."""
    return {
        "base": add_recording(agent=people["agent"]),
        "earlier": add_recording(at=DAY - timedelta(days=5), agent=people["agent"]),
        "hotline": add_recording(line=HOTLINE, agent=people["agent"], phone=""),
        "other_agent": add_recording(agent=people["other"], category="delay"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2026-03-08", {"base", "hotline", "other_agent"}),
        ("to=2026-03-08", {"earlier"}),
        ("from=2026-03-10&to=2026-03-10", {"base", "hotline", "other_agent"}),
        ("from=2026-03-11", set()),
        ("line=%2B2290121300001", {"hotline"}),
        ("line=%2B2290121300000", {"base", "earlier", "other_agent"}),
        ("agent={other}", {"other_agent"}),
        ("category=delay", {"other_agent"}),
        ("category=service&agent={agent}&line=%2B2290121300000", {"base", "earlier"}),
    ],
)
def test_each_filter_narrows_the_list(client, people, mixed, query, expected):
    login(client, people["supervisor"])
    query = query.format(agent=people["agent"].id, other=people["other"].id)
    page = client.get(f"/recordings?{query}").get_data(as_text=True)
    assert set(listed(page)) == {mixed[name].id for name in expected}
    assert 'role="alert"' not in page


def test_filters_stay_selected_and_in_the_page_links(client, people):
    for n in range(PAGE_SIZE + 1):
        add_recording(at=DAY + timedelta(seconds=n), category="delay")
    login(client, people["supervisor"])
    page = client.get("/recordings?category=delay&from=2026-03-01").get_data(
        as_text=True
    )
    assert '<option value="delay" selected>' in page
    assert 'value="2026-03-01"' in page
    assert "page=2" in page
    assert "category=delay" in re.search(r'href="([^"]*page=2[^"]*)"', page).group(1)


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-30",
        "from=yesterday",
        "to=10/03/2026",
        "from=2026-03-10&to=2026-03-01",
        "line=%2B33100000000",
        "agent=abc",
        "agent=99999",
        "category=nope",
        "category=service&agent=-1",
        "from=%00",
    ],
)
def test_bad_filters_show_everything_with_a_message(client, people, mixed, query):
    login(client, people["supervisor"])
    response = client.get(f"/recordings?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert set(listed(page)) == {recording.id for recording in mixed.values()}
    assert 'role="alert"' in page
    assert "Filtre non compris" in page


# --- the player ---------------------------------------------------------------------


def test_player_shows_the_audio_and_the_ticket_with_its_history(client, people):
    recording = add_recording(agent=people["agent"], category="payment")
    ticket = db.session.get(Ticket, recording.ticket_id)
    ticket.record("note", "chef@example.org", text="rappeler lundi")
    db.session.commit()
    login(client, people["supervisor"])
    response = client.get(f"/recordings/{recording.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'id="ticket-reference">{ticket.display_reference}<' in page
    audio = re.search(r"<audio[^>]*>", page).group(0)
    assert 'id="recording-audio"' in audio
    assert "controls" in audio
    assert 'preload="metadata"' in audio
    assert f'src="/api/recordings/{recording.id}/audio"' in audio
    assert '<script src="/recordings/static/vendor/wavesurfer.js">' in page
    assert '<script src="/static/player.js">' in page  # WaveSurfer.create, no inline
    assert "Un paiement ou un salaire" in page  # the category's label
    assert "Nouveau" in page  # the status
    assert CALLER in page
    assert "Numéro vert" in page
    history = page[page.index('id="history"') :]
    assert 'data-action="created"' in history
    assert "Dossier créé" in history
    assert "chef@example.org" in history
    assert "rappeler lundi" in history


@pytest.mark.parametrize(
    ("who", "expected"),
    [("supervisor", 200), ("admin", 200), ("agent", 200), ("other", 403)],
)
def test_who_may_open_the_player(client, people, who, expected):
    recording = add_recording(agent=people["agent"])  # the agent took the call
    login(client, people[who])
    assert client.get(f"/recordings/{recording.id}").status_code == expected


def test_unknown_recording_is_404(client, people):
    login(client, people["supervisor"])
    assert client.get("/recordings/424242").status_code == 404


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("pending", "pas encore été récupéré"),
        ("fetching", "pas encore été récupéré"),
        ("failed", "n'a pas pu être récupéré"),
        ("purged", "supprimé à la fin de sa durée de conservation"),
        (None, "n'est pas conservé"),
    ],
)
def test_not_stored_recording_says_so_instead_of_a_player(
    client, people, status, message
):
    recording = add_recording(media_status=status)
    login(client, people["supervisor"])
    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    assert "<audio" not in page
    assert "wavesurfer.js" not in page
    assert 'id="not-stored"' in page
    assert message in page.replace("&#39;", "'")


def test_a_recording_on_no_ticket_still_plays(client, people):
    recording = add_recording(ticket=False, phone="")
    login(client, people["supervisor"])
    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    assert "<audio" in page
    assert "rattaché à aucun dossier" in page
    listing = client.get("/recordings").get_data(as_text=True)
    assert f'href="/recordings/{recording.id}">sans dossier</a>' in listing


# --- languages ----------------------------------------------------------------------


def test_french_by_default_english_on_request(client, people):
    recording = add_recording(media_status="purged")
    login(client, people["supervisor"])
    french = client.get("/recordings").get_data(as_text=True)
    assert "<h1>Enregistrements</h1>" in french
    assert "Supprimé (conservation)" in french
    assert "Ligne" in french
    refresh()  # the test's app context caches the locale between requests
    english = client.get("/recordings?lang=en").get_data(as_text=True)
    assert "<h1>Recordings</h1>" in english
    assert "Deleted (retention)" in english
    refresh()
    player = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    assert "deleted at the end of its retention time" in player  # lang is kept
    assert "Ticket created" in player
    refresh()
    back = client.get(f"/recordings/{recording.id}?lang=fr").get_data(as_text=True)
    assert "Dossier créé" in back


def test_bad_filter_message_in_english(client, people):
    login(client, people["supervisor"])
    page = client.get("/recordings?lang=en&agent=x").get_data(as_text=True)
    assert "Filter not understood (agent): showing all recordings." in page


# --- the player's script ------------------------------------------------------------


def test_wavesurfer_is_served_from_node_modules(client):
    if not WAVESURFER.is_file():
        service_required("wavesurfer.js in node_modules (npm ci)")
    response = client.get("/recordings/static/vendor/wavesurfer.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.get_data() == WAVESURFER.read_bytes()
    response.close()
