"""OTLP ``AnyValue``s and attribute lists as JSON-ready Python values."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, Final

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tokentrace_backend.otlp.span_schema import REDACTED, is_credential_attribute

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
    """One attribute's value as JSON-ready Python: a captured credential header
    (``http.request.header.authorization``, ...) keeps its key and loses its value, at any
    depth (events, resources and nested lists too)."""
    if is_credential_attribute(key_value.key):
        return REDACTED
    value = key_value.value
    kind = value.WhichOneof("value")
    if kind in SCALAR_KINDS:
        return getattr(value, kind)
    return any_value_to_python(value)


def key_values_to_dict(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict (a repeated key keeps its last value)."""
    return {key_value.key: attribute_value(key_value) for key_value in key_values}
