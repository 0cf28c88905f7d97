"""The native decoder's layout: types it does not build, and columns it cannot fill."""

from __future__ import annotations

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.otlp_builders import make_request, make_span
from tokentrace_backend.ingest import native_decoder
from tokentrace_backend.storage.span_rows import SPAN_SCHEMA


def _decoder_for(schema: pa.Schema, **limits: int) -> object:
    require_native_decoder()
    return native_decoder.build_span_decoder(schema, **limits)


@pytest.mark.parametrize(
    ("column", "other_type"),
    [("kind", pa.int32()), ("token_id", pa.large_string()), ("http_status", pa.int64())],
)
def test_a_column_type_the_decoder_does_not_build_is_refused(
    column: str, other_type: pa.DataType
) -> None:
    # from_buffers would read the decoder's buffers as that type without complaint.
    index = SPAN_SCHEMA.get_field_index(column)
    schema = SPAN_SCHEMA.set(index, pa.field(column, other_type))
    with pytest.raises(ValueError, match=f'column "{column}" is {other_type} in the schema'):
        _decoder_for(schema)


def test_the_backend_schema_is_accepted_and_decodes() -> None:
    decoder = _decoder_for(SPAN_SCHEMA)
    body = make_request([make_span(attributes={"http.response.status_code": 200})])
    rows, columns, *_ = decoder.decode(body.SerializeToString())  # type: ignore[attr-defined]
    assert rows == 1
    assert len(columns) == len(SPAN_SCHEMA)


def test_a_request_that_would_overfill_a_text_column_is_refused_not_a_crash() -> None:
    # String columns have 32-bit offsets: past 2 GiB the decoder used to panic (HTTP 500).
    # The limit is lowered here so that a small request reaches it.
    decoder = _decoder_for(SPAN_SCHEMA, max_column_bytes=1000)
    fits = make_request([make_span(name="n" * 500), make_span(name="n" * 500)])
    assert decoder.decode(fits.SerializeToString())[0] == 2  # type: ignore[attr-defined]
    too_much = make_request([make_span(name="n" * 500) for _ in range(3)])
    with pytest.raises(ValueError, match='more than 1000 bytes of column "name"'):
        decoder.decode(too_much.SerializeToString())  # type: ignore[attr-defined]


def test_the_column_limit_cannot_pass_32_bit_offsets() -> None:
    with pytest.raises(ValueError, match="max_column_bytes is at most 2147483647"):
        _decoder_for(SPAN_SCHEMA, max_column_bytes=2**31)
