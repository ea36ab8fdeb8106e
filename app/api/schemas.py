"""Every body the JSON API reads or sends, as pydantic models (CONTRACT §6, §8.1, §8.2).

The OpenAPI document is generated from these classes, and requests and responses
go through them, so the document says what the API does. A class is named as its
schema is in the document (`Ticket`, `TicketDetail`, `Error`...): import the
module (`from app.api import schemas`) to keep them apart from the tables.

Request bodies are strict and closed (no coercion, unknown fields refused); the
rules that need the database (a known category, an active assignee, a service,
the status transitions) are the service layer's.
"""

import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.lines import LANGUAGES
from app.models.tickets import CHANNELS, KINDS, TicketStatus
from app.phone import to_e164
from app.sla import PRIORITIES

MAX_DESCRIPTION = 5000
MAX_NOTE = 2000
# The channels staff may file for through the API (the others file themselves).
API_CHANNELS = ("web", "counter", "email", "phone")
VISIBILITIES = ("internal", "public")

Status = Literal[tuple(status.value for status in TicketStatus)]
Priority = Literal[PRIORITIES]


# Patterns in the document spell characters out: \s, \w and \S mean one thing
# to Python, another to JSON Schema's regexes (ECMA-262) and to pydantic's
# (Rust), so the rule itself stays in Python and the document lists the set.
def _class(test: Callable[[str], bool]) -> str:
    """The characters passing `test`, as the inside of a regex class: ranges,
    \\uXXXX below U+10000 (read alike by Python and ECMA-262), astral ones as
    themselves (their escapes differ); never a raw NUL in the document."""
    points = [point for point in range(sys.maxunicode + 1) if test(chr(point))]
    runs: list[list[int]] = []
    for point in points:
        if runs and runs[-1][1] == point - 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])

    def one(point: int) -> str:
        return f"\\u{point:04x}" if point < 0x10000 else chr(point)

    return "".join(
        one(low) if low == high else f"{one(low)}-{one(high)}" for low, high in runs
    )


@cache
def spaces() -> str:
    """Every character str.strip() and str.split() take for whitespace."""
    return _class(str.isspace)


@cache
def controls() -> str:
    """Control and format characters that are not whitespace (a NUL, a
    right-to-left override): what a one-line field refuses."""
    return _class(
        lambda char: unicodedata.category(char) in ("Cc", "Cf") and not char.isspace()
    )


def _e164(value: str, info: ValidationInfo) -> str:
    region = (info.context or {}).get("region", "BJ")  # routes.read_* pass it
    phone = to_e164(value, region)
    if phone is None:
        raise ValueError("not a phone number")
    return phone


def _stripped(value: str) -> str:
    # Python's idea of blank, not the regex engine's: what is stored is stripped.
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


# Any way a person writes a number; the request's DEFAULT_REGION fills in the
# country (read from the validation context) and E.164 comes out.
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    Field(
        json_schema_extra={"format": "phone"},
        description="any format; DEFAULT_REGION applies",
    ),
    AfterValidator(_e164),
]
# A category key of the menus; the document lists the centre's (see openapi.py).
Category = Annotated[
    str,
    StringConstraints(max_length=64),
    Field(json_schema_extra={"x-choices": "categories"}),
]
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NOTE),
    Field(json_schema_extra=lambda schema: schema.update(pattern=f"[^{spaces()}]")),
    AfterValidator(_stripped),
]
# Moments are sent as isoformat() ("+00:00"), as the serializers always did.
Moment = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A request body: exact types, no field the API does not know."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # A field's error code when it is not the usual "invalid_<field>".
    error_codes: ClassVar[dict[str, str]] = {}


class Out(BaseModel):
    """A response body: a field the model lacks is a bug, caught at the source."""

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, serialize_by_alias=True
    )


# --- requests --------------------------------------------------------------------


class Note(Body):
    text: Text
    visibility: Literal[VISIBILITIES] = "internal"


class NewTicket(Body):
    phone: Phone
    channel: Literal[API_CHANNELS]
    category: Category
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    line: Phone | None = Field(
        None,
        description="one of the centre's lines",
        json_schema_extra={"x-choices": "lines"},
    )
    language: Literal[LANGUAGES] | None = Field(
        None, description="the line's language if not given"
    )


def absent(**kwargs: Any) -> Any:
    """A field a PATCH may leave out, but not send as null: None means absent
    (model_fields_set says which were sent; the document drops the default)."""
    return Field(None, **kwargs)


# Values only the database knows: the formats name them for clients and tools.
StaffEmail = Annotated[
    str,
    StringConstraints(max_length=254),
    Field(json_schema_extra={"format": "staff-email"}),
]
ServiceKey = Annotated[
    str,
    StringConstraints(max_length=64),
    Field(json_schema_extra={"format": "service-key"}),
]


RESOLVED = TicketStatus.RESOLVED.value


class TicketChange(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,
            # The answer and the status "resolved" go together (CONTRACT §8.1).
            "allOf": [
                {
                    "if": {
                        "required": ["status"],
                        "properties": {"status": {"const": RESOLVED}},
                    },
                    "then": {"required": ["resolution"]},
                },
                {
                    "if": {"required": ["resolution"]},
                    "then": {"properties": {"status": {"const": RESOLVED}}},
                },
            ],
        }
    )

    status: Status = absent()
    priority: Priority = absent()
    hold: bool = absent(description="legal hold (no erasure): supervisors and admins")
    assignee: StaffEmail | None = Field(None, description="staff e-mail; null: nobody")
    category: Category = absent()
    service: ServiceKey | None = Field(None, description="service key; null: none")
    resolution: Text = absent(
        description="the answer sent to the caller; resolves the ticket"
    )
    note: Text | Note = absent(
        description="internal (staff only) unless visibility is public"
    )

    @model_validator(mode="after")
    def _a_change_that_holds(self) -> "TicketChange":
        if not self.model_fields_set:
            raise PydanticCustomError(
                "nothing_to_change",
                "send status, priority, hold, assignee, category, service, "
                "resolution or note",
            )
        if self.status == RESOLVED and "resolution" not in self.model_fields_set:
            raise PydanticCustomError(
                "resolution_required",
                "a resolution (the answer sent to the caller) is required to resolve",
            )
        if "resolution" in self.model_fields_set and self.status not in (
            None,
            RESOLVED,
        ):
            raise PydanticCustomError(
                "resolution_without_resolving",
                "a resolution goes with the status 'resolved'",
            )
        return self


class TicketQuery(Body):
    """GET /api/tickets: query strings, so numbers arrive as text."""

    model_config = ConfigDict(extra="ignore", strict=False)
    error_codes: ClassVar[dict[str, str]] = {
        "line": "invalid_phone",
        "limit": "invalid_parameter",
        "offset": "invalid_parameter",
    }

    phone: Phone | None = Field(None, description="caller's number, any format")
    status: Status | None = None
    line: Phone | None = Field(None, description="the line's number")
    category: str | None = Field(None, description="category key")
    limit: int | None = Field(None, ge=1, le=500, description="at most this many")
    cursor: str | None = Field(
        None,
        description="the `next` of the previous page",
        json_schema_extra={"format": "page-cursor"},
    )
    offset: int = Field(
        0,
        ge=0,
        le=10**7,
        description="skip this many (slow on deep pages: use cursor)",
        json_schema_extra={"deprecated": True},
    )


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(value: Any) -> Any:
    """YYYY-MM-DD and nothing else (pydantic's lax date takes timestamps too)."""
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise PydanticCustomError("invalid_date", "dates are written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_day)]


class ExportQuery(Body):
    """GET /api/tickets/export.csv and .xlsx: a period of the centre's days."""

    model_config = ConfigDict(extra="ignore", strict=False)
    error_codes: ClassVar[dict[str, str]] = {
        "from": "invalid_date",
        "to": "invalid_date",
    }

    first: Day = Field(
        alias="from", description="first day (centre's time zone), included"
    )
    last: Day = Field(alias="to", description="last day (centre's time zone), included")
    status: Status | None = None


# --- responses -------------------------------------------------------------------


class Sla(Out):
    plan: str | None
    take_charge_due: Moment | None
    resolve_due: Moment | None
    take_charge_met: bool | None
    resolve_met: bool | None
    paused: bool


class Ticket(Out):
    reference: str = Field(pattern=r"^[0-9]{4}-[0-9]{4}$")
    status: Status
    kind: Literal[KINDS]
    category: str | None
    channel: Literal[CHANNELS]
    phone: str | None = Field(description="E.164; null if withheld")
    line: str | None = Field(description="the line's E.164 number")
    language: Literal[LANGUAGES]
    description: str | None
    assignee: str | None = Field(description="staff e-mail")
    service: str | None = Field(description="service key")
    created_at: Moment
    updated_at: Moment
    priority: Priority
    appeal: bool = Field(description="reopened on an objection")
    escalation_level: Literal[0, 1, 2]
    hold: bool = Field(description="legal hold: no erasure")
    sla: Sla


class Event(Out):
    at: Moment
    actor: str
    action: str
    detail: dict[str, Any]


class Call(Out):
    call_sid: str
    status: str
    from_: str | None = Field(alias="from")
    line: str | None
    direction: str | None
    started_at: Moment
    ended_at: Moment | None
    duration: int | None


class Recording(Out):
    id: int = Field(description="the id in /api/recordings/{id}/audio")
    recording_sid: str
    call_sid: str | None
    purpose: str | None
    duration: int | None
    status: str | None
    created_at: Moment


class Message(Out):
    id: int
    message_sid: str | None
    direction: Literal["inbound", "outbound"]
    status: str
    to: str | None
    body: str
    error_code: str | None
    created_at: Moment


class TicketDetail(Ticket):
    events: list[Event]
    calls: list[Call]
    recordings: list[Recording]
    messages: list[Message]


class TicketList(Out):
    tickets: list[Ticket]
    next: str | None = Field(description="`cursor` of the next page; null on the last")


class Caller(Out):
    """A caller's profile (CONTRACT §8.5), in a history and at /api/callers/."""

    phone: str = Field(description="the number asked for, E.164")
    name: str | None
    email: str | None
    matricule: str | None = Field(description="civil-service number")
    phones: list[str] = Field(description="every number of the person, E.164")
    language: str | None


class History(Out):
    caller: Caller
    tickets: list[Ticket]
    calls: list[Call]
    messages: list[Message]


class ErrorDetail(Out):
    code: str = Field(description="stable, for programs: invalid_phone, not_found...")
    message: str = Field(description="for people")


class Error(Out):
    error: ErrorDetail
