"""Open311 GeoReport v2 (CONTRACT §9.4): the spec's fields in JSON and XML, a
request filed with a token and followed to its end, the spec's errors, and no
personal datum in any answer."""

from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select

from app.extensions import db
from app.models import Role, Service, Ticket
from open311.answers import xml_document
from tests.factories import make_caller, make_token, make_user
from tests.test_queries import counting

BASE = "/open311/v2"
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
# The categories of config/lines.yaml and config/menus/default.yaml, in order.
CODES = ["service", "delay", "payment", "other", "pension", "salary", "reception"]
CENTRE = ZoneInfo("Africa/Porto-Novo")
# What a citizen gives a portal: none of it may come back out.
PERSONAL = {
    "phone": "+229 97 12 34 56",
    "email": "Adjoa.Mensah@example.org",
    "first_name": "Adjoa",
    "last_name": "Mensah",
    "address_string": "Rue 12.345, Cotonou",
    "lat": "6.3654",
    "long": "2.4183",
    "description": "Ma pension de veuve de Koffi Mensah n'est pas versée.",
}


@pytest.fixture
def api_key(app):
    return make_token(make_user("portail@example.org", Role.AGENT))


@pytest.fixture
def supervisor(app):
    user = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(user)}"}


def parsed(response) -> ElementTree.Element:
    """An XML answer as the spec has it: declared UTF-8, served as text/xml."""
    assert response.content_type == "text/xml; charset=utf-8"
    body = response.get_data()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return ElementTree.fromstring(body)


def xml_rows(root: ElementTree.Element, item: str) -> list[dict[str, str | None]]:
    rows = []
    for node in root:
        assert node.tag == item
        rows.append({child.tag: child.text for child in node})
    return rows


def fields_in_order(root: ElementTree.Element) -> list[list[str]]:
    return [[child.tag for child in node] for node in root]


def instant(moment) -> str:
    return moment.astimezone(CENTRE).isoformat(timespec="seconds")


def file_request(client, fmt: str = "json", as_json: bool = False, **fields):
    path = f"{BASE}/requests.{fmt}"
    if as_json:
        return client.post(path, json=fields)
    return client.post(path, data=fields)


def only_ticket() -> Ticket:
    return db.session.scalars(select(Ticket)).one()


# --- services ----------------------------------------------------------------


def test_services_in_json_are_the_lines_categories_in_french(client):
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    services = response.get_json()
    assert [service["service_code"] for service in services] == CODES
    assert all(list(service) == SERVICE_FIELDS for service in services)
    assert services[4] == {
        "service_code": "pension",
        "service_name": "Pensions et retraites",
        "description": "Pensions et retraites",
        "metadata": False,
        "type": "realtime",
        "keywords": "pension",
        "group": "Hotline Trésor 1",
    }
    assert services[1]["service_name"] == "Un retard de traitement d'un dossier"


def test_services_in_xml_parse_with_every_field_and_speak_english_when_asked(client):
    root = parsed(client.get(f"{BASE}/services.xml?locale=en"))
    assert root.tag == "services"
    assert fields_in_order(root) == [SERVICE_FIELDS] * len(CODES)
    services = xml_rows(root, "service")
    assert [service["service_code"] for service in services] == CODES
    assert services[4] == {
        "service_code": "pension",
        "service_name": "Pensions",
        "description": "Pensions",
        "metadata": "false",
        "type": "realtime",
        "keywords": "pension",
        "group": "Hotline Trésor 1",
    }
    french = xml_rows(parsed(client.get(f"{BASE}/services.xml")), "service")
    assert french[4]["service_name"] == "Pensions et retraites"


# --- filing a request ----------------------------------------------------------


def test_a_form_encoded_request_becomes_an_acknowledged_web_ticket(
    client, api_key, sms
):
    response = file_request(
        client,
        api_key=api_key,
        service_code="pension",
        description="Ma pension de novembre n'est pas arrivée.",
        phone="97 00 00 01",
        first_name="Awa",
        last_name="Dossou",
    )
    assert response.status_code == 200
    assert response.content_type == "application/json"
    ticket = only_ticket()
    due = format_date(ticket.resolve_due.astimezone(CENTRE).date(), "long", "fr")
    assert response.get_json() == [
        {
            "service_request_id": ticket.display_reference,
            "service_notice": "Votre demande est enregistrée sous la référence "
            f"{ticket.display_reference}. Réponse attendue au plus tard le {due}.",
            "account_id": None,
        }
    ]
    assert (ticket.channel, ticket.category, ticket.status) == ("web", "pension", "new")
    assert ticket.phone == "+2290197000001"
    assert ticket.caller.name == "Awa Dossou"
    assert ticket.contact_email is None
    assert ticket.description == "Ma pension de novembre n'est pas arrivée."
    assert ticket.events[0].actor == "portail@example.org"
    # The acknowledgment every channel sends (CONTRACT §9).
    assert [text["to"] for text in sms.sent] == ["+2290197000001"]
    assert ticket.display_reference in sms.sent[0]["body"]


def test_a_second_number_fills_the_person_s_profile_and_renames_no_one(client, api_key):
    root = make_caller("+2290196000000")
    root.name = "Awa Dossou"
    make_caller("+2290197000001").person_id = root.id
    db.session.commit()

    file_request(
        client,
        api_key=api_key,
        service_code="pension",
        description="Ma pension de novembre n'est pas arrivée.",
        phone="97 00 00 01",
        email="Awa@Example.org",
        first_name="Intrus",
    )

    ticket = only_ticket()
    # The profile lives on the root number (CONTRACT §8.5): its blank e-mail
    # is filled, its name kept; the other name stays on the request.
    assert (root.name, root.email) == ("Awa Dossou", "awa@example.org")
    assert (ticket.caller.name, ticket.caller.email) == (None, None)
    assert ticket.description == "Ma pension de novembre n'est pas arrivée.\n\nIntrus"


def test_a_json_request_with_an_email_only_answers_in_xml(client, api_key, sms):
    response = file_request(
        client,
        "xml",
        as_json=True,
        api_key=api_key,
        service_code="delay",
        description="Mon dossier attend depuis trois mois.",
        email="Citoyen@Example.org",
        address_string="Quartier Zongo, Cotonou",
        locale="en",
    )
    assert response.status_code == 200
    root = parsed(response)
    assert root.tag == "service_requests"
    ticket = only_ticket()
    [row] = xml_rows(root, "request")
    assert row["service_request_id"] == ticket.display_reference
    assert row["service_notice"].startswith(
        f"Your request is registered under the reference {ticket.display_reference}."
        " Expected answer by "
    )
    assert row["account_id"] is None
    assert ticket.caller is None
    assert ticket.contact_email == "citoyen@example.org"
    assert ticket.language == "en"
    assert ticket.description == (
        "Mon dossier attend depuis trois mois.\n\nQuartier Zongo, Cotonou"
    )
    assert sms.sent == []  # no number to text


# --- reading a request back ----------------------------------------------------


def test_a_request_reads_back_open_then_closed_in_both_formats(
    client, api_key, supervisor
):
    filed = file_request(
        client,
        api_key=api_key,
        service_code="salary",
        description="Salaire d'octobre non versé.",
        phone="+22997000002",
    ).get_json()[0]
    reference = filed["service_request_id"]
    ticket = only_ticket()
    expected = {
        "service_request_id": reference,
        "status": "open",
        "status_notes": "Nouveau",
        "service_name": "Salaires des agents de l'État",
        "service_code": "salary",
        "description": None,
        "agency_responsible": "Numéro vert",
        "service_notice": None,
        "requested_datetime": instant(ticket.created_at),
        "updated_datetime": instant(ticket.updated_at),
        "expected_datetime": instant(ticket.resolve_due),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    assert expected["requested_datetime"].endswith("+01:00")
    as_json = client.get(f"{BASE}/requests/{reference}.json")
    assert (as_json.status_code, as_json.content_type) == (200, "application/json")
    assert as_json.get_json() == [expected]
    assert list(as_json.get_json()[0]) == REQUEST_FIELDS
    # Without the dash, in XML, every field present and in the spec's order.
    root = parsed(client.get(f"{BASE}/requests/{reference.replace('-', '')}.xml"))
    assert root.tag == "service_requests"
    assert fields_in_order(root) == [REQUEST_FIELDS]
    assert xml_rows(root, "request") == [expected]

    resolved = client.patch(
        f"/api/tickets/{reference}",
        json={"status": "resolved", "resolution": "Le virement est parti hier."},
        headers=supervisor,
    )
    assert resolved.status_code == 200
    db.session.expire_all()
    [row] = client.get(f"{BASE}/requests/{reference}.json?locale=en").get_json()
    assert (row["status"], row["status_notes"]) == ("closed", "Resolved")
    assert row["updated_datetime"] == instant(only_ticket().updated_at)
    client.patch(
        f"/api/tickets/{reference}", json={"status": "closed"}, headers=supervisor
    )
    [row] = xml_rows(parsed(client.get(f"{BASE}/requests/{reference}.xml")), "request")
    assert (row["status"], row["status_notes"]) == ("closed", "Clos")
    client.patch(
        f"/api/tickets/{reference}", json={"status": "reopened"}, headers=supervisor
    )
    [row] = client.get(f"{BASE}/requests/{reference}.json").get_json()
    assert (row["status"], row["status_notes"]) == ("open", "Rouvert")


def test_several_requests_by_their_ids_skipping_unknown_ones(client, api_key):
    references = [
        file_request(
            client,
            api_key=api_key,
            service_code=code,
            description="Une demande.",
            phone="+22997000003",
        ).get_json()[0]["service_request_id"]
        for code in ("delay", "payment")
    ]
    ids = ",".join([references[1], "1234-5674", references[0], references[1]])
    rows = client.get(f"{BASE}/requests.json?service_request_id={ids}").get_json()
    assert [(row["service_request_id"], row["service_code"]) for row in rows] == [
        (references[1], "payment"),
        (references[0], "delay"),
    ]
    root = parsed(client.get(f"{BASE}/requests.xml?service_request_id={ids}"))
    assert [row["service_request_id"] for row in xml_rows(root, "request")] == [
        references[1],
        references[0],
    ]


def test_no_personal_datum_in_any_answer(client, api_key):
    filed = file_request(
        client, "xml", api_key=api_key, service_code="pension", **PERSONAL
    )
    reference = only_ticket().display_reference
    answers = [
        filed,
        client.get(f"{BASE}/requests/{reference}.json"),
        client.get(f"{BASE}/requests/{reference}.xml"),
        client.get(f"{BASE}/requests.json?service_request_id={reference}"),
        client.get(f"{BASE}/requests.xml?service_request_id={reference}"),
    ]
    secrets = [
        "97 00",
        "97123456",
        "+22997123456",
        "Adjoa",
        "Mensah",
        "adjoa.mensah",
        "Rue 12",
        "Cotonou",
        "6.3654",
        "2.4183",
        "veuve",
    ]
    for response in answers:
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert reference in body
        leaked = [secret for secret in secrets if secret.lower() in body.lower()]
        assert leaked == [], response.request.path
    # Staff keep everything the citizen gave.
    ticket = only_ticket()
    assert ticket.phone == "+2290197123456"
    assert ticket.caller.name == "Adjoa Mensah"
    assert ticket.contact_email == "adjoa.mensah@example.org"
    assert "Rue 12.345, Cotonou — 6.3654, 2.4183" in ticket.description


# --- errors --------------------------------------------------------------------


def xml_error(response) -> tuple[int, str]:
    [row] = xml_rows(parsed(response), "error")
    return int(row["code"]), row["description"]


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({"description": "x", "phone": "+22997000001"}, "service_code is required"),
        (
            {"service_code": "potholes", "description": "x", "phone": "+22997000001"},
            "service_code must be one of: delay, other, payment, pension, "
            "reception, salary, service",
        ),
        ({"service_code": "delay", "phone": "+22997000001"}, "description is required"),
        (
            {"service_code": "delay", "description": "x" * 4001, "email": "a@b.bj"},
            "description is longer than 4000 characters",
        ),
        ({"service_code": "delay", "description": "x"}, "phone or email is required"),
        (
            {"service_code": "delay", "description": "x", "phone": "12"},
            "phone is not a phone number",
        ),
        (
            {"service_code": "delay", "description": "x", "email": "a@b"},
            "email is not an e-mail address",
        ),
        # The profile's rules (app.services.people), since it may go there.
        (
            {"service_code": "delay", "description": "x", "email": "a@b..bj"},
            "email is not an e-mail address",
        ),
        (
            {
                "service_code": "delay",
                "description": "x",
                "phone": "+22997000001",
                "first_name": "Awa\u202e",
            },
            "first_name and last_name must be plain text",
        ),
    ],
)
def test_a_missing_or_bad_field_is_400_in_both_formats(
    client, api_key, fields, description
):
    response = file_request(client, api_key=api_key, **fields)
    assert response.status_code == 400
    assert response.get_json() == [{"code": 400, "description": description}]
    response = file_request(client, "xml", api_key=api_key, **fields)
    assert (response.status_code, xml_error(response)) == (400, (400, description))
    assert db.session.scalars(select(Ticket)).all() == []


def test_a_wrong_missing_or_disabled_api_key_is_403(client, api_key):
    fields = {"service_code": "delay", "description": "x", "phone": "+22997000001"}
    response = file_request(client, api_key="not-a-token", **fields)
    assert response.status_code == 403
    assert response.get_json() == [
        {"code": 403, "description": "api_key is missing or not valid"}
    ]
    response = file_request(client, "xml", **fields)
    assert (response.status_code, xml_error(response)[0]) == (403, 403)
    user = make_user("parti@example.org", Role.AGENT)
    token = make_token(user)
    user.active = False
    db.session.commit()
    response = file_request(client, api_key=token, **fields)
    assert response.status_code == 403
    # The same token in the header of the API is no key here, nor the reverse.
    response = client.post(
        f"{BASE}/requests.json",
        data=fields,
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 403
    assert db.session.scalars(select(Ticket)).all() == []


def test_a_body_that_is_not_an_object_is_400(client):
    response = client.post(f"{BASE}/requests.json", json=["api_key"])
    assert response.status_code == 400
    assert response.get_json() == [
        {"code": 400, "description": "the body is neither a form nor a JSON object"}
    ]


def test_unknown_requests_formats_and_addresses_are_404(client):
    response = client.get(f"{BASE}/requests/1234-5674.json")
    assert (response.status_code, response.get_json()) == (
        404,
        [{"code": 404, "description": "no request 1234-5674"}],
    )
    response = client.get(f"{BASE}/requests/not-a-ref.xml")
    assert xml_error(response) == (404, "no request not-a-ref")
    # XML is the spec's required format: an unknown one is answered in it.
    response = client.get(f"{BASE}/services.csv")
    assert response.status_code == 404
    assert xml_error(response) == (404, "unknown format 'csv': use json or xml")
    response = client.get(f"{BASE}/discovery.json")
    assert (response.status_code, response.get_json()) == (
        404,
        [{"code": 404, "description": "no such Open311 resource"}],
    )
    assert xml_error(client.get(f"{BASE}/services")) == (
        404,
        "no such Open311 resource",
    )


def test_a_list_is_one_query_however_many_ids(client, api_key):
    references = [
        file_request(
            client,
            api_key=api_key,
            service_code="delay",
            description="Une demande.",
            phone="+22997000003",
        ).get_json()[0]["service_request_id"]
        for _ in range(3)
    ]
    for number, ticket in enumerate(db.session.scalars(select(Ticket))):
        ticket.service = Service(key=f"s{number}", name=f"Service {number}")
    db.session.commit()
    db.session.expunge_all()  # nothing already loaded
    ids = ",".join([*references, "1234-5674", "oops"])
    with counting() as statements:
        rows = client.get(f"{BASE}/requests.json?service_request_id={ids}").get_json()
    assert [row["service_request_id"] for row in rows] == references
    assert sorted(row["agency_responsible"] for row in rows) == [
        "Service 0",
        "Service 1",
        "Service 2",
    ]
    assert len(statements) == 1  # the tickets with their services


def test_a_list_needs_ids(client):
    response = client.get(f"{BASE}/requests.json")
    assert response.status_code == 400
    assert response.get_json() == [
        {"code": 400, "description": "service_request_id is required (comma-separated)"}
    ]
    many = ",".join(["1234-5674"] * 51)
    response = client.get(f"{BASE}/requests.xml?service_request_id={many}")
    assert xml_error(response) == (400, "at most 50 service_request_id at once")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/services.json", "GET"),
        ("delete", "/services.xml", "GET"),
        ("put", "/requests.json", "GET, POST"),
        ("post", "/requests/1234-5674.json", "GET"),
    ],
)
def test_another_method_is_405_with_allow(client, method, path, allowed):
    response = getattr(client, method)(BASE + path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    fmt = path.rsplit(".", 1)[1]
    description = f"{method.upper()} is not allowed here"
    if fmt == "json":
        assert response.get_json() == [{"code": 405, "description": description}]
    else:
        assert xml_error(response) == (405, description)


def test_xml_escapes_what_it_carries_and_leaves_none_empty():
    document = xml_document(
        "errors", "error", [{"code": 400, "description": "<b>&</b> é", "x": None}]
    )
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<errors><error><code>400</code>'
        "<description>&lt;b&gt;&amp;&lt;/b&gt; é</description><x /></error></errors>"
    )
    [row] = xml_rows(ElementTree.fromstring(document.encode()), "error")
    assert row == {"code": "400", "description": "<b>&</b> é", "x": None}


def test_head_is_a_get_without_its_body(client):
    response = client.head(f"{BASE}/services.xml")
    assert (response.status_code, response.get_data()) == (200, b"")
    assert response.content_type == "text/xml; charset=utf-8"


def test_an_oversized_body_and_a_fault_are_the_specs_errors(app, client, monkeypatch):
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(f"{BASE}/requests.json", data={"description": "x" * too_big})
    assert response.status_code == 413
    [row] = response.get_json()
    assert row["code"] == 413

    def broken(lang):
        raise RuntimeError("a bug")

    monkeypatch.setattr("open311.records.service_rows", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answered as in production
    response = client.get(f"{BASE}/services.xml")
    assert response.status_code == 500
    assert xml_error(response) == (500, "server error")
