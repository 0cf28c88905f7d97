"""The Python span decoder: protobuf export requests → rows of the ``spans`` table, as a
pyarrow Table. It is the reference the compiled decoder is tested against, and the
fallback on machines without it.

This is the hot path of ingest. The request is parsed through the wire-compatible view of
``wire_view`` and every repeated part (attribute, status, resource) is decoded once with the
real ``opentelemetry.proto`` classes and remembered by its bytes, already routed to its
column and coerced to its type, so the per-attribute work is one dict lookup; the per-span
work is a handful of field reads and a list. The caches are bounded: when one is full it
is emptied and refills with what current traffic sends. Everything per column (types, JSON
validation) is left to pyarrow and DuckDB. Spans that cannot be stored (wrong id length,
unknown kind, ...) are counted as rejected with a reason, and the rest are kept.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tokentrace.attributes import CREDENTIAL_HEADERS, REDACTED_HEADER, captured_header_name
from tokentrace_backend.ingest.decoding_rules import (
    ATTRIBUTES,
    COERCE,
    ERROR_MESSAGE,
    ERROR_TYPE,
    EVENTS,
    PROMOTED,
    URL_HEADERS,
    URL_KEYS,
    as_text,
    redact_header_urls,
    redact_url_attribute,
    repeated_resource_problem,
)
from tokentrace_backend.ingest.errors import InvalidSpan, MalformedSpans
from tokentrace_backend.ingest.wire_view import ExportRequestView
from tokentrace_backend.storage.span_rows import RESOURCE_SCHEMA, SPAN_SCHEMA, DecodedSpans

__all__ = ["decode_spans"]

# --- attribute values -----------------------------------------------------------------------

SCALAR_KINDS: Final = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def any_value_to_python(value: AnyValue) -> Any:
    """An OTLP AnyValue as a JSON-ready Python value (bytes become base64, as in OTLP JSON;
    an empty value, or a kind traces do not use, is None)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in SCALAR_KINDS:
        return getattr(value, kind)
    if kind == "array_value":
        return [any_value_to_python(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return key_values_to_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None  # string_value_strindex: a profiles-only index into a table traces lack


def attribute_value(key_value: KeyValue) -> Any:
    """One attribute's value as JSON-ready Python, at any depth (events, resources and
    nested lists too): a captured credential header (``http.request.header.authorization``,
    ...) keeps its key and loses its value; a URL attribute (``url.full``, ...) or a captured
    ``Referer`` / ``Location`` keeps its URL, with credential query parameters redacted."""
    key = key_value.key
    header = captured_header_name(key)
    if header in CREDENTIAL_HEADERS:
        return REDACTED_HEADER
    value = key_value.value
    kind = value.WhichOneof("value")
    result = getattr(value, kind) if kind in SCALAR_KINDS else any_value_to_python(value)
    if key in URL_KEYS:
        return redact_url_attribute(key, result)
    if header in URL_HEADERS:
        return redact_header_urls(result)
    return result


def key_values_to_dict(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict (a repeated key keeps its last value)."""
    return {key_value.key: attribute_value(key_value) for key_value in key_values}


# --- decode-once caches of the parts that repeat across spans ------------------------------

# (resource_id, service_name, service_version, attributes JSON)
ResourceRow = tuple[int, str, str | None, str]

_SERVICE_NAME: Final = "service.name"
_SERVICE_VERSION: Final = "service.version"
_UNKNOWN_SERVICE: Final = "unknown_service"


def _resource_row(attributes: dict[str, Any]) -> ResourceRow:
    """(resource_id, service_name, service_version, attributes JSON) of one resource."""
    canonical = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(canonical, digest_size=8).digest()
    service_name = attributes.get(_SERVICE_NAME)
    service_version = attributes.get(_SERVICE_VERSION)
    return (
        int.from_bytes(digest, "big"),
        service_name if isinstance(service_name, str) and service_name else _UNKNOWN_SERVICE,
        as_text(service_version),
        canonical.decode("utf-8"),
    )


# A decoded attribute: (column or -1, primary, key, value). For promoted attributes the
# value is already coerced to the column's type, so the per-span loop only routes it.
AttributeEntry = tuple[int, bool, str, Any]
_ATTRIBUTE_CACHE_LIMIT: Final = 200_000
_STATUS_CACHE_LIMIT: Final = 1_000
_RESOURCE_CACHE_LIMIT: Final = 10_000
attribute_cache: dict[bytes, AttributeEntry] = {}
status_cache: dict[bytes, tuple[int, str | None]] = {b"": (0, None)}
_resource_cache: dict[bytes, ResourceRow] = {}


def attribute_entry(raw: bytes) -> AttributeEntry:
    """Decode one KeyValue with the real OTLP class (once per distinct value, then cached)."""
    try:
        key_value = KeyValue.FromString(raw)
    except DecodeError:
        raise InvalidSpan("an attribute is not a valid KeyValue") from None
    key = key_value.key
    value = attribute_value(key_value)
    slot = PROMOTED.get(key)
    if slot is None:
        entry: AttributeEntry = (-1, False, key, value)
    else:
        column, primary = slot
        coerce: Callable[[Any], Any] = COERCE.get(column, as_text)
        entry = (column, primary, key, coerce(value))
    return _remember(attribute_cache, _ATTRIBUTE_CACHE_LIMIT, raw, entry)


def status_of(raw: bytes) -> tuple[int, str | None]:
    """(status code, message) of a span's Status bytes."""
    cached = status_cache.get(raw)
    if cached is not None:
        return cached
    try:
        status = Status.FromString(raw)
    except DecodeError:
        raise InvalidSpan("the status is not a valid Status") from None
    return _remember(
        status_cache, _STATUS_CACHE_LIMIT, raw, (int(status.code), status.message or None)
    )


def resource_of(raw: bytes) -> ResourceRow:
    """The ``resources`` row of a Resource's bytes."""
    cached = _resource_cache.get(raw)
    if cached is not None:
        return cached
    try:
        resource = Resource.FromString(raw)
    except DecodeError:
        raise MalformedSpans("a resource is not a valid Resource") from None
    row = _resource_row(key_values_to_dict(resource.attributes))
    return _remember(_resource_cache, _RESOURCE_CACHE_LIMIT, raw, row)


_Value = TypeVar("_Value")


def _remember(cache: dict[bytes, _Value], limit: int, raw: bytes, value: _Value) -> _Value:
    """Store ``value`` under ``raw``; a full cache is emptied first (bounded memory, it
    refills with what current traffic sends). Only misses come here, not the hot path."""
    if len(cache) >= limit:
        cache.clear()
    cache[raw] = value
    return value


# --- requests and spans ---------------------------------------------------------------------

_MAX_SPAN_KIND: Final = 5
_MAX_STATUS_CODE: Final = 2
_ZERO_TRACE_ID: Final = bytes(16)
_ZERO_SPAN_ID: Final = bytes(8)
_MAX_TIME_NS: Final = 2**63 - 1  # start/end are stored as BIGINT nanoseconds


def decode_spans(body: bytes) -> DecodedSpans:
    """Turn a protobuf ExportTraceServiceRequest body into rows for ``spans`` and ``resources``.

    Raises MalformedSpans when the body is not an export request at all.
    """
    try:
        request = ExportRequestView.FromString(body)
    except DecodeError as error:
        raise MalformedSpans(f"invalid protobuf ExportTraceServiceRequest: {error}") from None
    rows: list[list[Any]] = []
    resources: dict[int, ResourceRow] = {}
    rejected = 0
    first_error = ""
    span_number = -1
    repeated_resource_bytes = 0
    for resource_spans in request.resource_spans:
        resource = resource_of(resource_spans.resource)
        resources[resource[0]] = resource
        repeated_per_span = _repeated_bytes(resource)
        for scope_spans in resource_spans.scope_spans:
            repeated_resource_bytes += repeated_per_span * len(scope_spans.spans)
            problem = repeated_resource_problem(repeated_resource_bytes)
            if problem:
                raise MalformedSpans(problem)
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


def _repeated_bytes(resource: ResourceRow) -> int:
    """Bytes of a resource that each of its span rows repeats (service name and version)."""
    _, service_name, service_version, _ = resource
    return len(service_name.encode()) + len((service_version or "").encode())


def _span_row(span: Any, resource: ResourceRow) -> list[Any]:
    """One span as a row of SPAN_SCHEMA values; InvalidSpan if it cannot be stored."""
    trace_id = span.trace_id
    span_id = span.span_id
    parent_id = span.parent_span_id
    kind = span.kind
    start_ns = span.start_time_unix_nano
    end_ns = span.end_time_unix_nano
    raw_status = span.status
    status = status_cache.get(raw_status) or status_of(raw_status)
    if (  # one cheap test for the common case; _span_problem says what is wrong
        len(trace_id) != 16
        or len(span_id) != 8
        or (parent_id and len(parent_id) != 8)
        or not 0 <= kind <= _MAX_SPAN_KIND
        or not 0 <= status[0] <= _MAX_STATUS_CODE
        or end_ns < start_ns
        or end_ns > _MAX_TIME_NS
        or trace_id == _ZERO_TRACE_ID
        or span_id == _ZERO_SPAN_ID
    ):
        raise InvalidSpan(
            _span_problem(trace_id, span_id, parent_id, kind, status[0])
            or (
                "end_time_unix_nano is before start_time_unix_nano"
                if end_ns < start_ns
                else "times after 2262 do not fit the stored int64 nanoseconds"
            )
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
    cache_get = attribute_cache.get
    for raw in span.attributes:
        entry = cache_get(raw) or attribute_entry(raw)
        column = entry[0]
        if column < 0:
            if extra is None:
                extra = {}
            extra[entry[2]] = entry[3]
        elif entry[1] or row[column] is None:
            row[column] = entry[3]
    if extra:
        row[ATTRIBUTES] = orjson.dumps(extra)
    events = span.events
    if events:
        row[EVENTS] = _events_json(events, row)
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
                row[ERROR_TYPE] = as_text(exception_type)
            row[ERROR_MESSAGE] = as_text(attributes.get("exception.message"))
        as_dicts.append(
            {"name": event.name, "time_ns": event.time_unix_nano, "attributes": attributes}
        )
    return orjson.dumps(as_dicts)


def _spans_table(rows: list[list[Any]]) -> pa.Table:
    if not rows:
        return SPAN_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    arrays = [
        _column_array(columns[index], field, COERCE.get(index, as_text))
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
