"""The API's errors, mapped to HTTP status codes in one place.

    ApiError                 any error the API answers on purpose
    ├── Unauthorized   401   missing or wrong API key
    └── NotFound       404
        ├── TokenNotFound    no stored span ever carried the token id
        └── TraceNotFound    no stored span of the trace

Bad parameters are FastAPI's ``RequestValidationError`` (422, the usual ``detail`` list),
except that an error in a request body does not echo what was sent (``input``): a body field
can hold anything, a raw token pasted by mistake included, and its ``loc`` names the field.
Every ApiError answers ``{"error": {"code": ..., "message": ..., <details>}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# The longest field name a body error repeats (an unknown field's name is the client's text).
MAX_ECHOED_NAME: Final = 64


class ApiError(Exception):
    """Base of the API's deliberate error answers."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"no span carries token id {token_id}", token_id=token_id)


class TraceNotFound(NotFound):
    code = "trace_not_found"

    def __init__(self, trace_id: str) -> None:
        super().__init__(f"no span of trace {trace_id} is stored", trace_id=trace_id)


def invalid_parameter(location: str, name: str, message: str, value: object) -> Exception:
    """A 422 for a parameter that passed its type check but not our parsing."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (location, name), "msg": message, "input": value}]
    )


async def _answer_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    body = {"error": {"code": error.code, "message": error.message, **error.details}}
    return JSONResponse(body, status_code=error.status_code, headers=dict(error.headers))


async def _answer_invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [_without_body_input(detail) for detail in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


def _without_body_input(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    location = tuple(detail.get("loc", ()))
    if location[:1] != ("body",):
        return detail  # query and path parameters: FastAPI's answer as it is
    cut = tuple(
        part[:MAX_ECHOED_NAME] + "..."
        if isinstance(part, str) and len(part) > MAX_ECHOED_NAME
        else part
        for part in location
    )
    return {key: value for key, value in detail.items() if key != "input"} | {"loc": cut}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`ApiError` with its status code and JSON body, and bad requests
    with FastAPI's 422 minus what a body sent."""
    app.add_exception_handler(ApiError, _answer_api_error)
    app.add_exception_handler(RequestValidationError, _answer_invalid_request)
