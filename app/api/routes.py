"""The API's routes as data: one registration routes, checks and documents each.

    @api_route(bp, "GET", "/tickets", summary="...", query=schemas.TicketQuery,
               response=schemas.TicketList)
    def list_tickets(query: schemas.TicketQuery) -> dict: ...

The wrapper authenticates (unless login=False), validates the query string and
the JSON body through their models (the view gets them as `query=` and `body=`),
and sends what the view returns through the response model, so a field missing
from the model fails at the source instead of drifting from the document that
app.api.openapi builds from ROUTES.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, get_args

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError
from pydantic_core.core_schema import ErrorType

from app.api.auth import api_login_required
from app.api.errors import ApiError
from app.api.json_body import UnsafeJSON
from app.models import Role

# Why a request fails, for the document; a route names the ones it can answer.
ERRORS = {
    400: "A missing or invalid field or parameter",
    401: "No credential, or a bad one",
    403: "Authenticated, without the right (or a session write without CSRF)",
    404: "No such resource (or not one of yours)",
    409: "Not allowed in the resource's current state",
    410: "Gone for good",
    413: "The body is too large",
    416: "The range is outside the content",
    429: "Too many requests from this address: see Retry-After",
}
_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # as the document spells it: /api/tickets/{reference}
    endpoint: str
    summary: str
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    # Path parameters: name -> {"schema", "description"}, guessed from the rule.
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Responses that are not JSON models (audio): status -> OpenAPI response.
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)


ROUTES: list[ApiRoute] = []


def api_route(
    bp: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    errors: Iterable[int] = (),
    roles: Iterable[Role] = (),
    login: bool = True,
    parameters: dict[str, dict[str, Any]] | None = None,
    headers: dict[str, dict[str, Any]] | None = None,
    responses: dict[int, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route `rule` on `bp` for `method`, with its models, and document it."""
    roles = tuple(roles)
    implied = {400} if body or query else set()
    if "<" in rule:  # a bad or unknown path value: 400, or no route at all (404)
        implied |= {400, 404}
    if body:
        implied.add(413)
    if login:
        implied |= {401, 403}

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(**kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = read_query(query)
            if body is not None:
                kwargs["body"] = read_body(body)
            result = view(**kwargs)
            if response is None or isinstance(result, Response):
                return result
            return send(response, result, status)

        wrapper = api_login_required(*roles)(checked) if login else checked
        bp.add_url_rule(rule, view_func=wrapper, methods=[method])
        full_rule = (bp.url_prefix or "") + rule
        ROUTES.append(
            ApiRoute(
                method=method.lower(),
                path=_CONVERTER.sub(r"{\2}", full_rule),
                endpoint=f"{bp.name}.{view.__name__}",
                summary=summary,
                status=status,
                body=body,
                query=query,
                response=response,
                errors=tuple(sorted(implied | set(errors))),
                parameters=_path_parameters(full_rule, parameters or {}),
                headers=headers or {},
                responses=responses or {},
            )
        )
        return wrapper

    return decorator


def _path_parameters(
    rule: str, given: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    found = {}
    for converter, name in _CONVERTER.findall(rule):
        schema = {"type": "integer"} if converter == "int" else {"type": "string"}
        found[name] = {"schema": schema, **given.get(name, {})}
    return found


def _region() -> dict[str, str]:
    return {"region": current_app.config["DEFAULT_REGION"]}


def read_body(model: type[M]) -> M:
    """The JSON body as `model`, or a 400 naming the field and its error code."""
    try:
        data = current_app.json.loads(request.get_data()) if request.is_json else None
    except UnsafeJSON as error:
        raise ApiError(400, "invalid_json", str(error)) from None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(data, context=_region())
    except ValidationError as error:
        raise _api_error(model, error) from None


def read_query(model: type[M]) -> M:
    """The query string as `model`; an empty value counts as absent."""
    args = {name: value for name, value in request.args.items() if value != ""}
    try:
        return model.model_validate(args, context=_region())
    except ValidationError as error:
        raise _api_error(model, error) from None


def send(model: type[BaseModel], data: Any, status: int = 200) -> Response:
    """`data` through `model` to JSON: what is sent is what the document says."""
    payload = model.model_validate(data).model_dump_json()
    return current_app.response_class(
        payload, status=status, mimetype="application/json"
    )


def _api_error(model: type[BaseModel], error: ValidationError) -> ApiError:
    """The first problem, with a stable code: unknown_field, invalid_<field>, or
    the model's own (a PydanticCustomError's type, such as nothing_to_change)."""
    problems = error.errors(include_url=False, include_input=False)
    unknown = [
        str(p["loc"][0])[:40]  # a key may be long: the message need not be
        for p in problems
        if p["type"] == "extra_forbidden" and len(p["loc"]) == 1
    ]
    if unknown:
        return ApiError(
            400, "unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}"
        )
    first = problems[0]
    if first["type"] not in BUILT_IN_ERRORS:  # a model's own: its type is the code
        return ApiError(400, first["type"], first["msg"])
    if not first["loc"]:
        return ApiError(400, "invalid_json", first["msg"])
    name = str(first["loc"][0])
    codes: dict[str, str] = getattr(model, "error_codes", {})
    return ApiError(
        400, codes.get(name, f"invalid_{name}"), f"'{name}': {first['msg']}"
    )


# Pydantic's own error types; any other was raised by a model (PydanticCustomError
# such as nothing_to_change) and is the code the client gets.
BUILT_IN_ERRORS = frozenset(get_args(ErrorType))
