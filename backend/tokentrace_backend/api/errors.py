"""The API's errors, mapped to HTTP status codes in one place.

    ApiError                 any error the API answers on purpose
    ├── Unauthorized   401   missing or wrong API key
    └── NotFound       404
        ├── TokenNotFound    no stored span ever carried the token id
        └── TraceNotFound    no stored span of the trace

Bad parameters are FastAPI's ``RequestValidationError`` (422, the usual ``detail`` list),
except that no error echoes what was sent (``input``): a query parameter, a path segment or
a body field can hold anything, a raw token pasted by mistake included, and the error's
``loc`` names the field. What an error still repeats of the client's text (an unknown
field's name in ``loc``) is cut at ``MAX_ECHOED_NAME`` characters, and a message at
``MAX_ECHOED_MESSAGE``.
Every ApiError answers ``{"error": {"code": ..., "message": ..., <details>}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# The longest field name an error repeats (an unknown field's name is the client's text).
MAX_ECHOED_NAME: Final = 64
# The longest message an error carries (FastAPI's own are short; this is a net).
MAX_ECHOED_MESSAGE: Final = 200
# What of a validation error is answered: never "input" (the value sent), nor "ctx"
# (for some errors it holds the value, for others only what the message already says).
_ANSWERED_KEYS: Final = ("type", "loc", "msg")


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


def invalid_parameter(
    location: str, name: str, message: str, value: object = None
) -> RequestValidationError:
    """A 422 for a parameter that passed its type check but not our parsing.

    ``value`` is accepted for the callers' convenience and never answered: the error
    names the parameter, not what was sent.
    """
    del value
    return RequestValidationError(
        [{"type": "value_error", "loc": (location, name), "msg": message}]
    )


def api_error_response(error: ApiError) -> JSONResponse:
    """The answer to ``error``: its status code, headers and JSON body."""
    body = {"error": {"code": error.code, "message": error.message, **error.details}}
    return JSONResponse(body, status_code=error.status_code, headers=dict(error.headers))


async def _answer_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return api_error_response(error)


async def _answer_invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [_without_input(detail) for detail in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


def _without_input(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A validation error naming its field, without the value sent (nor its context)."""
    location = tuple(_cut(part, MAX_ECHOED_NAME) for part in detail.get("loc", ()))
    answer = {key: detail[key] for key in _ANSWERED_KEYS if key in detail}
    answer["loc"] = location
    if isinstance(answer.get("msg"), str):
        answer["msg"] = _cut(answer["msg"], MAX_ECHOED_MESSAGE)
    return answer


def _cut(part: Any, limit: int) -> Any:
    if isinstance(part, str) and len(part) > limit:
        return part[:limit] + "..."
    return part


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`ApiError` with its status code and JSON body, and bad requests
    with FastAPI's 422 minus what was sent."""
    app.add_exception_handler(ApiError, _answer_api_error)
    app.add_exception_handler(RequestValidationError, _answer_invalid_request)
