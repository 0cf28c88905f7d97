"""The rows the writer stores: the ``spans`` and ``resources`` tables as Arrow schemas, and
one export request's decoded rows.

The schemas mirror migration ``001_spans.sql`` column for column (the writer inserts BY
NAME and adds ``batch_id``); both span decoders build tables of exactly these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]

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


@dataclass(frozen=True)
class DecodedSpans:
    """The storable part of one export request: rows of ``SPAN_SCHEMA`` and
    ``RESOURCE_SCHEMA``, and how many spans were rejected (with the first reason)."""

    spans: pa.Table
    resources: pa.Table
    rejected_spans: int
    error_message: str

    @property
    def accepted_spans(self) -> int:
        """How many spans will be stored."""
        return int(self.spans.num_rows)
