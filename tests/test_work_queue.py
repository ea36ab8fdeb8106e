"""The work queue at `/`: filters, saved views, orders, pages, counts, CSV export."""

import base64
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import g
from flask_babel import refresh
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Service, Ticket
from app.services import work_queue
from tests.conftest import CALLER, HOTLINE, LINE
from tests.factories import PASSWORD, make_caller, make_ticket, make_user

NOW = datetime.now(UTC)
PAST = NOW - timedelta(hours=3)
LATER = NOW + timedelta(days=3)
DASH = "\N{EN DASH}"  # between the first and last row shown


def login(client, user) -> None:
    g.pop("_login_user", None)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def get(client, url: str, **kwargs):
    """A request on its own: the test's app context would keep the previous
    request's user and language (flask-login and flask-babel cache them in g)."""
    g.pop("_login_user", None)
    refresh()
    return client.get(url, **kwargs)


def rows(response) -> list[str]:
    """The references listed in the results' table, in their order."""
    page = response.get_data(as_text=True)
    body = " ".join(re.findall(r"<tbody>(.*?)</tbody>", page, re.DOTALL))
    return re.findall(r'class="reference">(\d{4}-\d{4})<', body)


@pytest.fixture
def people(app):
    pensions = Service(key="pensions", name="Direction des pensions")
    salaries = Service(key="salaries", name="Direction des salaires")
    db.session.add_all([pensions, salaries])
    chef = make_user("chef@example.org", Role.SUPERVISOR)
    awa = make_user("awa@example.org", Role.AGENT)
    koffi = make_user("koffi@example.org", Role.AGENT)
    awa.services.append(pensions)
    koffi.services.append(salaries)
    db.session.commit()
    return {
        "chef": chef,
        "awa": awa,
        "koffi": koffi,
        "pensions": pensions,
        "salaries": salaries,
    }


@pytest.fixture
def queue(people):
    """Tickets that each answer one filter, by name."""
    caller = make_caller(CALLER)
    other = make_caller("+2290167000000")
    made = {
        # An urgent phone call in the intake, its taking in charge overdue.
        "late": make_ticket(
            caller,
            line=LINE,
            category="payment",
            priority="urgent",
            take_charge_due=PAST,
            resolve_due=LATER,
            created_at=NOW - timedelta(days=1),
        ),
        # A pensions ticket for awa, in progress, not late.
        "awas": make_ticket(
            caller,
            line=LINE,
            category="pension",
            status="in_progress",
            service=people["pensions"],
            assignee=people["awa"],
            take_charge_met=True,
            take_charge_due=PAST,
            resolve_due=LATER,
            created_at=NOW - timedelta(days=2),
        ),
        # A salaries ticket waiting for the citizen: its due passed, but paused.
        "waiting": make_ticket(
            other,
            line=HOTLINE,
            category="salary",
            status="waiting",
            channel="sms",
            priority="high",
            service=people["salaries"],
            assignee=people["koffi"],
            resolve_due=PAST - timedelta(hours=2),
            created_at=NOW - timedelta(days=3),
        ),
        # An appeal, escalated, at the counter.
        "appeal": make_ticket(
            other,
            line=LINE,
            category="delay",
            status="reopened",
            channel="counter",
            priority="low",
            appeal=True,
            escalation_level=1,
            service=people["salaries"],
            created_at=NOW - timedelta(days=4),
        ),
        # Resolved long ago: never overdue, whatever its dues.
        "done": make_ticket(
            caller,
            line=LINE,
            category="payment",
            status="resolved",
            resolve_due=PAST,
            created_at=NOW - timedelta(days=40),
        ),
    }
    return {name: ticket.display_reference for name, ticket in made.items()}


def names(queue, references) -> set[str]:
    by_reference = {reference: name for name, reference in queue.items()}
    return {by_reference[reference] for reference in references}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"late", "awas", "waiting", "appeal", "done"}),
        ("status=open", {"late", "awas", "waiting", "appeal"}),
        ("status=waiting", {"waiting"}),
        ("priority=urgent", {"late"}),
        ("category=pension", {"awas"}),
        ("service=salaries", {"waiting", "appeal"}),
        ("service=none", {"late", "done"}),
        ("assignee=me", set()),  # the supervisor has none
        ("assignee=nobody", {"late", "appeal", "done"}),
        (f"line={HOTLINE.replace('+', '%2B')}", {"waiting"}),
        ("channel=counter", {"appeal"}),
        ("overdue=1", {"late"}),
        ("escalated=1", {"appeal"}),
        ("appeals=1", {"appeal"}),
        ("q=01 67 00 00 00", {"waiting", "appeal"}),
        ("status=open&channel=phone&service=none", {"late"}),
    ],
)
def test_each_filter_narrows_the_list(client, people, queue, query, expected):
    login(client, people["chef"])
    response = get(client, f"/?{query}")
    assert response.status_code == 200
    assert names(queue, rows(response)) == expected


def test_a_person_in_charge_me_or_by_id(app, client, people, queue):
    login(client, people["awa"])
    assert names(queue, rows(get(client, "/?assignee=me"))) == {"awas"}
    koffi = people["koffi"].id
    assert names(queue, rows(get(client, f"/?assignee={koffi}"))) == set()
    supervisor = app.test_client()
    login(supervisor, people["chef"])
    assert names(queue, rows(get(supervisor, f"/?assignee={koffi}"))) == {"waiting"}


def test_search_by_reference(client, people, queue):
    login(client, people["chef"])
    reference = queue["appeal"]
    assert rows(get(client, f"/?q={reference.replace('-', '')}")) == [reference]


def test_a_request_filed_by_e_mail_shows_its_address(client, people):
    make_ticket(channel="email", contact_email="awa@example.org")
    make_ticket(channel="phone")  # a withheld number
    login(client, people["chef"])

    page = get(client, "/").get_data(as_text=True)

    assert "awa@example.org" in page
    assert "masqué" in page  # the number withheld, in the staff's French


def test_created_dates_are_the_centres_days(client, people):
    """23:30 UTC on 1 March is 00:30 on 2 March in Porto-Novo (UTC+1)."""
    late_evening = make_ticket(
        make_caller(), created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    ).display_reference
    login(client, people["chef"])
    assert rows(get(client, "/?created_from=2026-03-02")) == [late_evening]
    assert rows(get(client, "/?created_to=2026-03-01")) == []
    assert rows(get(client, "/?created_from=2026-03-02&created_to=2026-03-02")) == [
        late_evening
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["late", "awas", "waiting", "appeal", "done"]),
        ("oldest", ["done", "appeal", "waiting", "awas", "late"]),
        # The nearest pending due first; the finished, and the dueless, last.
        ("due", ["waiting", "late", "awas", "appeal", "done"]),
        ("priority", ["late", "waiting", "done", "awas", "appeal"]),
    ],
)
def test_the_orders(client, people, queue, sort, expected):
    login(client, people["chef"])
    assert rows(get(client, f"/?sort={sort}")) == [queue[name] for name in expected]


@pytest.mark.parametrize("sort", work_queue.SORTS)
def test_pages_follow_a_cursor_and_say_where_they_are(
    client, people, queue, monkeypatch, sort
):
    monkeypatch.setattr(work_queue, "PAGE_SIZE", 2)
    login(client, people["chef"])
    seen: list[str] = []
    url = f"/?sort={sort}"
    for first, last in ((1, 2), (3, 4), (5, 5)):
        page = get(client, url)
        text = page.get_data(as_text=True)
        assert (
            f"{first}{DASH}{last} of 5" in text or f"{first}{DASH}{last} sur 5" in text
        )
        seen += rows(page)
        following = re.search(r'href="([^"]*after=[^"]+)" rel="next"', text)
        if last == 5:
            assert following is None
        else:
            url = following.group(1).replace("&amp;", "&")
    assert sorted(seen) == sorted(queue.values())
    assert len(seen) == len(set(seen))
    # The order of the whole list, page after page, is the one-page order.
    monkeypatch.setattr(work_queue, "PAGE_SIZE", 50)
    assert rows(get(client, f"/?sort={sort}")) == seen


def test_a_new_ticket_never_shifts_a_row_onto_the_next_page(
    client, people, queue, monkeypatch
):
    monkeypatch.setattr(work_queue, "PAGE_SIZE", 2)
    login(client, people["chef"])
    first = get(client, "/").get_data(as_text=True)
    following = re.search(r'href="/\?after=([^"]+)" rel="next"', first).group(1)
    make_ticket(make_caller("+2290166000000"))
    assert rows(get(client, f"/?after={following}")) == [
        queue["waiting"],
        queue["appeal"],
    ]


def cursor_of(*keys) -> str:
    return base64.urlsafe_b64encode(
        json.dumps(["newest", list(keys)]).encode()
    ).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "eyJhIjoxfQ",
        "W10",
        cursor_of("2026-03-01T10:00:00", 5),  # no time zone
        cursor_of("2026-03-01T10:00:00+00:00", 2**70),  # not a database integer
        cursor_of("0001-01-01T00:00:00+14:00", 5),  # before the first instant
        cursor_of("2026-03-01T10:00:00+00:00", "5"),
        cursor_of("2026-03-01T10:00:00+00:00", True),
    ],
)
def test_a_cursor_not_ours_is_refused_with_a_message(client, people, queue, cursor):
    login(client, people["chef"])
    response = get(client, f"/?after={cursor}&lang=en")
    assert response.status_code == 400
    assert "Filter not understood (page)" in response.get_data(as_text=True)
    assert len(rows(response)) == 5  # the first page instead


def test_a_cursor_of_another_order_is_refused(client, people, queue, monkeypatch):
    monkeypatch.setattr(work_queue, "PAGE_SIZE", 2)
    login(client, people["chef"])
    text = get(client, "/?sort=due").get_data(as_text=True)
    cursor = re.search(r"after=([^\"&]+)", text).group(1)
    assert get(client, f"/?sort=oldest&after={cursor}").status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "priority=9",
        "category=nope",
        "service=nope",
        "assignee=99999",
        "assignee=someone",
        "line=%2B1555",
        "channel=fax",
        "created_from=2026-13-01",
        "created_to=yesterday",
        "created_from=2026-03-02&created_to=2026-03-01",
        "created_from=0001-01-01",
        "created_to=9999-12-31",
        "overdue=maybe",
        "sort=random",
        "q=hello",
    ],
)
def test_bad_filter_values_get_a_message_not_a_500(client, people, queue, query):
    login(client, people["chef"])
    response = get(client, f"/?{query}&lang=en")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Filter not understood" in text or "Search by reference" in text
    # The same through htmx: a 200 (htmx swaps no 4xx) whose results say it.
    partial = get(client, f"/?{query}&lang=en", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert 'role="alert"' in partial.get_data(as_text=True)


def test_an_agent_sees_only_their_services_whatever_the_filters(client, people, queue):
    login(client, people["awa"])
    assert names(queue, rows(get(client, "/"))) == {"late", "awas", "done"}
    assert rows(get(client, "/?service=salaries")) == []
    assert rows(get(client, f"/?q={queue['appeal']}")) == []
    assert rows(get(client, "/?appeals=1")) == []
    text = get(client, "/?lang=en").get_data(as_text=True)
    assert f"1{DASH}3 of 3" in text


def test_saved_views_are_presets_with_their_counts(client, people, queue):
    login(client, people["koffi"])
    text = get(client, "/?lang=en").get_data(as_text=True)
    views = re.search(r'<nav id="saved-views".*?</nav>', text, re.DOTALL).group(0)
    counts = dict(re.findall(r'>\s*([^<>]+?) <span class="count">(\d+)</span>', views))
    # koffi sees the intake's two, and salaries' two (the waiting one his).
    assert counts == {
        "Mine": "1",
        "Unassigned": "2",  # the late intake ticket and the appeal; done is closed
        "Overdue": "1",
        "Waiting for the citizen": "1",
        "Appeals": "1",
    }
    overdue = re.search(r'href="([^"]+)">Overdue', views).group(1)
    response = get(client, overdue.replace("&amp;", "&"))
    assert names(queue, rows(response)) == {"late"}
    views = re.search(
        r'<nav id="saved-views".*?</nav>', response.get_data(as_text=True), re.DOTALL
    ).group(0)
    current = re.search(r'aria-current="page">([^<]+)<', views)
    assert current.group(1).strip() == "Overdue"


def test_values_read_as_words_with_due_badges_and_links(client, people, queue):
    login(client, people["chef"])
    text = get(client, "/?lang=fr").get_data(as_text=True)
    assert "En attente du citoyen" in text  # waiting, in French
    words = re.sub(r"<[^>]+>", " ", text.split("<tbody>")[1])
    assert "En cours" in words
    assert "in_progress" not in words
    assert re.search(r'class="badge late">en retard de \d+', text)
    assert f'href="/tickets/{queue["late"]}"' in text
    assert "Africa/Porto-Novo" in text


def test_htmx_gets_the_results_alone_with_the_views_and_languages_again(
    client, people, queue
):
    login(client, people["chef"])
    htmx = {"HX-Request": "true"}
    response = get(client, "/?status=waiting", headers=htmx)
    text = response.get_data(as_text=True)
    assert "<html" not in text
    assert 'id="results"' in text
    assert 'hx-trigger="every 30s"' in text
    assert 'id="saved-views"' in text
    assert 'hx-swap-oob="true"' in text
    # The language switch keeps the filters htmx put in the address.
    assert "status=waiting&amp;lang=en" in text
    assert "HX-Request" in response.headers["Vary"]
    # The address pushed holds the filters chosen, not the form's empty fields.
    typed = get(client, "/?q=&status=waiting&priority=&sort=newest", headers=htmx)
    assert typed.headers["HX-Push-Url"] == "/?status=waiting"
    # The refresh (triggered by #results) pushes nothing.
    refresh_ = get(
        client, "/?status=waiting", headers={**htmx, "HX-Trigger": "results"}
    )
    assert "HX-Push-Url" not in refresh_.headers
    # A history restore needs the whole page.
    whole = get(
        client,
        "/?status=waiting",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in whole.get_data(as_text=True)


def test_the_filters_work_as_a_plain_form(client, people, queue):
    login(client, people["chef"])
    text = get(client, "/?status=waiting&sort=due").get_data(as_text=True)
    form = re.search(r'<form method="get".*?</form>', text, re.DOTALL).group(0)
    assert 'hx-get="/"' in form
    assert 'hx-push-url="true"' in form
    assert '<option value="waiting" selected>' in form
    assert '<option value="due" selected>' in form


# --- the export ---------------------------------------------------------------------


def export(client, query: str = "") -> list[list[str]]:
    response = get(client, f"/tickets/export.csv?{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_export_is_the_current_view_in_words(client, people, queue):
    login(client, people["chef"])
    table = export(client, "status=open&sort=oldest&lang=fr")
    header, *lines = table
    assert header[:3] == ["Référence", "Créé (Africa/Porto-Novo)", "Statut"]
    assert [line[0] for line in lines] == [
        queue[name] for name in ("appeal", "waiting", "awas", "late")
    ]
    waiting = lines[1]
    assert waiting[2] == "En attente du citoyen"
    assert waiting[3] == "Haute"
    assert waiting[5] == "SMS"
    assert waiting[8] == "Direction des salaires"
    assert waiting[9] == "koffi"
    english = export(client, "appeals=1&lang=en")
    assert english[1][2] == "Reopened"
    assert english[1][-1] == "yes"


def test_the_export_goes_page_by_page(client, people, queue, monkeypatch):
    """A generator over keyset pages: three reads of two rows, none counted."""
    reads = []
    real = work_queue.queue_page

    def read(*args, **kwargs):
        reads.append((args[3], kwargs["count"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(work_queue, "queue_page", read)
    monkeypatch.setattr(work_queue, "EXPORT_BATCH", 2)
    login(client, people["chef"])
    assert len(export(client)[1:]) == 5
    assert reads == [(2, False)] * 3


def test_the_export_keeps_to_what_an_agent_may_see(client, people, queue):
    login(client, people["awa"])
    seen = {line[0] for line in export(client)[1:]}
    assert names(queue, seen) == {"late", "awas", "done"}
    assert export(client, "service=salaries")[1:] == []


def test_the_export_refuses_a_bad_filter(client, people, queue):
    login(client, people["chef"])
    response = get(client, "/tickets/export.csv?status=lost&lang=en")
    assert response.status_code == 400
    assert "Filter not understood (status)" in response.get_data(as_text=True)


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(client, people):
    people["pensions"].name = "=HYPERLINK(1)"
    make_ticket(make_caller(), service=people["pensions"])
    login(client, people["chef"])
    assert export(client)[1][8] == "'=HYPERLINK(1)"


def test_the_queue_and_export_need_a_login(client, queue):
    for path in ("/", "/tickets/export.csv", "/tickets/new"):
        response = get(client, path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


# --- registering a request ----------------------------------------------------------


def test_the_request_form_has_its_own_page(client, people):
    login(client, people["awa"])
    queue_page = get(client, "/?lang=en").get_data(as_text=True)
    assert 'href="/tickets/new"' in queue_page
    form = get(client, "/tickets/new?lang=en")
    assert form.status_code == 200
    assert "<h1>Register a request</h1>" in form.get_data(as_text=True)
    response = client.post(
        "/tickets/new",
        data={"phone": "97 00 00 00", "channel": "counter", "category": "payment"},
    )
    assert response.status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.display_reference in response.headers["Location"]


def test_the_request_form_chooses_no_category_for_the_agent(client, people):
    login(client, people["awa"])
    form = get(client, "/tickets/new?lang=en").get_data(as_text=True)
    category = re.search(r'<select id="category".*?</select>', form, re.DOTALL)
    assert '<option value="">Choose a category</option>' in category.group(0)
    assert "selected" not in category.group(0)
    response = client.post(
        "/tickets/new", data={"phone": CALLER, "channel": "counter", "category": ""}
    )
    assert response.status_code == 400
    assert db.session.scalars(select(Ticket)).all() == []


def test_a_bad_request_form_comes_back_with_its_errors(client, people):
    login(client, people["awa"])
    response = client.post(
        "/tickets/new?lang=en",
        data={"phone": "nobody", "channel": "counter", "category": "payment"},
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Not a phone number." in text
    assert 'value="nobody"' in text
    assert db.session.scalars(select(Ticket)).all() == []
