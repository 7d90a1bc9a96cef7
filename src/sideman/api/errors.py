"""Error bodies: ``{"code": 422, "msg": "...", "error": {"message", "type", "param"}}``,
with the HTTP status equal to `code` (`msg` repeats the message for Suno-style clients). Every error the API answers goes through here; a 500 says
nothing about internals (the details go to the log)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sideman.errors import InsufficientStorage, InvalidField, SidemanError
from sideman.storage.space import is_disk_full

log = logging.getLogger(__name__)

__all__ = ["ApiError", "ErrorBody", "error_response", "error_responses", "install_error_handlers"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    416: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
    507: "insufficient_storage_error",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: `code` equals the HTTP status."""

    code: int
    msg: str
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed JSON or unknown model", 401: "Missing or unknown API key",
    403: "The task belongs to another key", 404: "Unknown task or file",
    413: "Request body or file too large", 415: "Not audio", 422: "An invalid field",
    429: "Rate limited (see Retry-After)", 500: "Internal error (no details)",
    503: "Not ready",
    507: "No room: the server's disk is short of space, or the key's storage quota is used up",
}


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for the error codes a route answers with."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "Error")}
            for code in codes}


class ApiError(Exception):
    """Raise in a route to answer with an error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers
        super().__init__(message)


def error_response(status: int, message: str, *, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"code": status, "msg": message, "error": {"message": message,
                                      "type": _TYPES.get(status, "server_error"),
                                      "param": param}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SidemanError, _sideman_error)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, param=exc.param, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Malformed JSON, a body that is not an object, or an unknown top-level `model`
    answer 400; any other invalid field 422, naming the first one in `param`."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for error in errors:
        loc = tuple(str(part) for part in error.get("loc", ()))
        if error.get("type") == "json_invalid":
            return error_response(400, "the request body is not valid JSON")
        if loc == ("body",):  # missing, or not an object
            return error_response(400, "the request body must be a JSON object")
        if loc == ("body", "model"):
            return error_response(400, _message(error, "model"), param="model")
    if not errors:
        return error_response(422, "invalid request")
    first = errors[0]
    param = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    if param == "input.mv":  # the alias of input.model
        param = "input.model"
    return error_response(422, _message(first, param), param=param)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _sideman_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SidemanError)
    if isinstance(exc, InsufficientStorage):
        return error_response(507, str(exc))
    if exc.http_status >= 500:
        log.exception("server error", exc_info=exc)
        return error_response(exc.http_status, "internal server error")
    param = exc.param if isinstance(exc, InvalidField) else None
    return error_response(exc.http_status, str(exc), param=param)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    if is_disk_full(exc):  # ENOSPC from a write, "database or disk is full" from SQLite
        log.error("the disk is full: %s", exc)
        return error_response(507, "the server is out of disk space; try again later")
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal server error")


def _message(error: dict, param: str | None) -> str:
    text = str(error.get("msg", "invalid value"))
    if text.startswith("Value error, "):
        text = text[len("Value error, "):]
    if error.get("type") == "missing":
        text = "this field is required"
    return f"{param}: {text}" if param else text
