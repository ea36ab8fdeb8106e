"""Schemathesis against the app in process: the API answers as its document says.

Every operation of /api/openapi.json gets generated requests, valid and invalid,
sent through WSGI with a supervisor's token, and every response goes through all
of schemathesis's checks (no 5xx, status codes, content types, headers and
bodies as documented, valid data accepted, invalid data refused).
"""

from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterable
from datetime import UTC

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.specs.openapi.formats import (
    STRING_FORMATS,
    unregister_string_format,
)

from app.extensions import db
from app.models import Call, Message, Role, Service
from app.phone import to_e164
from app.references import format_reference, luhn_digit
from tests.conftest import CALLER, LINE
from tests.factories import (
    make_caller,
    make_ticket,
    make_token,
    make_user,
    sid,
    stored_recording,
)

# Per operation and mode: 8 operations x 2 modes x 40 = 640 requests, ~20 s.
EXAMPLES = 40


@pytest.fixture
def bearer(app) -> dict[str, str]:
    supervisor = make_user("chef@example.org", Role.SUPERVISOR)
    return {"Authorization": f"Bearer {make_token(supervisor)}"}


@pytest.fixture
def formats(app, bearer) -> dict[str, st.SearchStrategy[str]]:
    """A ticket with a call, a stored recording and a text; a service; and the
    formats the document names that only the database can fill: which
    references, staff and services exist (schemathesis cannot guess them)."""
    caller = make_caller()
    ticket = make_ticket(caller, line=LINE, category="delay")
    call = Call(call_sid=sid("CA"), caller=caller, from_raw=CALLER, line=LINE)
    recording = stored_recording(app, call, ticket.id)
    message = Message(
        message_sid=sid("SM"),
        ticket_id=ticket.id,
        direction="outbound",
        status="delivered",
        to_number=CALLER,
        body="Votre référence",
    )
    db.session.add_all([call, recording, message, Service(key="pensions", name="P")])
    make_user("agent@example.org", Role.AGENT)
    db.session.commit()
    others = [make_ticket(make_caller(f"+22901960000{n:02d}")) for n in range(4)]
    existing = [t.display_reference for t in (ticket, *others)]

    # Ranges the file can satisfy: whether one can depends on its size (416
    # otherwise), which a document cannot state.
    size = recording.size_bytes
    byte_ranges = st.one_of(
        st.integers(0, size - 1).map(lambda start: f"bytes={start}-"),
        st.tuples(st.integers(0, size - 1), st.integers(0, size * 2)).map(
            lambda pair: f"bytes={min(pair)}-{max(pair)}"
        ),
        st.integers(1, size * 2).map(lambda last: f"bytes=-{last}"),
    )
    references = st.integers(1_000_000, 9_999_999).map(
        lambda body: format_reference(f"{body}{luhn_digit(str(body))}")
    )
    return {
        # Half existing tickets (200, or 409 once closed), half unknown (404).
        "ticket-reference": st.sampled_from(existing) | references,
        "phone": st.sampled_from(["0197000000", "+229 01 97 00 00 00", CALLER])
        | st.integers(0, 99_999_999).map(lambda n: f"+22901{n:08d}"),
        "staff-email": st.sampled_from(["chef@example.org", "agent@example.org"]),
        "service-key": st.just("pensions"),
        # The public twins' (CONTRACT §9.1): addresses mail can reach.
        "citizen-email": st.sampled_from(["awa@example.org", "A.Dossou@Tresor.BJ"]),
        "byte-range": byte_ranges,
        "page-cursor": st.builds(
            lambda at, number: (
                urlsafe_b64encode(f"{at.isoformat()}|{number}".encode())
                .decode()
                .rstrip("=")
            ),
            st.datetimes(timezones=st.just(UTC)),
            st.integers(1, 10**6),
        ),
    }


def buffered(wsgi_app: Callable) -> Callable:
    """Read each response whole and close it: schemathesis's WSGI transport
    never closes the response, so an audio file's handle would be left open
    (a ResourceWarning, an error under our filterwarnings)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = wsgi_app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return app


def one_way_to_page(case) -> bool:
    # OpenAPI cannot say that two query parameters exclude each other: a valid
    # request names a cursor or an offset, not both (400 invalid_parameter).
    query = case.query or {}
    return not (query.get("cursor") and query.get("offset"))


def keeps_the_number_asked(case) -> bool:
    # Nor that a body value must repeat a path value: a caller's new list of
    # numbers keeps the one in the URL (400 invalid_phones otherwise).
    phones = case.body.get("phones") if isinstance(case.body, dict) else None
    if phones is None or "phone" not in (case.path_parameters or {}):
        return True
    asked = to_e164(case.path_parameters["phone"])
    return asked in {to_e164(phone) for phone in phones}


def a_period_in_order(case) -> bool:
    # Nor that one date must not come before another: /api/stats answers 400
    # invalid_period when "to" is before "from".
    query = case.query or {}
    first, last = query.get("from"), query.get("to")
    return not (isinstance(first, str) and isinstance(last, str) and last < first)


# schemathesis.pytest.from_fixture() reads pytest's private Function._nodeid,
# gone in pytest 9: the operations are walked here instead, one Hypothesis
# run each, on the app fixture's database.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_does_what_its_document_says(app, bearer, formats, mode, monkeypatch):
    monkeypatch.setattr(app, "wsgi_app", buffered(app.wsgi_app))
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # PostgreSQL cannot store NUL in text: the API refuses it on purpose (400,
    # tests/test_bad_bytes.py), which JSON Schema cannot say.
    # The supervisor's token is given with each call, not generated: a
    # generated (negated) Authorization or session cookie would be overwritten
    # by it, and the request judged as if sent with the bad one. ignored_auth
    # still sends each request without it and expects 401. (Not in
    # config.headers: those are added to ignored_auth's requests too.)
    schema.config.generation.update(allow_x00=False, with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6

    # The formats teach valid values; in negative mode schemathesis would take
    # every value of a format it cannot check for a violation of it, and
    # call a valid phone number sent "invalid data accepted".
    if mode is GenerationMode.POSITIVE:
        for name, strategy in formats.items():
            schemathesis.openapi.format(name, strategy)
    try:
        _walk(operations, mode, bearer)
    finally:
        for name in formats:
            if name in STRING_FORMATS:
                unregister_string_format(name)


def _walk(operations, mode, bearer) -> None:
    for operation in operations:
        # No "constants" mined from the app's source (column names and the
        # like): they are drawn for strings whose validity the document states
        # as a format (phone, reference...) and bypass the formats above.
        cases = operation.as_strategy(generation_mode=mode, feedback=NO_FEEDBACK)
        if mode is GenerationMode.POSITIVE:
            cases = (
                cases.filter(one_way_to_page)
                .filter(keeps_the_number_asked)
                .filter(a_period_in_order)
            )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            case.call_and_validate(headers=bearer)

        try:
            conforms()
        except Exception as error:
            error.add_note(f"{mode.value} {operation.label}")
            raise
