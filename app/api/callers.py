"""Caller profiles in the JSON API (CONTRACT §8.5): GET and PATCH /api/callers/<phone>.

The routes join the API blueprint of app.api.views, its credentials and its
error handlers, through app.api.routes.api_route: the body is read through
CallerChange, the answer sent through schemas.Caller, and both documented.
"""

from typing import Annotated, Any

from flask import g
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.api import schemas
from app.api.errors import ApiError
from app.api.routes import api_route
from app.api.views import PHONE, bp, phone_in_path
from app.extensions import db
from app.phone import to_e164
from app.serializers import person_json
from app.services import people
from app.services.people import Person, ProfileChange, ProfileError


def _checked(clean: Any, code: str, name: str) -> AfterValidator:
    """A people.clean_* function as a validator whose error carries our code."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None  # null clears the field
        try:
            return clean(value)
        except ValueError as bad:
            raise PydanticCustomError(code, f"'{name}': {bad}") from None

    return AfterValidator(check)


# The document states the rules of people.clean_*, which stay the judge.
def _one_line(schema: dict[str, Any]) -> None:
    schema["pattern"] = f"^[^{schemas.controls()}]*$"


def _matricule(schema: dict[str, Any]) -> None:
    # Whitespace first: MATRICULE_CHARS ends with a literal "-".
    schema["pattern"] = f"^[{schemas.spaces()}{people.MATRICULE_CHARS}]*$"


PhoneText = Annotated[str, Field(max_length=32, json_schema_extra={"format": "phone"})]
Name = Annotated[
    Annotated[str, Field(max_length=people.MAX_NAME, json_schema_extra=_one_line)]
    | None,
    _checked(people.clean_name, "invalid_name", "name"),
]
Email = Annotated[
    Annotated[
        str, Field(max_length=people.MAX_EMAIL, json_schema_extra={"format": "email"})
    ]
    | None,
    _checked(people.clean_email, "invalid_email", "email"),
]
Matricule = Annotated[
    Annotated[
        str,
        Field(
            max_length=people.MAX_MATRICULE,
            json_schema_extra=_matricule,
        ),
    ]
    | None,
    _checked(people.clean_matricule, "invalid_matricule", "matricule"),
]


class CallerChange(BaseModel):
    """The body of PATCH /api/callers/<phone>: any of these; null clears a field."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"minProperties": 1}
    )

    name: Name = None
    email: Email = None
    matricule: Matricule = None
    # Any form the app's phone parsing takes; E.164 once validated. Unlike a
    # field, the numbers cannot be cleared (None is "not sent", never valid):
    # the one asked for stays.
    phones: list[PhoneText] = Field(
        default=None,  # type: ignore[assignment]
        min_length=1,
        max_length=people.MAX_PHONES,
        description="every number of the person; must keep the one in the URL",
    )

    @field_validator("phones")
    @classmethod
    def _e164(cls, phones: list[str], info: ValidationInfo) -> list[str]:
        region = (info.context or {}).get("region", "BJ")
        numbers: list[str] = []
        for position, raw in enumerate(phones):
            number = to_e164(raw, region)
            if number is None:
                raise PydanticCustomError(
                    "invalid_phone",
                    f"'phones' item {position}: '{raw[:32]}' is not a phone number",
                )
            if number not in numbers:
                numbers.append(number)
        return numbers

    @model_validator(mode="after")
    def _something_to_change(self) -> "CallerChange":
        if not self.model_fields_set:
            raise PydanticCustomError(
                "nothing_to_change", "send name, email, matricule or phones"
            )
        return self

    def as_change(self) -> ProfileChange:
        given = self.model_fields_set
        return ProfileChange(
            fields={
                name: getattr(self, name)
                for name in people.PROFILE_FIELDS
                if name in given
            },
            phones=self.phones if "phones" in given else None,
        )


def _visible_person(number: str) -> Person:
    """The person of this number; a 404 for an agent who may not see them, as
    for a number the centre never met: their existence is not shared."""
    person = people.person_of(number)
    if person is None or not people.may_see(g.api_user, person):
        raise ApiError(404, "not_found", f"no caller {number}")
    return person


@api_route(
    bp,
    "GET",
    "/callers/<phone>",
    summary="A caller's profile: name, e-mail, matricule, every number",
    response=schemas.Caller,
    parameters={"phone": PHONE},
)
def get_caller(phone: str) -> dict[str, Any]:
    return person_json(_visible_person(phone_in_path(phone)))


@api_route(
    bp,
    "PATCH",
    "/callers/<phone>",
    summary="Change a caller's profile; null clears a field",
    body=CallerChange,
    response=schemas.Caller,
    parameters={"phone": PHONE},
)
def update_caller(phone: str, body: CallerChange) -> dict[str, Any]:
    number = phone_in_path(phone)
    change = body.as_change()
    people.lock_people()  # before the person is read
    person = _visible_person(number)
    try:
        person = people.change_profile(person, change, g.api_user)
    except ProfileError as error:
        db.session.rollback()
        raise ApiError(error.status, error.code, str(error)) from None
    db.session.commit()
    return person_json(person)
