"""``POST /api/lifecycle``: lifecycle events registered by token issuers that run no
tokentrace. They land beside the events apps record with ``tokentrace.record_lifecycle``
(``derived.register_lifecycle``), so ``GET /api/tokens/{id}/lifecycle`` shows one list.

The body is validated strictly: known fields only, token ids as in paths (``HEX_ID_32``),
times as ISO-8601 or unix seconds, at most ``MAX_BODY_BYTES``. A bad body answers 422
naming the field, without echoing what was sent (``errors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Final

import duckdb
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from tokentrace.attributes import LIFECYCLE_EVENTS
from tokentrace_backend import queries
from tokentrace_backend.audit import APPEND_LOCK, RecordKind, append_record
from tokentrace_backend.derived import LifecycleRegistration, register_lifecycle
from tokentrace_backend.queries.results import LifecycleEvent
from tokentrace_backend.queries.timestamps import NS_PER_SECOND, ns_from_datetime
from tokentrace_backend.storage.conflicts import retry_on_conflict

from .dependencies import Cursor, Derived, NowNs
from .errors import invalid_parameter
from .parameters import EARLIEST, HEX_ID_32, LATEST, normalise_hex, parse_iso_instant

router = APIRouter(prefix="/lifecycle", tags=["lifecycle"])

MAX_BODY_BYTES: Final = 16 * 1024  # a registration is a few hundred bytes
MAX_ACTOR_CHARS: Final = 256
MAX_TIME_CHARS: Final = 64
# How far in the future `at` may be: clock skew between the issuer and the backend.
MAX_CLOCK_SKEW_NS: Final = 300 * NS_PER_SECOND
REPLACING_EVENTS: Final = ("rotated", "renewed")
"""The events that may name the token that replaces this one (``new_token_id``)."""

_TOKEN_ID = re.compile(HEX_ID_32)
_HEX_ID_HELP = "expected a token id: 32 hex characters (tokentrace hash)"
_TIME_HELP = "expected ISO-8601 (2026-01-31T12:00:00Z) or unix seconds (a number)"
_RANGE_HELP = "time out of range (1970 to 2261)"
_EARLIEST_SECONDS: Final = EARLIEST.timestamp()
_LATEST_SECONDS: Final = LATEST.timestamp()


def _event(value: object) -> str:
    if not isinstance(value, str) or value not in LIFECYCLE_EVENTS:
        raise PydanticCustomError(
            "lifecycle_event", "expected one of " + ", ".join(LIFECYCLE_EVENTS)
        )
    return value


def _token_id(value: object) -> str:
    if not isinstance(value, str) or not _TOKEN_ID.fullmatch(value):
        raise PydanticCustomError("token_id", _HEX_ID_HELP)
    return normalise_hex(value)


def _actor(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_ACTOR_CHARS
        or not value.isprintable()
    ):
        raise PydanticCustomError("actor", f"expected 1 to {MAX_ACTOR_CHARS} printable characters")
    return value


def _instant_ns(value: object) -> int:
    """ISO-8601 text (naive means UTC) or unix seconds (a JSON number), as unix ns."""
    if isinstance(value, str):
        if len(value) > MAX_TIME_CHARS:
            raise PydanticCustomError("time", _TIME_HELP)
        try:
            return ns_from_datetime(parse_iso_instant(value, expected=_TIME_HELP))
        except ValueError as error:
            raise PydanticCustomError("time", str(error)) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("time", _TIME_HELP)
    if not _EARLIEST_SECONDS <= value < _LATEST_SECONDS:  # NaN and infinities too
        raise PydanticCustomError("time", _RANGE_HELP)
    if isinstance(value, int):
        return value * NS_PER_SECOND
    return round(value * 1_000_000) * 1_000  # a float holds microseconds of such a time


def _optional(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    def parse_unless_null(value: object) -> Any:
        return None if value is None else parse(value)

    return parse_unless_null


_TIME_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
    "description": "ISO-8601 (no offset means UTC) or unix seconds",
}
_TOKEN_ID_SCHEMA = {"type": "string", "pattern": HEX_ID_32}

EventName = Annotated[
    str, PlainValidator(_event), WithJsonSchema({"type": "string", "enum": list(LIFECYCLE_EVENTS)})
]
TokenIdText = Annotated[str, PlainValidator(_token_id), WithJsonSchema(_TOKEN_ID_SCHEMA)]
OptionalTokenId = Annotated[
    str | None,
    PlainValidator(_optional(_token_id)),
    WithJsonSchema({"anyOf": [_TOKEN_ID_SCHEMA, {"type": "null"}]}),
]
OptionalActor = Annotated[
    str | None,
    PlainValidator(_optional(_actor)),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_ACTOR_CHARS}, {"type": "null"}]}),
]
OptionalInstant = Annotated[
    int | None,
    PlainValidator(_optional(_instant_ns)),
    WithJsonSchema({"anyOf": [_TIME_SCHEMA, {"type": "null"}]}),
]


class LifecycleRegistrationBody(BaseModel):
    """A lifecycle event as an issuer registers it. Times are held as unix nanoseconds."""

    model_config = ConfigDict(extra="forbid")

    event: EventName
    token_id: TokenIdText = Field(description="the token the event is about")
    new_token_id: OptionalTokenId = Field(
        default=None, description="rotated or renewed: the token that replaces it"
    )
    at: OptionalInstant = Field(default=None, description="when it happened; default now")
    actor: OptionalActor = Field(default=None, description="who or what did it")
    expires_at: OptionalInstant = Field(
        default=None, description="the token's expiry from this event on"
    )


@router.post(
    "",
    status_code=201,
    response_model=LifecycleEvent,
    max_body_size=MAX_BODY_BYTES,
    responses={413: {"description": f"a body over {MAX_BODY_BYTES} bytes"}},
)
def register_lifecycle_event(
    body: LifecycleRegistrationBody, cursor: Cursor, derived: Derived, now_ns: NowNs
) -> LifecycleEvent:
    """Register a lifecycle event of a token (created, rotated, revoked, renewed, expired)."""
    if body.new_token_id is not None:
        if body.event not in REPLACING_EVENTS:
            raise _invalid("new_token_id", "only rotated and renewed name a new token")
        if body.new_token_id == body.token_id:
            raise _invalid("new_token_id", "the new token must differ from token_id")
    if body.at is not None and body.at > now_ns + MAX_CLOCK_SKEW_NS:
        raise _invalid("at", "the event cannot be in the future")
    registration = LifecycleRegistration(
        event=body.event,
        token_id=body.token_id,
        at_ns=now_ns if body.at is None else body.at,
        new_token_id=body.new_token_id,
        actor=body.actor,
        expires_ns=body.expires_at,
    )

    def transaction() -> dict[str, Any]:
        with APPEND_LOCK:  # taken before the derived tables' lock, as everywhere
            return register_lifecycle(cursor, derived, registration, within=_audit_registration)

    # It updates token_dim, as the refresh does (on this node, or on a lake's leader).
    stored = retry_on_conflict(transaction, what="a lifecycle registration")
    return queries.lifecycle_event(stored, role="token")


def _audit_registration(cursor: duckdb.DuckDBPyConnection, stored: dict[str, Any]) -> None:
    """The registration's audit record, in its transaction."""
    append_record(
        cursor,
        kind=RecordKind.LIFECYCLE_REGISTERED,
        token_id=stored["token_id"],
        body={
            "event": stored["event"],
            "at_ns": stored["at_ns"],
            "new_token_id": stored["new_token_id"],
            "actor": stored["actor"],
            "expires_ns": stored["expires_ns"],
            "source": stored["source"],
        },
    )


def _invalid(field: str, message: str) -> Exception:
    return invalid_parameter("body", field, message, None)  # the 422 never echoes a body
