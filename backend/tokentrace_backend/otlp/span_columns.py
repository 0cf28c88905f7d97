"""Decoded OTLP spans → the columns of the ``spans`` table, as a pyarrow Table.

This is the hot path of ingest: it runs once per span and once per attribute, so it keeps
the per-attribute work to a dictionary lookup and one ``getattr``; everything per column
(type conversion, JSON validation) is left to pyarrow and DuckDB. Spans that cannot be
stored (wrong id length, unknown kind, ...) are counted as rejected with a reason, and
the rest of the request is kept.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tokentrace.attributes import (
    AUTH_OUTCOME,
    AUTH_OUTCOME_SOURCE,
    TOKEN_ID,
    TOKEN_KEY_ID,
    TOKEN_NAME,
    TOKEN_OWNER,
)
from tokentrace_backend.otlp.wire_view import ExportRequestView

# Column order of the Arrow table; the writer inserts BY NAME, so only names matter there.
SPAN_SCHEMA: Final = pa.schema(
    [
        ("trace_id", pa.binary()),
        ("span_id", pa.uint64()),
        ("parent_span_id", pa.uint64()),
        ("service_name", pa.string()),
        ("service_version", pa.string()),
        ("name", pa.string()),
        ("kind", pa.uint8()),
        ("start_ns", pa.int64()),
        ("duration_ns", pa.int64()),
        ("status_code", pa.uint8()),
        ("status_message", pa.string()),
        ("http_method", pa.string()),
        ("http_route", pa.string()),
        ("http_status", pa.uint16()),
        ("url_path", pa.string()),
        ("client_address", pa.string()),
        ("user_agent", pa.string()),
        ("peer_service", pa.string()),
        ("db_system", pa.string()),
        ("server_address", pa.string()),
        ("messaging_system", pa.string()),
        ("token_id", pa.string()),
        ("token_key_id", pa.string()),
        ("auth_outcome", pa.string()),
        ("auth_outcome_source", pa.string()),
        ("token_owner", pa.string()),
        ("token_name", pa.string()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("attributes", pa.string()),  # JSON text; DuckDB validates it on insert
        ("resource_id", pa.uint64()),
        ("events", pa.string()),  # JSON text
    ]
)

RESOURCE_SCHEMA: Final = pa.schema(
    [
        ("resource_id", pa.uint64()),
        ("service_name", pa.string()),
        ("service_version", pa.string()),
        ("attributes", pa.string()),
    ]
)

_COLUMN: Final = {field.name: index for index, field in enumerate(SPAN_SCHEMA)}
_WIDTH: Final = len(SPAN_SCHEMA)
_URL_PATH: Final = _COLUMN["url_path"]
_HTTP_STATUS: Final = _COLUMN["http_status"]
_ERROR_TYPE: Final = _COLUMN["error_type"]
_ERROR_MESSAGE: Final = _COLUMN["error_message"]

# Attribute key → (column, primary). A primary name always wins; a fallback (an older
# semantic-convention name) only fills a column that is still empty, whatever the order.
_PROMOTED: Final[dict[str, tuple[int, bool]]] = {
    "http.request.method": (_COLUMN["http_method"], True),
    "http.method": (_COLUMN["http_method"], False),
    "http.route": (_COLUMN["http_route"], True),
    "http.response.status_code": (_HTTP_STATUS, True),
    "http.status_code": (_HTTP_STATUS, False),
    "url.path": (_URL_PATH, True),
    "http.target": (_URL_PATH, False),  # path part only, see _path_only
    "client.address": (_COLUMN["client_address"], True),
    "net.peer.ip": (_COLUMN["client_address"], False),
    "http.client_ip": (_COLUMN["client_address"], False),
    "user_agent.original": (_COLUMN["user_agent"], True),
    "http.user_agent": (_COLUMN["user_agent"], False),
    "peer.service": (_COLUMN["peer_service"], True),
    "db.system.name": (_COLUMN["db_system"], True),
    "db.system": (_COLUMN["db_system"], False),
    "server.address": (_COLUMN["server_address"], True),
    "net.peer.name": (_COLUMN["server_address"], False),
    "messaging.system": (_COLUMN["messaging_system"], True),
    TOKEN_ID: (_COLUMN["token_id"], True),
    TOKEN_KEY_ID: (_COLUMN["token_key_id"], True),
    AUTH_OUTCOME: (_COLUMN["auth_outcome"], True),
    AUTH_OUTCOME_SOURCE: (_COLUMN["auth_outcome_source"], True),
    TOKEN_OWNER: (_COLUMN["token_owner"], True),
    TOKEN_NAME: (_COLUMN["token_name"], True),
    "error.type": (_ERROR_TYPE, False),  # an exception event's type wins
}

_SCALAR_KINDS: Final = frozenset({"string_value", "int_value", "bool_value", "double_value"})
_SERVICE_NAME: Final = "service.name"
_SERVICE_VERSION: Final = "service.version"
_UNKNOWN_SERVICE: Final = "unknown_service"
_MAX_SPAN_KIND: Final = 5
_MAX_STATUS_CODE: Final = 2


@dataclass(frozen=True)
class DecodedSpans:
    """The storable part of one export request."""

    spans: pa.Table
    resources: pa.Table
    rejected_spans: int
    error_message: str

    @property
    def accepted_spans(self) -> int:
        """How many spans will be stored."""
        return int(self.spans.num_rows)


def any_value_to_python(value: AnyValue) -> Any:
    """An OTLP AnyValue as a JSON-ready Python value (bytes become base64, as in OTLP JSON)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in _SCALAR_KINDS:
        return getattr(value, kind)
    if kind == "array_value":
        return [any_value_to_python(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return key_values_to_dict(value.kvlist_value.values)
    return base64.b64encode(value.bytes_value).decode("ascii")


def key_values_to_dict(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict (a repeated key keeps its last value)."""
    result: dict[str, Any] = {}
    for key_value in key_values:
        value = key_value.value
        kind = value.WhichOneof("value")
        if kind in _SCALAR_KINDS:
            result[key_value.key] = getattr(value, kind)
        else:
            result[key_value.key] = any_value_to_python(value)
    return result


def to_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (NaN and infinities become null, which DuckDB's JSON accepts)."""
    return orjson.dumps(value)


def _resource_row(attributes: dict[str, Any]) -> tuple[int, str, str | None, str]:
    """(resource_id, service_name, service_version, attributes JSON) of one resource."""
    canonical = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(canonical, digest_size=8).digest()
    service_name = attributes.get(_SERVICE_NAME)
    service_version = attributes.get(_SERVICE_VERSION)
    return (
        int.from_bytes(digest, "big"),
        service_name if isinstance(service_name, str) and service_name else _UNKNOWN_SERVICE,
        None if service_version is None else str(service_version),
        canonical.decode("utf-8"),
    )


# A decoded attribute: (column or -1, primary, key, value). For promoted attributes the
# value is already coerced to the column's type, so the per-span loop only routes it.
_AttributeEntry = tuple[int, bool, str, Any]
_ATTRIBUTE_CACHE_LIMIT: Final = 200_000
_attribute_cache: dict[bytes, _AttributeEntry] = {}
_status_cache: dict[bytes, tuple[int, str | None]] = {b"": (0, None)}
_resource_cache: dict[bytes, tuple[int, str, str | None, str]] = {}


class InvalidSpan(ValueError):
    """One span cannot be stored; the rest of the request can."""


def _attribute_entry(raw: bytes) -> _AttributeEntry:
    """Decode one KeyValue with the real OTLP class (once per distinct value, then cached)."""
    try:
        key_value = KeyValue.FromString(raw)
    except DecodeError:
        raise InvalidSpan("an attribute is not a valid KeyValue") from None
    key = key_value.key
    value = any_value_to_python(key_value.value)
    slot = _PROMOTED.get(key)
    if slot is None:
        entry: _AttributeEntry = (-1, False, key, value)
    else:
        column, primary = slot
        coerce: Callable[[Any], Any] = _COERCE.get(column, _as_text)
        entry = (column, primary, key, coerce(value))
    if len(_attribute_cache) >= _ATTRIBUTE_CACHE_LIMIT:
        _attribute_cache.clear()  # bounded memory; refills with what is current
    _attribute_cache[raw] = entry
    return entry


def _status(raw: bytes) -> tuple[int, str | None]:
    cached = _status_cache.get(raw)
    if cached is not None:
        return cached
    try:
        status = Status.FromString(raw)
    except DecodeError:
        raise InvalidSpan("the status is not a valid Status") from None
    decoded = (int(status.code), status.message or None)
    if len(_status_cache) < 1_000:
        _status_cache[raw] = decoded
    return decoded


def _resource(raw: bytes) -> tuple[int, str, str | None, str]:
    cached = _resource_cache.get(raw)
    if cached is not None:
        return cached
    try:
        resource = Resource.FromString(raw)
    except DecodeError:
        raise MalformedSpans("a resource is not a valid Resource") from None
    row = _resource_row(key_values_to_dict(resource.attributes))
    if len(_resource_cache) >= 10_000:
        _resource_cache.clear()
    _resource_cache[raw] = row
    return row


class MalformedSpans(ValueError):
    """The request as a whole cannot be decoded."""


def decode_spans(body: bytes) -> DecodedSpans:
    """Turn a protobuf ExportTraceServiceRequest body into rows for ``spans`` and ``resources``.

    Raises MalformedSpans when the body is not an export request at all.
    """
    try:
        request = ExportRequestView.FromString(body)
    except DecodeError as error:
        raise MalformedSpans(f"invalid protobuf ExportTraceServiceRequest: {error}") from None
    rows: list[list[Any]] = []
    resources: dict[int, tuple[int, str, str | None, str]] = {}
    rejected = 0
    first_error = ""
    span_number = -1
    for resource_spans in request.resource_spans:
        resource = _resource(resource_spans.resource)
        resources[resource[0]] = resource
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span_number += 1
                try:
                    rows.append(_span_row(span, resource))
                except InvalidSpan as problem:
                    rejected += 1
                    if not first_error:
                        first_error = f"span #{span_number}: {problem}"
    return DecodedSpans(
        spans=_spans_table(rows),
        resources=pa.Table.from_pylist(
            [dict(zip(RESOURCE_SCHEMA.names, row, strict=True)) for row in resources.values()],
            schema=RESOURCE_SCHEMA,
        ),
        rejected_spans=rejected,
        error_message=first_error,
    )


_ZERO_TRACE_ID: Final = bytes(16)
_ZERO_SPAN_ID: Final = bytes(8)


def _span_row(span: Any, resource: tuple[int, str, str | None, str]) -> list[Any]:
    """One span as a row of SPAN_SCHEMA values; InvalidSpan if it cannot be stored."""
    trace_id = span.trace_id
    span_id = span.span_id
    parent_id = span.parent_span_id
    kind = span.kind
    start_ns = span.start_time_unix_nano
    end_ns = span.end_time_unix_nano
    raw_status = span.status
    status = _status_cache.get(raw_status) or _status(raw_status)
    if (  # one cheap test for the common case; _span_problem says what is wrong
        len(trace_id) != 16
        or len(span_id) != 8
        or (parent_id and len(parent_id) != 8)
        or not 0 <= kind <= _MAX_SPAN_KIND
        or status[0] > _MAX_STATUS_CODE
        or end_ns < start_ns
        or trace_id == _ZERO_TRACE_ID
        or span_id == _ZERO_SPAN_ID
    ):
        raise InvalidSpan(
            _span_problem(trace_id, span_id, parent_id, kind, status[0])
            or "end_time_unix_nano is before start_time_unix_nano"
        )

    # A list display is cheaper than copying a template and assigning a dozen items.
    row = [
        trace_id,
        int.from_bytes(span_id, "big"),
        int.from_bytes(parent_id, "big") if parent_id else None,
        resource[1],
        resource[2],
        span.name,
        kind,
        start_ns,
        end_ns - start_ns,
        status[0],
        status[1],
        None, None, None, None, None, None, None, None, None, None,
        None, None, None, None, None, None, None, None,
        None,
        resource[0],
        None,
    ]  # fmt: skip

    extra: dict[str, Any] | None = None
    cache_get = _attribute_cache.get
    for raw in span.attributes:
        entry = cache_get(raw) or _attribute_entry(raw)
        column = entry[0]
        if column < 0:
            if extra is None:
                extra = {}
            extra[entry[2]] = entry[3]
        elif entry[1] or row[column] is None:
            row[column] = entry[3]
    if extra:
        row[29] = orjson.dumps(extra)
    events = span.events
    if events:
        row[31] = _events_json(events, row)
    return row


def _span_problem(
    trace_id: bytes, span_id: bytes, parent_id: bytes, kind: int, status_code: int
) -> str | None:
    """Why a span cannot be stored, or None."""
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if not any(trace_id):
        return "trace_id must not be all zero"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if not any(span_id):
        return "span_id must not be all zero"
    if parent_id and len(parent_id) != 8:
        return f"parent_span_id must be empty or 8 bytes, got {len(parent_id)}"
    if not 0 <= kind <= _MAX_SPAN_KIND:
        return f"unknown span kind {kind}"
    if not 0 <= status_code <= _MAX_STATUS_CODE:
        return f"unknown status code {status_code}"
    return None


def _events_json(events: Sequence[bytes], row: list[Any]) -> bytes:
    """The span's events as JSON; the first exception event also fills the error columns."""
    exception_seen = False
    as_dicts: list[dict[str, Any]] = []
    for raw in events:
        try:
            event = Span.Event.FromString(raw)
        except DecodeError:
            raise InvalidSpan("an event is not a valid Span.Event") from None
        attributes = key_values_to_dict(event.attributes)
        if event.name == "exception" and not exception_seen:
            exception_seen = True
            exception_type = attributes.get("exception.type")
            if exception_type is not None:
                row[_ERROR_TYPE] = _as_text(exception_type)
            row[_ERROR_MESSAGE] = _as_text(attributes.get("exception.message"))
        as_dicts.append(
            {"name": event.name, "time_ns": event.time_unix_nano, "attributes": attributes}
        )
    return to_json(as_dicts)


def _spans_table(rows: list[list[Any]]) -> pa.Table:
    if not rows:
        return SPAN_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    arrays = [
        _column_array(columns[index], field, _COERCE.get(index, _as_text))
        for index, field in enumerate(SPAN_SCHEMA)
    ]
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


def _column_array(values: Sequence[Any], field: pa.Field, coerce: Callable[[Any], Any]) -> pa.Array:
    """One column as Arrow (promoted values are coerced when first decoded; this is a net)."""
    if values.count(None) == len(values):  # sparse columns (owner, events, ...) are common
        return pa.nulls(len(values), type=field.type)
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([coerce(value) for value in values], type=field.type)


def _path_only(value: str | None) -> str | None:
    """``http.target`` carries the query too; keep only the path (queries may hold secrets)."""
    if value is not None and "?" in value:
        return value.partition("?")[0]
    return value


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return to_json(value).decode("utf-8")


def _as_status(value: Any) -> int | None:
    try:
        status = int(value)
    except (TypeError, ValueError):
        return None
    return status if 0 <= status <= 0xFFFF else None


def _as_path(value: Any) -> str | None:
    return _path_only(_as_text(value))


_COERCE: Final[dict[int, Callable[[Any], Any]]] = {_HTTP_STATUS: _as_status, _URL_PATH: _as_path}
