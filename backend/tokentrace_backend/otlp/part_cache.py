"""Decode-once caches for the parts of a span that repeat across spans.

Each distinct attribute (``KeyValue`` bytes), status and resource is decoded once with the
real ``opentelemetry.proto`` classes and remembered by its bytes, already routed to its
column and coerced to its type (see ``wire_view``). The caches are bounded: when one is
full it is emptied and refills with what current traffic sends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

import orjson
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tokentrace_backend.otlp.any_value import attribute_value, key_values_to_dict
from tokentrace_backend.otlp.decode_errors import InvalidSpan, MalformedSpans
from tokentrace_backend.otlp.span_schema import (
    COERCE,
    PROMOTED,
    as_text,
)

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
