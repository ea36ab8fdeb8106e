"""Who sees which caller data, endpoint by endpoint (issue #10, CONTRACT §6, §7).

One caller has tickets, calls, messages and recordings in two services and in
the centre's intake. Each endpoint that returns caller data is one line of
ENDPOINTS: for each person, the status they get or, for a 200, exactly which of
those rows they see. People: an agent of each service, a supervisor, an admin,
a disabled agent and nobody. The API answers 401 to no or a dead credential and
403 to a right it does not give; another service's ticket is a 404 (its
existence is not shared); pages send a stranger to the sign-in page.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from app import create_app
from app.events import KEEPALIVE, agent_channel
from app.extensions import db
from app.models import Call, Message, Role, Service, User
from app.services.callers import _history_statements, history_for
from app.services.presence import set_status
from config import TestingConfig
from tests.conftest import CALLER, LINE
from tests.factories import (
    PASSWORD,
    make_caller,
    make_ticket,
    make_token,
    make_user,
    stored_attachment,
    stored_recording,
)
from tests.factories import sid as new_sid
from tests.test_migrations import flask_env, postgres_schema, run_flask
from tests.test_queries import counting

PEOPLE = ("agent_p", "agent_s", "supervisor", "admin", "disabled", "nobody")

# What each kind of person sees of the caller: agent_p works in pensions, agent_s
# in salaries; agent_p took call Ctook, which belongs to a salaries ticket.
TICKETS = {"agent_p": {"Tp", "Ti"}, "agent_s": {"Ts", "Ti"}}
CALLS = {
    "agent_p": {"Cp", "Ci", "Cfree", "Ctook"},
    "agent_s": {"Cs", "Ci", "Cfree", "Ctook", "Cfollow"},
}
MESSAGES = {"agent_p": {"Mp", "Mi", "Mfree"}, "agent_s": {"Ms", "Mi"}}
HEARD = {"agent_p": {"Rp"}, "agent_s": {"Rs"}}
ALL_TICKETS = {"Tp", "Ts", "Ti"}
ALL_CALLS = {"Cp", "Cs", "Ci", "Cfree", "Ctook", "Cfollow"}
ALL_MESSAGES = {"Mp", "Ms", "Mi", "Mfree"}
ALL_RECORDINGS = {"Rp", "Rs"}


Seen = set[str] | int  # the labels a 200 shows, or the status instead


def _seen(value: Seen) -> frozenset[str] | int:
    return value if isinstance(value, int) else frozenset(value)


def api(agent_p: Seen, agent_s: Seen, staff: Seen) -> dict[str, frozenset | int]:
    """Supervisors and admins see what `staff` says; a dead token or none: 401."""
    return {
        "agent_p": _seen(agent_p),
        "agent_s": _seen(agent_s),
        "supervisor": _seen(staff),
        "admin": _seen(staff),
        "disabled": 401,
        "nobody": 401,
    }


def pages(agent_p: Seen, agent_s: Seen, staff: Seen) -> dict[str, frozenset | int]:
    """The pages send the disabled and nobody to the sign-in page."""
    return {**api(agent_p, agent_s, staff), "disabled": 302, "nobody": 302}


HISTORY = api(
    TICKETS["agent_p"] | CALLS["agent_p"] | MESSAGES["agent_p"],
    TICKETS["agent_s"] | CALLS["agent_s"] | MESSAGES["agent_s"],
    ALL_TICKETS | ALL_CALLS | ALL_MESSAGES,
)


@dataclass
class World:
    """The caller's rows, by label, and the people."""

    people: dict[str, User]
    labels: dict[str, str]  # marker (reference, sid, id) -> label
    ids: dict[str, object]  # label -> what a URL names it by


@pytest.fixture
def world(app) -> World:
    """The caller's rows in pensions (p), salaries (s), the intake (i), and none."""
    pensions = Service(key="pensions", name="Pensions")
    salaries = Service(key="salaries", name="Salaires")
    db.session.add_all([pensions, salaries])
    people = {
        "agent_p": make_user("awa@example.org", Role.AGENT),
        "agent_s": make_user("koffi@example.org", Role.AGENT),
        "supervisor": make_user("chef@example.org", Role.SUPERVISOR),
        "admin": make_user("admin@example.org", Role.ADMIN),
        "disabled": make_user("parti@example.org", Role.AGENT),
    }
    people["agent_p"].services.append(pensions)
    people["disabled"].services.append(pensions)
    people["agent_s"].services.append(salaries)
    caller = make_caller(CALLER)

    def call(label: str, agent: User | None = None) -> Call:
        row = Call(call_sid=new_sid("CA"), caller=caller, line=LINE, from_raw=CALLER)
        row.agent_id = agent.id if agent else None
        db.session.add(row)
        db.session.flush()
        calls[label] = row
        return row

    calls: dict[str, Call] = {}
    tp = make_ticket(caller, line=LINE, service=pensions, assignee=people["agent_p"])
    ts = make_ticket(caller, line=LINE, service=salaries, assignee=people["agent_s"])
    ti = make_ticket(caller, line=LINE)  # the intake: no service yet
    tp.origin_call_id = call("Cp").id
    tp.calls.append(calls["Cp"])
    ts.origin_call_id = call("Cs").id  # opened it; listed nowhere else
    ti.origin_call_id = call("Ci").id
    ti.calls.append(calls["Ci"])
    call("Cfree")  # linked to no ticket
    ts.calls.append(call("Ctook", agent=people["agent_p"]))
    ts.calls.append(call("Cfollow"))  # a follow-up call about Ts
    messages = {
        "Mp": tp.id,
        "Ms": ts.id,
        "Mi": ti.id,
        "Mfree": None,  # a text that named no ticket
    }
    labels: dict[str, str] = {}
    for label, ticket_id in messages.items():
        message = Message(
            message_sid=new_sid("SM"),
            ticket_id=ticket_id,
            caller_id=caller.id,
            direction="inbound",
            to_number=LINE,
            from_number=CALLER,
            body=f"body of {label}",
            status="received",
        )
        db.session.add(message)
        labels[message.message_sid] = label
    ids: dict[str, object] = {}
    for label, ticket, call_label in (("Rp", tp, "Cp"), ("Rs", ts, "Cs")):
        recording = stored_recording(app, calls[call_label], ticket.id)
        db.session.add(recording)
        db.session.flush()
        labels[f"recording:{recording.id}"] = label
        ids[label] = recording.id
    # A pay slip the citizen e-mailed with the salaries request (issue #14).
    ids["As"] = stored_attachment(ts.id, "bulletin.pdf").id
    for label, ticket in (("Tp", tp), ("Ts", ts), ("Ti", ti)):
        labels[ticket.display_reference] = label
        ids[label] = ticket.display_reference
    for label, row in calls.items():
        labels[row.call_sid] = label
    db.session.commit()
    return World(people, labels, ids)


# --- how each person asks, and what an answer shows --------------------------------


def api_as(client: FlaskClient, world: World, who: str) -> dict[str, str]:
    """Bearer headers; the disabled agent's token was made before they left."""
    if who == "nobody":
        return {}
    user = world.people[who]
    token = make_token(user)
    if who == "disabled":
        user.active = False
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def page_as(client: FlaskClient, world: World, who: str) -> dict[str, str]:
    """A browser session; the disabled agent signed in before they left."""
    if who != "nobody":
        user = world.people[who]
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 302, who
        if who == "disabled":
            user.active = False
            db.session.commit()
    return {}


def json_rows(world: World, response: TestResponse) -> set[str]:
    return body_rows(world, response.get_json())


def body_rows(world: World, body: dict) -> set[str]:
    """The labels of every ticket, call, message and recording in a JSON body."""
    tickets = [body] if "reference" in body else body.get("tickets", [])
    return (
        {world.labels[ticket["reference"]] for ticket in tickets}
        | {world.labels[call["call_sid"]] for call in body.get("calls", [])}
        | {world.labels[text["message_sid"]] for text in body.get("messages", [])}
        | {
            world.labels[f"recording:{recording['id']}"]
            for recording in body.get("recordings", [])
        }
    )


def html_rows(world: World, response: TestResponse) -> set[str]:
    """The labels of the references and SIDs in a page's tables (not in the
    search box, which repeats what was typed)."""
    page = response.get_data(as_text=True)
    rows = " ".join(re.findall(r"<tbody>(.*?)</tbody>", page, re.DOTALL))
    return {label for marker, label in world.labels.items() if marker in rows}


def htmx_as(client: FlaskClient, world: World, who: str) -> dict[str, str]:
    """A session, asking as htmx does: the results alone."""
    return {**page_as(client, world, who), "HX-Request": "true"}


def csv_rows(world: World, response: TestResponse) -> set[str]:
    """The labels of the references in an export's first column."""
    lines = response.get_data(as_text=True).splitlines()[1:]
    return {world.labels[line.split(",")[0]] for line in lines}


def recording_links(world: World, response: TestResponse) -> set[str]:
    page = response.get_data(as_text=True)
    return {
        world.labels[f"recording:{recording_id}"]
        for recording_id in re.findall(r'href="/recordings/(\d+)"', page)
    }


def no_rows(world: World, response: TestResponse) -> set[str]:
    response.get_data()
    response.close()
    return set()


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # {phone} and the labels of world.ids are filled in
    ask: Callable[[FlaskClient, World, str], dict[str, str]]
    rows: Callable[[World, TestResponse], set[str]]
    expected: dict  # who -> status, or the labels seen with a 200


TP = {"Tp", "Cp", "Mp", "Rp"}  # the pensions ticket's detail
TS = {"Ts", "Ctook", "Cfollow", "Ms", "Rs"}  # the salaries ticket's detail

LISTED = api(TICKETS["agent_p"], TICKETS["agent_s"], ALL_TICKETS)
# Administration: admins only; supervisors too get 403 (accounts, passwords).
ADMIN_ONLY = {**pages(403, 403, set()), "supervisor": 403}
DESK = pages(TICKETS["agent_p"], TICKETS["agent_s"], ALL_TICKETS)

ENDPOINTS = [
    Endpoint("api history", "/api/callers/{phone}/history", api_as, json_rows, HISTORY),
    Endpoint(
        "api history, session",
        "/api/callers/{phone}/history",
        page_as,
        json_rows,
        HISTORY,
    ),
    # The profile shows no rows; both agents see the caller (the intake's Ti).
    Endpoint(
        "api caller",
        "/api/callers/{phone}",
        api_as,
        json_rows,
        api(set(), set(), set()),
    ),
    Endpoint("api tickets", "/api/tickets", api_as, json_rows, LISTED),
    Endpoint(
        "api tickets by phone", "/api/tickets?phone={phone}", api_as, json_rows, LISTED
    ),
    Endpoint("api ticket Tp", "/api/tickets/{Tp}", api_as, json_rows, api(TP, 404, TP)),
    Endpoint("api ticket Ts", "/api/tickets/{Ts}", api_as, json_rows, api(404, TS, TS)),
    # Listening: the ticket's assignee or the call's agent (CONTRACT §6).
    Endpoint(
        "api audio Rp",
        "/api/recordings/{Rp}/audio",
        api_as,
        no_rows,
        api(set(), 403, set()),
    ),
    Endpoint(
        "api audio Rs",
        "/api/recordings/{Rs}/audio",
        api_as,
        no_rows,
        api(403, set(), set()),
    ),
    Endpoint("desk", "/", page_as, html_rows, DESK),
    Endpoint("desk search by phone", "/?q={phone}", page_as, html_rows, DESK),
    Endpoint(
        "desk search Ts", "/?q={Ts}", page_as, html_rows, pages(set(), {"Ts"}, {"Ts"})
    ),
    # The ticket page: another service's ticket is a 404, as in the API.
    Endpoint(
        "ticket page Tp", "/tickets/{Tp}", page_as, no_rows, pages(set(), 404, set())
    ),
    Endpoint(
        "ticket page Ts", "/tickets/{Ts}", page_as, no_rows, pages(404, set(), set())
    ),
    Endpoint(
        "ticket page Ti", "/tickets/{Ti}", page_as, no_rows, pages(set(), set(), set())
    ),
    # A file of the salaries ticket: whoever sees the ticket, as its page.
    Endpoint(
        "attachment of Ts",
        "/tickets/{Ts}/attachments/{As}",
        page_as,
        no_rows,
        pages(404, set(), set()),
    ),
    # The work queue: filters and saved views narrow what one may see, never widen.
    Endpoint("queue open by due", "/?status=open&sort=due", page_as, html_rows, DESK),
    Endpoint(
        "queue salaries",
        "/?service=salaries",
        page_as,
        html_rows,
        pages(set(), {"Ts"}, {"Ts"}),
    ),
    Endpoint(
        "queue unassigned",
        "/?assignee=nobody",
        page_as,
        html_rows,
        pages(*[{"Ti"}] * 3),
    ),
    # htmx asked without a session: 401 with HX-Redirect to the sign-in page
    # (a redirect would swap the sign-in form into the results).
    Endpoint(
        "queue results (htmx)",
        "/?status=open",
        htmx_as,
        html_rows,
        {**DESK, "disabled": 401, "nobody": 401},
    ),
    Endpoint("queue export", "/tickets/export.csv", page_as, csv_rows, DESK),
    # The statistics exports (CONTRACT §10): supervisors and admins only.
    Endpoint(
        "api stats export csv",
        "/api/tickets/export.csv?from=2000-01-01&to=2999-12-31",
        api_as,
        csv_rows,
        api(403, 403, ALL_TICKETS),
    ),
    Endpoint(
        "api stats export csv, session",
        "/api/tickets/export.csv?from=2000-01-01&to=2999-12-31",
        page_as,
        csv_rows,
        api(403, 403, ALL_TICKETS),
    ),
    Endpoint(
        "api stats export xlsx",
        "/api/tickets/export.xlsx?from=2000-01-01&to=2999-12-31",
        api_as,
        no_rows,
        api(403, 403, set()),
    ),
    # The figures (counts only, no caller's datum): supervisors and admins.
    Endpoint(
        "api stats",
        "/api/stats?from=2000-01-01&to=2999-12-31",
        api_as,
        no_rows,
        api(403, 403, set()),
    ),
    Endpoint(
        "queue export salaries",
        "/tickets/export.csv?service=salaries",
        page_as,
        csv_rows,
        pages(set(), {"Ts"}, {"Ts"}),
    ),
    Endpoint(
        "request form", "/tickets/new", page_as, no_rows, pages(set(), set(), set())
    ),
    Endpoint(
        "recordings list",
        "/recordings",
        page_as,
        recording_links,
        pages(403, 403, ALL_RECORDINGS),
    ),
    Endpoint(
        "recording player Rp",
        "/recordings/{Rp}",
        page_as,
        no_rows,
        pages(set(), 403, set()),
    ),
    Endpoint(
        "supervision (waiting callers)",
        "/softphone/supervision",
        page_as,
        no_rows,
        pages(403, 403, set()),
    ),
    # Counts only, never a caller: supervisors and admins.
    Endpoint("dashboard", "/stats", page_as, no_rows, pages(403, 403, set())),
    # Counts and agents' names, never a caller's datum (its tables hold none of
    # the world's references or SIDs): supervisors and admins.
    Endpoint(
        "wallboard", "/stats/wallboard", page_as, html_rows, pages(403, 403, set())
    ),
    Endpoint(
        "wallboard tiles",
        "/stats/wallboard/live",
        page_as,
        html_rows,
        pages(403, 403, set()),
    ),
    Endpoint(
        "monthly report", "/stats/report", page_as, no_rows, pages(403, 403, set())
    ),
    # The caller page: the person's tickets, and the calls by their SIDs.
    Endpoint(
        "caller page",
        "/callers/{phone}",
        page_as,
        html_rows,
        pages(
            TICKETS["agent_p"] | CALLS["agent_p"],
            TICKETS["agent_s"] | CALLS["agent_s"],
            ALL_TICKETS | ALL_CALLS,
        ),
    ),
    Endpoint(
        "recording player Rs",
        "/recordings/{Rs}",
        page_as,
        no_rows,
        pages(403, set(), set()),
    ),
    Endpoint("admin users", "/admin/users", page_as, html_rows, ADMIN_ONLY),
    Endpoint("admin user", "/admin/users/1", page_as, html_rows, ADMIN_ONLY),
    Endpoint("admin services", "/admin/services", page_as, html_rows, ADMIN_ONLY),
    Endpoint(
        "admin service", "/admin/services/pensions", page_as, html_rows, ADMIN_ONLY
    ),
    Endpoint(
        "admin configuration", "/admin/configuration", page_as, html_rows, ADMIN_ONLY
    ),
]


def _url(endpoint: Endpoint, world: World) -> str:
    return endpoint.path.format(phone=CALLER, **world.ids)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_who_sees_what(client, world, endpoint, who):
    headers = endpoint.ask(client, world, who)
    response = client.get(_url(endpoint, world), headers=headers)
    expected = endpoint.expected[who]
    if isinstance(expected, int):
        assert response.status_code == expected, response.get_data(as_text=True)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login")
        elif endpoint.path.startswith("/api/"):
            assert response.get_json()["error"]["code"]
        return
    assert response.status_code == 200
    assert endpoint.rows(world, response) == expected


# --- the screen-pop: pushed to whoever is rung, through the real webhooks ----------


SCREEN_POP = {
    "agent_p": HISTORY["agent_p"] | HEARD["agent_p"],
    "agent_s": HISTORY["agent_s"] | HEARD["agent_s"],
    "supervisor": HISTORY["supervisor"] | ALL_RECORDINGS,
    "admin": HISTORY["admin"] | ALL_RECORDINGS,
}


@pytest.mark.parametrize("who", ["agent_p", "agent_s", "supervisor", "admin"])
def test_the_screen_pop_shows_what_the_agent_rung_may_see(app, world, twilio_post, who):
    set_status(world.people[who], "available")
    db.session.commit()
    stream = app.extensions["events"].subscribe(agent_channel(world.people[who].id))
    events = stream.messages(0.05)
    assert next(events) is KEEPALIVE
    form = {"CallSid": new_sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    response = twilio_post(
        "/voice/menu?lang=fr&attempt=1", **form, CallStatus="in-progress", Digits="0"
    )
    assert response.status_code == 200
    event, data = next(events)
    events.close()
    assert event == "screenpop"
    # The ringing call is the caller's newest: not one of the world's rows.
    assert data["calls"][0]["call_sid"] == form["CallSid"]
    shown = body_rows(world, {**data, "calls": data["calls"][1:]})
    assert shown == SCREEN_POP[who]


def test_a_disabled_agent_is_never_rung(app, world, twilio_post):
    disabled = world.people["disabled"]
    set_status(disabled, "available")
    disabled.active = False
    db.session.commit()
    stream = app.extensions["events"].subscribe(agent_channel(disabled.id))
    events = stream.messages(0.05)
    form = {"CallSid": new_sid("CA"), "From": CALLER, "To": LINE}
    twilio_post("/voice/incoming", **form, CallStatus="ringing")
    twilio_post(
        "/voice/menu?lang=fr&attempt=1", **form, CallStatus="in-progress", Digits="0"
    )
    assert next(events) is KEEPALIVE
    events.close()


@pytest.mark.parametrize("who", ["agent_p", "supervisor"])
def test_an_agents_history_is_still_four_statements(world, who):
    viewer_id = world.people[who].id
    db.session.expunge_all()
    viewer = db.session.get(User, viewer_id)  # as the request's login loads it
    with counting() as statements:
        history_for(CALLER, viewer)
    # The caller; tickets with their links; calls; messages: the filters are
    # subqueries of the same statements.
    assert len(statements) == 4, statements


# Endpoints that return no caller data; the screen-pop stream is tested above.
NO_CALLER_DATA = {
    "static",
    "auth.login",
    "api.openapi_document",
    "softphone.page",
    "softphone.static",
    "softphone.voice_sdk",
    "softphone.token",
    "softphone.events",
    "recordings.wavesurfer",
    "vendor.package",
    "admin.index",  # a redirect to admin.users, which is in ENDPOINTS
    "tickets.act_again",  # a redirect to the ticket page, which checks
    "public_stats.figures",  # counts of five or more only: tests/test_public_stats.py
    # Open311 (CONTRACT §9.4): categories, and a request's status and dates with
    # no number, e-mail, name, address or words of the citizen: tests/test_open311.py
    "open311.services",
    "open311.requests",
    "open311.request_status",
    "open311.unknown",  # the spec's 404 for any other address
    "public.index",  # the centre's lines, hours and address: the same for all
    "public.request_form",  # an empty form; what it files is a write
}
# Endpoints whose key is not a login: each has its own tests of who gets in.
OWN_KEY = {
    "focal.show": "tests/test_focal_points.py",  # a focal point's personal link
    # What this browser itself posted before its session ended, shown once.
    "resend.kept": "tests/test_resend_forms.py",
    # POST only, keyed by USSD_SECRET; a status only to the phone that filed it.
    "ussd.session": "tests/test_ussd.py",
    # A request's status, only to whoever gives the phone or e-mail that filed it.
    "public.status": "tests/test_public_pages.py",
    "public_api.request_status": "tests/test_public_api.py",
}


def test_every_page_and_api_read_is_in_the_matrix(app):
    """A new GET endpoint must join ENDPOINTS (or say it shows no caller data)."""
    urls = app.url_map.bind("localhost")
    placeholders = {"phone": CALLER, "Tp": "1234-5674", "Ts": "1234-5674"}
    placeholders["Ti"] = "1234-5674"
    placeholders |= {"Rp": 1, "Rs": 2, "As": 3}
    covered = {
        urls.match(endpoint.path.split("?")[0].format(**placeholders), "GET")[0]
        for endpoint in ENDPOINTS
    }
    reads = {
        rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods
    }
    assert reads - covered - NO_CALLER_DATA - set(OWN_KEY) == set()


# --- on PostgreSQL: an agent's history reads indexes, never a whole table --------

FILL = """
INSERT INTO services (id, key, name) SELECT g, 's' || g, 'S' || g
  FROM generate_series(1, 10) g;
INSERT INTO users (id, email, role, password_hash, active, failed_logins, created_at)
  SELECT g, 'u' || g || '@example.org', 'agent', 'x', true, 0, now()
  FROM generate_series(1, 50) g;
INSERT INTO user_services SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;
INSERT INTO callers (id, phone_e164, sms_opt_out, uses_whatsapp, created_at)
  SELECT g, '+22901' || lpad(g::text, 8, '0'), false, false, now()
  FROM generate_series(1, :n / 5) g;
INSERT INTO calls (id, call_sid, caller_id, from_raw, line, direction, status,
                   started_at, agent_id)
  SELECT g, 'CA' || g, 1 + g % (:n / 5), '', 'L', 'inbound', 'completed',
         now() - g * interval '1 minute', CASE WHEN g % 3 = 0 THEN 1 + g % 50 END
  FROM generate_series(1, 2 * :n) g;
INSERT INTO tickets (id, reference, kind, status, caller_id, language, channel,
                     service_id, assignee_id, origin_call_id, created_at, updated_at)
  SELECT g, lpad(g::text, 8, '0'), 'complaint', 'new', 1 + (2 * g) % (:n / 5),
         'fr', 'phone', CASE WHEN g % 4 > 0 THEN 1 + g % 10 END,
         CASE WHEN g % 5 = 0 THEN 1 + g % 50 END, 2 * g,
         now() - g * interval '1 minute', now()
  FROM generate_series(1, :n) g;
INSERT INTO ticket_calls SELECT g, 2 * g FROM generate_series(1, :n) g;
INSERT INTO messages (id, ticket_id, caller_id, direction, to_number, body, status,
                      channel, created_at, updated_at)
  SELECT g, CASE WHEN g % 3 > 0 THEN 1 + g % :n END, 1 + g % (:n / 5), 'outbound',
         'x', 'b', 'sent', 'sms', now() - g * interval '1 minute', now()
  FROM generate_series(1, 3 * :n / 2) g;
"""
WATCHED = {"tickets", "calls", "messages", "ticket_calls"}


def _scans(plan: dict) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.postgres
def test_an_agents_history_reads_only_indexes_on_postgres(tmp_path, monkeypatch):
    with postgres_schema() as url:
        run_flask("db", "upgrade", env=flask_env(tmp_path, DATABASE_URL=url))
        monkeypatch.setattr("app.INSTANCE", tmp_path / "instance")
        config = type(
            "PostgresTestingConfig",
            (TestingConfig,),
            {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None},
        )
        app = create_app(config)
        with app.app_context():
            try:
                connection = db.session.connection()
                for statement in filter(str.strip, FILL.split(";")):
                    connection.execute(text(statement), {"n": 20000})
                connection.execute(text("ANALYZE"))
                caller = connection.scalar(
                    text("SELECT caller_id FROM tickets WHERE id = 7")
                )
                for statement in _history_statements(True):
                    compiled = statement.compile(dialect=connection.dialect)
                    params = {**compiled.params, "person_id": caller, "viewer_id": 3}
                    plan = connection.exec_driver_sql(
                        f"EXPLAIN (FORMAT JSON) {compiled}", params
                    ).scalar()[0]["Plan"]
                    scans = _scans(plan)
                    assert any("Index" in kind for kind, _ in scans), scans
                    whole = [
                        table
                        for kind, table in scans
                        if kind == "Seq Scan" and table in WATCHED
                    ]
                    assert whole == [], (str(compiled), scans)
            finally:
                db.session.remove()
                db.engine.dispose()
