"""The living demo (`flask seed-demo`, run by `make run`): a centre a newcomer
can open and find at work.

Services with their agents and focal points, callers with profiles, a few
dozen requests in every status across channels, categories and priorities,
and calls whose recordings play. Every ticket's story is played through the
real service functions (opening, assigning, notes, resolutions, the citizen's
ratings and appeals by text), then moved back to the days it is told on, and
the SLA clock replayed on those days, so some are overdue and the SLA check
escalates them. Around the stories, a month of phone traffic
(app.demo_traffic) gives the statistics calls of every kind. Seeding twice
adds nothing twice: the accounts, services and focal points are found again,
the stories are told once.
"""

import logging
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, update

from app.demo_traffic import add_traffic
from app.extensions import db
from app.lines import Line, current_lines
from app.menus import menu_for
from app.models import (
    Call,
    Caller,
    Message,
    Recording,
    Role,
    Service,
    Ticket,
    TicketEvent,
    User,
)
from app.models.types import utcnow
from app.services import focal_points, sla_alerts, sla_clock
from app.services.calls import call_for
from app.services.followups import commit_and_dispatch, flush_outbox
from app.services.inbound import handle_text
from app.services.people import ProfileChange, change_profile, person_of
from app.services.recordings import attach, recording_for
from app.services.tickets import (
    TicketChange,
    change_ticket,
    open_ticket,
    ticket_for_call,
)

DEMO_PASSWORD = "ecoute-demo"  # noqa: S105 - printed for the local demo only
USERS = (
    ("admin@ecoute.local", Role.ADMIN, "Admin Écoute", ()),
    ("superviseur@ecoute.local", Role.SUPERVISOR, "Awa Superviseure", ()),
    ("agent@ecoute.local", Role.AGENT, "Koffi Agent", ("pensions", "accueil")),
    ("agent.salaires@ecoute.local", Role.AGENT, "Mariam Agent", ("salaires",)),
)
SERVICES = (
    ("pensions", "Direction des pensions"),
    ("salaires", "Service des salaires"),
    ("accueil", "Accueil et orientation"),
)
# (service, name, phone, e-mail, head)
FOCAL_POINTS = (
    ("pensions", "Adjoa Mensah", "+2290197554433", "adjoa.mensah@example.org", True),
    ("pensions", "Rodrigue Ahouansou", "+2290197554434", None, False),
    ("salaires", "Fatou Bello", "+2290196112233", "fatou.bello@example.org", True),
    ("accueil", "Jean Dossou", None, "jean.dossou@example.org", True),
)


@dataclass(frozen=True)
class Person:
    name: str
    matricule: str | None
    email: str | None
    phones: tuple[str, ...]  # the first holds the profile
    language: str = "fr"


# Numbers in a range no Beninese operator hands out (+229 01 97 00 ...): the
# demo's texts go to the log, and would reach nobody should they leave it.
PEOPLE = (
    Person(
        "Mme Houngbo Célestine",
        "1234567A",
        "c.houngbo@example.org",
        ("+2290197000101", "+2290196000101"),
    ),
    Person("M. Agossou Firmin", "2345678B", None, ("+2290197000102",)),
    Person("Mme Zinsou Aïcha", None, "aicha.zinsou@example.org", ("+2290197000103",)),
    Person("M. Kpadonou Eric", "3456789C", None, ("+2290197000104",)),
    Person(
        "Mrs Adeyemi Grace",
        None,
        "grace.adeyemi@example.org",
        ("+2290197000105",),
        "en",
    ),
    Person("M. Tchibozo Luc", "4567890D", None, ("+2290197000106",)),
    Person("Mme Sossa Berthe", None, None, ("+2290197000107",)),
    Person(
        "M. Gbaguidi Paul", "5678901E", "paul.gbaguidi@example.org", ("+2290197000108",)
    ),
)
# The first demo number: its caller present means the stories were told.
SENTINEL = PEOPLE[0].phones[0]

DESCRIPTIONS = {
    "pension": "Ma pension de retraite n'a pas été versée ce mois-ci.",
    "salary": "Mon salaire de mars est incomplet : la prime de zone manque.",
    "payment": "Un virement annoncé depuis trois semaines n'est jamais arrivé.",
    "delay": "Mon dossier de reconstitution de carrière est en attente depuis un an.",
    "reception": "On m'a renvoyé trois fois d'un guichet à l'autre.",
    "service": "L'agent au guichet n'a pas su répondre à ma question.",
    "other": "Je voudrais savoir quels documents fournir pour un certificat.",
}
SPOKEN = (
    "Bonjour, je vous appelle au sujet de ma pension qui n'est pas arrivée. "
    "Merci de me rappeler."
)


@dataclass(frozen=True)
class Story:
    """One ticket: how it came, what happened, how many days ago it began."""

    play: str  # a name of STORIES
    channel: str
    category: str
    priority: str
    days_ago: float
    service: str
    person: int


@dataclass
class Cast:
    supervisor: User
    agents: dict[str, User]  # by service key
    services: dict[str, Service]


# --- the stories ------------------------------------------------------------------


def _assign(ticket: Ticket, story: Story, cast: Cast) -> None:
    change = TicketChange(
        service=cast.services[story.service], assignee=cast.agents[story.service]
    )
    change_ticket(ticket, change, cast.supervisor)


def _work(ticket: Ticket, story: Story, cast: Cast) -> None:
    _assign(ticket, story, cast)
    agent = cast.agents[story.service]
    change_ticket(
        ticket,
        TicketChange(
            status="in_progress",
            note="Dossier retrouvé au service ; vérification en cours avec la paie.",
        ),
        agent,
    )


def _wait(ticket: Ticket, story: Story, cast: Cast) -> None:
    _work(ticket, story, cast)
    change_ticket(
        ticket,
        TicketChange(
            status="waiting",
            note="Merci de nous envoyer une copie de votre dernier bulletin.",
            note_public=True,
        ),
        cast.agents[story.service],
    )


def _resolve(ticket: Ticket, story: Story, cast: Cast) -> None:
    _work(ticket, story, cast)
    change_ticket(
        ticket,
        TicketChange(
            resolution="Le versement a été rétabli ; il arrivera avant le 5 du mois."
        ),
        cast.agents[story.service],
    )


def _text(ticket: Ticket, body: str) -> None:
    """The caller answers by SMS, through the same service as the webhook."""
    line = current_lines().for_number(ticket.line)
    count = db.session.scalar(select(db.func.count(Message.id))) or 0
    form = {
        "MessageSid": f"SMdemo{ticket.reference}{count:08d}",
        "From": ticket.caller.phone_e164,
        "To": line.number,
        "Body": body,
    }
    handle_text(form, line, current_app.config["DEFAULT_REGION"])


def _close_by_rating(ticket: Ticket, story: Story, cast: Cast) -> None:
    _resolve(ticket, story, cast)
    _text(ticket, "5")


def _close_by_staff(ticket: Ticket, story: Story, cast: Cast) -> None:
    _resolve(ticket, story, cast)
    change_ticket(ticket, TicketChange(status="closed"), cast.supervisor)


def _appeal_by_rating(ticket: Ticket, story: Story, cast: Cast) -> None:
    _resolve(ticket, story, cast)
    _text(ticket, "1")


def _appeal_by_text(ticket: Ticket, story: Story, cast: Cast) -> None:
    _resolve(ticket, story, cast)
    _text(ticket, f"RECOURS {ticket.display_reference}")


def _reassign(ticket: Ticket, story: Story, cast: Cast) -> None:
    """Sent to the wrong service first, then to the right one by a supervisor."""
    wrong = "accueil" if story.service != "accueil" else "pensions"
    change_ticket(ticket, TicketChange(service=cast.services[wrong]), cast.supervisor)
    change_ticket(
        ticket,
        TicketChange(
            service=cast.services[story.service],
            note="Envoyé au mauvais service : transmis au service concerné.",
        ),
        cast.supervisor,
    )


STORIES: dict[str, Callable[[Ticket, Story, Cast], None]] = {
    "new": lambda ticket, story, cast: None,
    "assigned": _assign,
    "reassigned": _reassign,
    "in_progress": _work,
    "waiting": _wait,
    "resolved": _resolve,
    "closed_by_rating": _close_by_rating,
    "closed_by_staff": _close_by_staff,
    "appeal_by_rating": _appeal_by_rating,
    "appeal_by_text": _appeal_by_text,
}
# Plays, in order, with the days ago each begins; more than one of each status.
PLAYS = (
    ("new", 0.05), ("new", 0.4), ("new", 2), ("new", 6), ("new", 9),
    ("assigned", 0.5), ("assigned", 1), ("assigned", 3), ("assigned", 8),
    ("reassigned", 2), ("reassigned", 12),
    ("in_progress", 1), ("in_progress", 3), ("in_progress", 5), ("in_progress", 14),
    ("in_progress", 20),
    ("waiting", 2), ("waiting", 4), ("waiting", 10), ("waiting", 16),
    ("resolved", 1), ("resolved", 2), ("resolved", 4), ("resolved", 6),
    ("resolved", 11),
    ("closed_by_rating", 5), ("closed_by_rating", 9), ("closed_by_rating", 15),
    ("closed_by_staff", 13), ("closed_by_staff", 25), ("closed_by_staff", 30),
    ("appeal_by_rating", 7), ("appeal_by_text", 4), ("appeal_by_text", 12),
    ("appeal_by_rating", 18),
)  # fmt: skip
CHANNELS = ("phone", "sms", "web", "counter", "email", "whatsapp", "ussd")
CATEGORIES = ("pension", "salary", "payment", "delay", "reception", "service", "other")
PRIORITIES = ("normal", "high", "normal", "urgent", "low", "normal")
SERVICE_OF = {
    "pension": "pensions",
    "salary": "salaires",
    "payment": "salaires",
    "delay": "pensions",
    "reception": "accueil",
    "service": "accueil",
    "other": "accueil",
}


def stories() -> list[Story]:
    told = []
    for number, (play, days_ago) in enumerate(PLAYS):
        category = CATEGORIES[number % len(CATEGORIES)]
        told.append(
            Story(
                play=play,
                channel=CHANNELS[number % len(CHANNELS)],
                category=category,
                priority=PRIORITIES[number % len(PRIORITIES)],
                days_ago=days_ago,
                service=SERVICE_OF[category],
                person=number % len(PEOPLE),
            )
        )
    return told


# --- the cast ---------------------------------------------------------------------


def _accounts() -> dict[str, User]:
    users = {}
    for email, role, name, _ in USERS:
        user = db.session.scalar(select(User).filter_by(email=email))
        if user is None:
            user = User(email=email, role=role, name=name)
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
        users[email] = user
    return users


def _services(users: dict[str, User]) -> dict[str, Service]:
    services = {}
    for key, name in SERVICES:
        service = db.session.scalar(select(Service).filter_by(key=key))
        if service is None:
            service = Service(key=key, name=name)
            db.session.add(service)
        services[key] = service
    for email, _, _, keys in USERS:
        for key in keys:
            if services[key] not in users[email].services:
                users[email].services.append(services[key])
    db.session.flush()
    for key, name, phone, email, head in FOCAL_POINTS:
        focal_points.save_focal_point(services[key], name, phone, email, head)
    return services


def _people(admin: User) -> None:
    for person in PEOPLE:
        for phone in person.phones:
            caller = db.session.scalar(select(Caller).filter_by(phone_e164=phone))
            if caller is None:
                db.session.add(Caller(phone_e164=phone, language=person.language))
        db.session.flush()
        fields = {"name": person.name, "matricule": person.matricule}
        fields["email"] = person.email
        change = ProfileChange(fields=fields, phones=list(person.phones))
        change_profile(person_of(person.phones[0]), change, admin)


# --- what a call leaves: a recording that plays -------------------------------------


def _tone(seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A short ringing-tone-like WAV, when no speech synthesiser is installed."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        on = (t % 1.0) < 0.6  # 0.6 s of tone, 0.4 s of silence
        level = 0.3 * (
            math.sin(2 * math.pi * 440 * t) + math.sin(2 * math.pi * 480 * t)
        )
        frames += struct.pack("<h", int(12000 * level) if on else 0)
    out = BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def spoken_wav(text: str) -> bytes:
    """`text` said by Debian's espeak-ng when it is installed, else a tone."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return _tone()
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "demo.wav"
        try:
            subprocess.run(  # noqa: S603 - a fixed program, our own text
                [espeak, "-v", "fr", "-s", "150", "-w", str(target), text],
                check=True,
                capture_output=True,
                timeout=20,
            )
        except (OSError, subprocess.SubprocessError):
            return _tone()
        return target.read_bytes()


def _wav_seconds(audio: bytes) -> int:
    with wave.open(BytesIO(audio)) as wav:
        return max(1, round(wav.getnframes() / wav.getframerate()))


def _line_for(category: str) -> Line:
    """The first of the centre's lines whose menu offers the category."""
    lines = current_lines().lines
    for line in lines:
        if category in {key for key, _ in menu_for(line).categories_for(line)}:
            return line
    return lines[0]


def _recorded_call(
    person: Person, audio: bytes, number: int, agent: User | None, line: Line
) -> tuple[Call, Recording]:
    """A call of `person` and its stored recording (as the fetch job leaves it)."""
    sid = f"CAdemo{number:026d}"
    call = call_for(
        {"CallSid": sid, "From": person.phones[0], "To": line.number},
        line.number,
        current_app.config["DEFAULT_REGION"],
    )
    seconds = _wav_seconds(audio)
    call.status = "completed"
    call.agent_id = agent.id if agent else None
    call.duration = seconds + 40
    call.ended_at = utcnow()
    recording = recording_for(
        {
            "RecordingSid": f"REdemo{number:026d}",
            "RecordingStatus": "completed",
            "RecordingDuration": str(seconds),
        },
        call,
        "call" if agent else "voicemail",
    )
    key = f"{recording.recording_sid}.wav"
    storage = current_app.extensions["recordings.storage_for"](current_app)
    stored = storage.save(key, [audio], max_bytes=50 * 1024 * 1024)
    recording.storage_key = key
    recording.media_format = "wav"
    recording.size_bytes = stored.size
    recording.sha256 = stored.sha256
    recording.media_status = "stored"
    recording.stored_at = utcnow()
    return call, recording


# --- telling the stories -------------------------------------------------------------


def _open(story: Story, number: int, cast: Cast, audio: bytes) -> Ticket:
    person = PEOPLE[story.person]
    line = _line_for(story.category)
    description = DESCRIPTIONS[story.category]
    if story.channel != "phone":
        caller = db.session.scalar(
            select(Caller).filter_by(phone_e164=person.phones[-1])
        )
        # A text comes from the caller; the rest is registered at the desk.
        texted = story.channel in ("sms", "whatsapp", "ussd")
        actor = "caller" if texted else cast.agents["accueil"].email
        ticket = open_ticket(
            caller,
            story.channel,
            story.category,
            description,
            line.number,
            person.language,
            actor,
        )
    else:
        # Every other phone ticket was taken by an agent, who may listen to it.
        agent = cast.agents[story.service] if number % 2 else None
        call, recording = _recorded_call(person, audio, number, agent, line)
        purpose = "request" if agent else "complaint"
        ticket, _ = ticket_for_call(call, purpose, story.category, person.language)
        attach(recording, ticket)
    if story.priority != "normal":
        change_ticket(ticket, TicketChange(priority=story.priority), cast.supervisor)
    return ticket


def _retell_in_time(ticket: Ticket, start: datetime, end: datetime) -> None:
    """Move a story played just now to the days it is told on, then replay the
    SLA clock on those days: its dues, pauses, and whether each was met."""
    events = db.session.scalars(
        select(TicketEvent).filter_by(ticket_id=ticket.id).order_by(TicketEvent.id)
    ).all()
    step = (end - start) / max(len(events), 1)
    # (when it was played, when it is told), in the order it was played.
    moved = []
    for index, event in enumerate(events):
        moved.append((event.at, start + step * index))
        event.at = start + step * index

    def told(played: datetime | None) -> datetime:
        """When something played at `played` is told: with the event before it."""
        before = [new for old, new in moved if played is not None and old <= played]
        return before[-1] if before else start

    for message in db.session.scalars(select(Message).filter_by(ticket_id=ticket.id)):
        message.created_at = told(message.created_at)
        message.updated_at = told(message.updated_at)
        if message.send_after is not None:
            message.send_after = message.created_at
    for call in ticket.calls:
        call.started_at = start - timedelta(minutes=3)
        call.ended_at = start
        if call.agent_id is not None:
            _answered(call)
    for recording in db.session.scalars(
        select(Recording).filter_by(ticket_id=ticket.id)
    ):
        recording.created_at = recording.updated_at = recording.stored_at = start
    ticket.created_at = start
    ticket.updated_at = events[-1].at if events else start
    # The clock again, on the story's own days, through the clock's functions.
    ticket.appeal = False
    ticket.take_charge_met = ticket.resolve_met = None
    ticket.paused_since = None
    ticket.paused_seconds = 0
    ticket.take_charge_due = ticket.resolve_due = None
    ticket.sla_plan = None
    sla_clock.start(ticket)
    for event in events:
        if event.action == "status":
            old, new = event.detail["old"], event.detail["new"]
            sla_clock.status_changed(ticket, old, new, event.at)


def _answered(call: Call) -> None:
    """A call an agent took, timed as app.services.call_times times one: a
    minute in the menu, a short wait, the rest of the three minutes talking."""
    call.wanted_agent_at = call.started_at + timedelta(minutes=1)
    call.wait_seconds = 10 + call.id % 25
    call.answered_at = call.wanted_agent_at + timedelta(seconds=call.wait_seconds)
    call.talk_seconds = round((call.ended_at - call.answered_at).total_seconds())


def _send_waiting_texts(ticket: Ticket) -> None:
    """A progress text waits a few minutes for the next change; in the story
    those minutes have passed: it goes now, through the outbox's own flush."""
    db.session.execute(
        update(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.status == "queued",
            Message.send_after.is_not(None),
        )
        .values(send_after=None)
    )
    db.session.commit()
    flush_outbox(older_than=timedelta(0))


def _tell(story: Story, number: int, cast: Cast, audio: bytes) -> Ticket:
    ticket = _open(story, number, cast, audio)
    STORIES[story.play](ticket, story, cast)
    # Sent first (in-process without Redis), so their events are moved too.
    commit_and_dispatch()
    _send_waiting_texts(ticket)
    now = utcnow()
    # Not all at the same minute of the day: a centre's requests come any time.
    start = now - timedelta(days=story.days_ago, minutes=(number * 97) % 420)
    # A story lasts part of its days, and ends at least an hour ago.
    end = max(
        start,
        min(start + timedelta(days=story.days_ago * 0.6), now - timedelta(hours=1)),
    )
    _retell_in_time(ticket, start, end)
    db.session.commit()
    return ticket


@dataclass
class Seeded:
    users: tuple[tuple[str, str], ...]  # (role, e-mail)
    tickets: int  # told now (0 when told already)
    escalations: int


@contextmanager
def _quiet_texts() -> Iterator[None]:
    """The stories write a hundred-odd texts and notices; with no Twilio account
    each is a log line, which would bury the logins `make run` prints."""
    logger = logging.getLogger("app")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def seed() -> Seeded:
    with _quiet_texts():
        return _seed()


def _seed() -> Seeded:
    users = _accounts()
    services = _services(users)
    db.session.commit()
    logins = tuple((role.value, email) for email, role, _, _ in USERS)
    if db.session.scalar(select(Caller.id).filter_by(phone_e164=SENTINEL)):
        return Seeded(logins, 0, 0)  # told already: nothing twice
    admin = users["admin@ecoute.local"]
    _people(admin)
    db.session.commit()
    cast = Cast(
        supervisor=users["superviseur@ecoute.local"],
        agents={
            "pensions": users["agent@ecoute.local"],
            "accueil": users["agent@ecoute.local"],
            "salaires": users["agent.salaires@ecoute.local"],
        },
        services=services,
    )
    audio = spoken_wav(SPOKEN)
    told = [_tell(story, n, cast, audio) for n, story in enumerate(stories())]
    callers = [
        db.session.scalar(select(Caller).filter_by(phone_e164=person.phones[0]))
        for person in PEOPLE
    ]
    agents = [users[email] for email, role, _, _ in USERS if role == Role.AGENT]
    zone = ZoneInfo(current_app.config["CENTRE_TIMEZONE"])
    add_traffic(callers, current_lines().lines, agents, zone, utcnow())
    db.session.commit()
    sent = sla_alerts.check()
    return Seeded(logins, len(told), sent["escalations"])
