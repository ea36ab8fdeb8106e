"""Caller profiles in the JSON API (CONTRACT §8.5): GET and PATCH /api/callers/<phone>.

The routes join the API blueprint of app.api.views, its credentials and its
error handlers; the request body is checked by a pydantic model.
"""

from typing import Annotated, Any

from flask import Response, current_app, g, jsonify, request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.api.auth import api_login_required
from app.api.errors import ApiError
from app.api.json_body import UnsafeJSON
from app.api.views import bp
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


Name = Annotated[str | None, _checked(people.clean_name, "invalid_name", "name")]
Email = Annotated[str | None, _checked(people.clean_email, "invalid_email", "email")]
Matricule = Annotated[
    str | None, _checked(people.clean_matricule, "invalid_matricule", "matricule")
]


class CallerChange(BaseModel):
    """The body of PATCH /api/callers/<phone>: any of these; null clears a field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name = None
    email: Email = None
    matricule: Matricule = None
    # Any form the app's phone parsing takes; E.164 once validated.
    phones: list[str] | None = Field(default=None, max_length=people.MAX_PHONES)

    @field_validator("phones", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        # Unlike a field, the numbers cannot be cleared: the one asked for stays.
        if value is None:
            raise PydanticCustomError(
                "invalid_phones", "'phones' must be a list of phone numbers"
            )
        return value

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


def _number(phone: str) -> str:
    number = to_e164(phone, current_app.config["DEFAULT_REGION"])
    if number is None:
        raise ApiError(400, "invalid_phone", f"'{phone[:32]}' is not a phone number")
    return number


def _visible_person(number: str) -> Person:
    """The person of this number; a 404 for an agent who may not see them, as
    for a number the centre never met: their existence is not shared."""
    person = people.person_of(number)
    if person is None or not people.may_see(g.api_user, person):
        raise ApiError(404, "not_found", f"no caller {number}")
    return person


def _body() -> CallerChange:
    try:
        body = current_app.json.loads(request.get_data()) if request.is_json else None
    except UnsafeJSON as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    if not body:
        raise ApiError(
            400, "nothing_to_change", "send name, email, matricule or phones"
        )
    try:
        return CallerChange.model_validate(
            body, context={"region": current_app.config["DEFAULT_REGION"]}
        )
    except ValidationError as error:
        raise _refusal(error) from None


def _refusal(error: ValidationError) -> ApiError:
    """The first problem of a body, in our error format."""
    problems = error.errors(include_url=False)
    unknown = sorted(
        str(problem["loc"][0])[:40]
        for problem in problems
        if problem["type"] == "extra_forbidden"
    )
    if unknown:
        return ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    problem = problems[0]
    name = str(problem["loc"][0]) if problem["loc"] else "body"
    if problem["type"].startswith("invalid_"):  # ours, with its own message
        return ApiError(400, problem["type"], problem["msg"])
    return ApiError(400, f"invalid_{name}", f"'{name}': {problem['msg']}")


@bp.get("/callers/<phone>")
@api_login_required()
def get_caller(phone: str) -> Response:
    return jsonify(person_json(_visible_person(_number(phone))))


@bp.patch("/callers/<phone>")
@api_login_required()
def update_caller(phone: str) -> Response:
    number = _number(phone)
    change = _body().as_change()
    people.lock_people()  # before the person is read
    person = _visible_person(number)
    try:
        person = people.change_profile(person, change, g.api_user)
    except ProfileError as error:
        db.session.rollback()
        raise ApiError(error.status, error.code, str(error)) from None
    db.session.commit()
    return jsonify(person_json(person))
