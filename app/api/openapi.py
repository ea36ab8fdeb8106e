"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json.

Built from the routes registered with app.api.routes.api_route and the pydantic
models of app.api.schemas: the same classes check every request and response,
so the document cannot say one thing while the API does another.
"""

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api.routes import ERRORS, ROUTES, ApiRoute
from app.api.schemas import Error

REF = "#/components/schemas/{model}"
INFO = {
    "title": "Écoute API",
    "version": "1",
    "description": "Tickets and caller history of an Écoute call centre.",
}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}
        },
    }


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: no title, and absent rather than null."""
    schema = {key: value for key, value in schema.items() if key != "title"}
    options = schema.pop("anyOf", None)
    if options:
        schema = {**next(o for o in options if o != {"type": "null"}), **schema}
    if schema.get("default") is None:
        schema.pop("default", None)
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    document = model.model_json_schema(mode="validation")
    properties, required = document["properties"], set(document.get("required", ()))
    parameters = []
    for name, schema in properties.items():
        schema = _plain(schema)
        # routes.read_query takes an empty value for an absent one.
        parameter = {
            "name": name,
            "in": "query",
            "required": name in required,
            # An empty value is no value: a required one may not be empty.
            "allowEmptyValue": name not in required,
        }
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        if schema.pop("deprecated", False):
            parameter["deprecated"] = True
        parameters.append({**parameter, "schema": schema})
    return parameters


def _operation(route: ApiRoute) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.endpoint,
        "summary": route.summary,
    }
    parameters = [
        {"name": name, "in": "path", "required": True, **spec}
        for name, spec in route.parameters.items()
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, **spec}
        for name, spec in route.headers.items()
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query)
    if parameters:
        operation["parameters"] = parameters
    if 401 not in route.errors:
        # Never refused for a missing credential: none is asked (the public
        # twins of CONTRACT §9.1), whatever the document's default says.
        operation["security"] = []
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=route.body.__name__)}
                }
            },
        }
    responses: dict[str, Any] = {}
    if route.response is not None:
        responses[str(route.status)] = _json(route.response, route.summary)
    for status, spec in route.responses.items():
        responses[str(status)] = spec
    for status in route.errors:
        responses[str(status)] = _json(Error, ERRORS[status])
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _components(routes: list[ApiRoute]) -> dict[str, Any]:
    models: dict[type[BaseModel], str] = {Error: "serialization"}
    for route in routes:
        if route.body is not None:
            models[route.body] = "validation"
        if route.response is not None:
            models[route.response] = "serialization"
    _, top = models_json_schema(list(models.items()), ref_template=REF)
    components = top.get("$defs", {})
    for component in components.values():
        for spec in component.get("properties", {}).values():
            # None is how a model says "absent" (schemas.absent): not a value
            # to send, nor one to show as the default.
            if spec.get("default", ...) is None:
                del spec["default"]
    return components


def _with_choices(schema: Any, choices: dict[str, list[str]]) -> Any:
    """Replace each {"x-choices": name} mark by the enum the app knows now."""
    if isinstance(schema, list):
        return [_with_choices(item, choices) for item in schema]
    if not isinstance(schema, dict):
        return schema
    done = {key: _with_choices(value, choices) for key, value in schema.items()}
    name = done.pop("x-choices", None)
    if name is not None and name in choices:
        nullable = {"type": "null"} in done.get("anyOf", [])
        done["enum"] = [*choices[name], None] if nullable else choices[name]
    return done


def document(choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The document; `choices` fills in the lists that are configuration, not
    code (the menus' category keys), so a client sees the values it may send."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": _with_choices(_components(ROUTES), choices or {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
