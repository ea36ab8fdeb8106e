"""JSON errors: {"error": {"code", "message"}} with a 4xx status (CONTRACT §6)."""

import logging

from flask import Response, current_app
from werkzeug.exceptions import HTTPException

from app.api.schemas import Error

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message}}
    response = current_app.response_class(
        Error.model_validate(body).model_dump_json(),
        status=status,
        mimetype="application/json",
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ecoute"'
    return response


def handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message)


def handle_http_error(error: HTTPException) -> Response:
    code = (error.name or "error").lower().replace(" ", "_")
    response = error_response(error.code or 500, code, error.description or error.name)
    if error.code == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_unexpected(error: Exception) -> Response:
    log.exception("API request failed")
    return error_response(
        500, "internal_error", "the server could not complete the request"
    )
