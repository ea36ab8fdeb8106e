"""The tickets' exports for statistics (issue #13, CONTRACT §10): CSV and XLSX.

Driven through the API with bearer tokens; the centre's time zone is the test
configuration's, Africa/Porto-Novo (UTC+01:00, no daylight saving).
"""

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.models import Role, Service, Ticket
from app.services import ticket_export
from tests.factories import make_caller, make_ticket, make_token, make_user
from tests.test_queries import counting

HEADER = (
    "reference,created_at,status,priority,channel,line,category,service,"
    "assignee,take_charge_due,take_charge_met,resolve_due,resolve_met,"
    "escalation_level,appeal,rating"
)
CSV = "/api/tickets/export.csv"
XLSX = "/api/tickets/export.xlsx"


@pytest.fixture
def chief(app) -> dict[str, str]:
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(supervisor)}"}


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ticket_at(created: datetime, **fields) -> Ticket:
    ticket = make_ticket(**fields)
    ticket.created_at = created
    db.session.commit()
    return ticket


def rows_of(response) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def references(response) -> list[str]:
    return [row["reference"] for row in rows_of(response)]


def test_header_is_exact_after_a_bom(client, chief):
    response = client.get(f"{CSV}?from=2026-03-01&to=2026-03-31", headers=chief)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8")[1:].splitlines() == [HEADER]


def test_a_ticket_row_has_machine_values(client, chief):
    agent = make_user("awa@example.org", Role.AGENT)
    service = Service(key="pensions", name="Pensions")
    db.session.add(service)
    ticket = ticket_at(
        at(2026, 3, 10, 8, 30),
        caller=make_caller(),
        status="in_progress",
        priority="high",
        channel="sms",
        line="+22921000000",
        category="délai",
        service=service,
        assignee=agent,
        take_charge_due=at(2026, 3, 10, 12),
        take_charge_met=True,
        resolve_due=at(2026, 3, 20, 17),
        escalation_level=1,
        appeal=True,
    )
    # The citizen rated twice: the last score counts.
    ticket.record("rating", "caller", score=2)
    ticket.record("rating", "caller", score=4)
    db.session.commit()

    response = client.get(f"{CSV}?from=2026-03-10&to=2026-03-10", headers=chief)

    assert rows_of(response) == [
        {
            "reference": f"{ticket.reference[:4]}-{ticket.reference[4:]}",
            "created_at": "2026-03-10T09:30:00+01:00",
            "status": "in_progress",
            "priority": "high",
            "channel": "sms",
            "line": "+22921000000",
            "category": "délai",
            "service": "pensions",
            "assignee": "awa@example.org",
            "take_charge_due": "2026-03-10T13:00:00+01:00",
            "take_charge_met": "true",
            "resolve_due": "2026-03-20T18:00:00+01:00",
            "resolve_met": "",
            "escalation_level": "1",
            "appeal": "true",
            "rating": "4",
        }
    ]


def test_days_are_the_centres_from_midnight_to_midnight(client, chief):
    # 23:00 UTC on the 9th is already the 10th in Porto-Novo (UTC+1).
    before = ticket_at(at(2026, 3, 9, 22, 59), caller=make_caller())
    first = ticket_at(at(2026, 3, 9, 23, 0), caller=make_caller("+2290197000001"))
    last = ticket_at(at(2026, 3, 11, 22, 59), caller=make_caller("+2290197000002"))
    after = ticket_at(at(2026, 3, 11, 23, 0), caller=make_caller("+2290197000003"))

    response = client.get(f"{CSV}?from=2026-03-10&to=2026-03-11", headers=chief)

    assert references(response) == [first.display_reference, last.display_reference]
    assert before.display_reference not in response.get_data(as_text=True)
    assert after.display_reference not in response.get_data(as_text=True)


def test_status_filter(client, chief):
    make_ticket(make_caller(), status="new")
    closed = make_ticket(make_caller("+2290197000001"), status="closed")
    today = datetime.now(UTC).date().isoformat()

    response = client.get(
        f"{CSV}?from=2000-01-01&to=2999-12-31&status=closed", headers=chief
    )

    assert references(response) == [closed.display_reference]
    bad = client.get(f"{CSV}?from={today}&to={today}&status=lost", headers=chief)
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid_status"


@pytest.mark.parametrize("path", [CSV, XLSX])
def test_roles(client, app, path):
    agent = {"Authorization": f"Bearer {make_token(make_user())}"}
    admin = make_user("admin@example.org", Role.ADMIN)
    query = "?from=2026-01-01&to=2026-01-31"

    assert client.get(path + query).status_code == 401
    stranger = {"Authorization": "Bearer x"}
    assert client.get(path + query, headers=stranger).status_code == 401
    refused = client.get(path + query, headers=agent)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    allowed = {"Authorization": f"Bearer {make_token(admin)}"}
    assert client.get(path + query, headers=allowed).status_code == 200


@pytest.mark.parametrize("path", [CSV, XLSX])
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?from=2026-01-01",
        "?to=2026-01-01",
        "?from=2026-02-30&to=2026-03-01",
        "?from=01/02/2026&to=2026-03-01",
        "?from=2026-01-01&to=1767225600",
        "?from=2026-01-01&to=2026-01-01T00:00:00",
        "?from=2026-1-1&to=2026-01-02",
    ],
)
def test_bad_dates_are_a_400(client, chief, path, query):
    response = client.get(path + query, headers=chief)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_date"
    assert error["message"]


def test_a_reversed_period_is_empty(client, chief):
    make_ticket(make_caller())

    response = client.get(f"{CSV}?from=2999-01-02&to=2000-01-01", headers=chief)

    assert response.status_code == 200
    assert rows_of(response) == []


def test_xlsx_holds_the_same_rows(client, chief):
    for number in range(3):
        ticket = make_ticket(make_caller(f"+229019700000{number}"), category="délai")
    ticket.record("rating", "caller", score=5)
    db.session.commit()
    query = "?from=2000-01-01&to=2999-12-31"
    expected = client.get(CSV + query, headers=chief).get_data().decode("utf-8")
    lines = list(csv.reader(io.StringIO(expected[1:])))

    response = client.get(XLSX + query, headers=chief)

    assert response.status_code == 200
    assert response.mimetype == ticket_export.XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    cells = [[cell or "" for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert cells == lines
    assert len(cells) == 4
    assert cells[-1][-1] == "5"


def test_csv_is_streamed_in_keyset_batches(client, chief, monkeypatch):
    monkeypatch.setattr(ticket_export, "BATCH", 2)
    made = [make_ticket(make_caller(f"+229019700000{n}")) for n in range(5)]

    response = client.get(
        f"{CSV}?from=2000-01-01&to=2999-12-31", headers=chief, buffered=False
    )
    assert response.is_streamed
    pieces = iter(response.response)
    with counting() as statements:
        header = next(pieces)
        # Nothing read yet: the header went out before the first batch.
        assert not any("FROM tickets" in sql for sql in statements)
        body = [header, *pieces]
    response.close()

    batches = [sql for sql in statements if "FROM tickets" in sql]
    assert len(batches) == 4  # 2 + 2 + 1 tickets, then an empty batch
    assert all("LIMIT" in sql for sql in batches)
    text = b"".join(body).decode("utf-8")
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == [
        ticket.display_reference for ticket in made
    ]


def test_a_cell_that_would_be_a_formula_is_text(client, chief):
    service = Service(key="=HYPERLINK(1)", name="Odd")
    db.session.add(service)
    make_ticket(make_caller(), service=service, line="+22921000000")

    row = rows_of(client.get(f"{CSV}?from=2000-01-01&to=2999-12-31", headers=chief))[0]

    assert row["service"] == "'=HYPERLINK(1)"
    assert row["line"] == "+22921000000"  # a number in E.164, left as it is


def test_the_workbook_file_is_removed_once_sent(client, chief, tmp_path, monkeypatch):
    monkeypatch.setattr(ticket_export.tempfile, "tempdir", str(tmp_path))
    make_ticket(make_caller())

    response = client.get(f"{XLSX}?from=2000-01-01&to=2999-12-31", headers=chief)

    assert response.get_data().startswith(b"PK")  # a zip, as an .xlsx is
    assert not list(tmp_path.glob("ecoute-export-*"))
