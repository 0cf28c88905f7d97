"""The native decoder refuses a column layout whose types it does not build."""

from __future__ import annotations

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from tests.backend.ingest.conftest import require_native_decoder
from tests.backend.ingest.otlp_builders import make_request, make_span
from tokentrace_backend.otlp import native_decoding
from tokentrace_backend.otlp.span_schema import (
    CREDENTIAL_HEADERS,
    HEADER_PREFIXES,
    HTTP_STATUS,
    MAX_REPEATED_RESOURCE_BYTES,
    PROMOTED,
    REDACTED,
    SPAN_SCHEMA,
    URL_PATH,
)


def _decoder_for(schema: pa.Schema) -> object:
    require_native_decoder()
    assert native_decoding.SpanDecoder is not None
    return native_decoding.SpanDecoder(
        column_names=schema.names,
        column_types=[str(field.type) for field in schema],
        promoted=PROMOTED,
        status_column=HTTP_STATUS,
        path_column=URL_PATH,
        credential_headers=sorted(CREDENTIAL_HEADERS),
        header_prefixes=list(HEADER_PREFIXES),
        redacted=REDACTED,
        max_repeated_resource_bytes=MAX_REPEATED_RESOURCE_BYTES,
    )


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
