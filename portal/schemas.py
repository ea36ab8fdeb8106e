"""The JSON twins' bodies (CONTRACT §9.1), in the style of app.api.schemas:
the same models check the requests and write the OpenAPI document."""

from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.api.schemas import (
    Body,
    Category,
    Moment,
    Out,
    Phone,
    Status,
    absent,
    controls,
    spaces,
)
from app.services.people import MAX_EMAIL, MAX_NAME, clean_email, clean_name
from portal.forms import MAX_DESCRIPTION, MIN_DESCRIPTION


def _description(value: str) -> str:
    text = value.strip()
    if not MIN_DESCRIPTION <= len(text) <= MAX_DESCRIPTION:
        raise ValueError(
            f"between {MIN_DESCRIPTION} and {MAX_DESCRIPTION} characters, "
            "spaces around not counted"
        )
    return text


def _email(value: str) -> str:
    email = clean_email(value)  # ValueError: not an e-mail address
    if email is None:
        raise ValueError("not an e-mail address")
    return email


def _name(value: str) -> str | None:
    return clean_name(value)


def _stripped_length(schema: dict) -> None:
    """The document states the rule _description keeps: at least ten
    characters once the spaces around are taken off (the rule itself stays in
    Python: see app.api.schemas on patterns)."""
    blank = spaces()
    inner = MIN_DESCRIPTION - 2
    schema["pattern"] = rf"^[{blank}]*[^{blank}][\s\S]{{{inner},}}[^{blank}][{blank}]*$"


Description = Annotated[
    str,
    StringConstraints(min_length=MIN_DESCRIPTION, max_length=MAX_DESCRIPTION),
    Field(json_schema_extra=_stripped_length),
    AfterValidator(_description),
]
# An address mail can be sent to (app.services.people.clean_email); the format
# names the rule for clients and tools.
Email = Annotated[
    str,
    StringConstraints(max_length=MAX_EMAIL),
    Field(json_schema_extra={"format": "citizen-email"}),
    AfterValidator(_email),
]


def _one_line(schema: dict) -> None:
    schema["pattern"] = f"^[^{controls()}]*$"


# One line, no control characters (app.services.people.clean_name).
Name = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME),
    Field(json_schema_extra=_one_line),
    AfterValidator(_name),
]
REFERENCE_PATTERN = r"^[0-9]{4}-[0-9]{4}$"


class PublicRequest(Body):
    """A citizen's request: a phone, an e-mail, or both."""

    category: Category
    description: Description
    # Absent rather than null: one of the two must be there and be a value.
    phone: Phone = absent(description="any format; SMS acknowledgment")
    email: Email = absent(description="acknowledgment by e-mail")
    name: Name = absent(description="kept only if the caller has none")

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["phone"]}, {"required": ["email"]}],
        }
    )

    @model_validator(mode="after")
    def _a_way_to_answer(self) -> "PublicRequest":
        if self.phone is None and self.email is None:
            raise PydanticCustomError(
                "contact_required", "give 'phone', 'email' or both"
            )
        return self


class StatusQuery(Body):
    """GET /api/public/status: query strings."""

    model_config = ConfigDict(extra="ignore", strict=False)
    error_codes: ClassVar[dict[str, str]] = {}

    reference: str = Field(
        max_length=32, description="eight digits, with or without the dash"
    )
    contact: str = Field(
        max_length=MAX_EMAIL,
        description="the phone (any format) or e-mail that filed it",
    )


class PublicReference(Out):
    reference: str = Field(pattern=REFERENCE_PATTERN)


class PublicStatus(Out):
    reference: str = Field(pattern=REFERENCE_PATTERN)
    status: Status
    updated_at: Moment
    resolve_due: Moment | None
