"""Errors of the REST API: every one in the smorest shape ``{code, status, message, errors}``."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, jsonify, request
from flask_smorest import abort
from werkzeug.exceptions import BadRequest
from werkzeug.http import HTTP_STATUS_CODES

from rapport.platform.errors import DomainError, Throttled, ValidationFailed


def fail(status: int, message: str, **kwargs: Any) -> NoReturn:
    """Stop the request with an API error."""
    abort(status, message=message, **kwargs)
    raise AssertionError("unreachable")  # abort raises; this keeps type checkers informed


def error_response(
    status: int,
    message: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    """An error response in smorest's shape, for places where raising is not possible."""
    payload: dict[str, Any] = {
        "code": status,
        "status": HTTP_STATUS_CODES[status],
        "message": message,
    }
    if errors is not None:
        payload["errors"] = errors
    return jsonify(payload), status, headers or {}


def _domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
    # An error handler must answer, not raise: Flask does not handle errors raised by handlers.
    if isinstance(exc, ValidationFailed):
        # The location key matches what smorest reports for invalid query arguments ("query").
        return error_response(exc.status, exc.message, {"json": exc.errors})
    if isinstance(exc, Throttled):
        return error_response(429, exc.message, headers={"Retry-After": str(exc.retry_after)})
    return error_response(exc.status, exc.message)


def install(blp: Blueprint) -> None:
    """Translate domain errors raised in this blueprint's views."""
    blp.register_error_handler(DomainError, _domain_error)


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 for malformed JSON, 415 for another media type, 422 else."""
    if not request.is_json:
        fail(415, "Send the body as JSON (Content-Type: application/json).")
    try:
        data = request.get_json()
    except BadRequest:
        fail(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        fail(
            422, "The body must be a JSON object.", errors={"json": {"_schema": ["Not an object."]}}
        )
    return data
