"""The compiled span decoder, from the optional ``tokentrace-otlp-native`` package.

It applies the same rules as :mod:`.python_decoder` (which stays the reference and the
fallback), read from :mod:`.decoding_rules`: the same wire view, the same promotion table
and coercions, the same rejections with the same reasons. The differential tests decode
the same requests with both and compare the tables. It decodes without holding the GIL
and returns Arrow buffers, which become a pyarrow Table here without a copy.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

import pyarrow as pa  # type: ignore[import-untyped]

from tokentrace.attributes import (
    CREDENTIAL_HEADERS,
    HEADER_ATTRIBUTE_PREFIXES,
    REDACTED,
    REDACTED_HEADER,
)
from tokentrace_backend.ingest.decoding_rules import (
    HTTP_STATUS,
    MAX_REPEATED_RESOURCE_BYTES,
    PROMOTED,
    QUERY_ATTRIBUTES,
    QUERY_PARAMS,
    URL_HEADERS,
    URL_PATH,
    URL_VALUED_ATTRIBUTES,
)
from tokentrace_backend.ingest.errors import MalformedSpans
from tokentrace_backend.storage.span_rows import RESOURCE_SCHEMA, SPAN_SCHEMA, DecodedSpans

if TYPE_CHECKING:
    from tokentrace_otlp_native import ColumnBuffers

# The package is built from the repository, not published: a hint to install it by name
# from an index would install whatever someone else published under that name.
INSTALL_HINT: Final = "pip install ./native from a tokentrace checkout (needs Rust)"

# Optional: without it the Python decoder is used. A package that is installed but does not
# load (built for another Python, a missing symbol) must not stop a backend that can run
# without it, so any ImportError is kept as the reason, for native_decoder_problem().
_import_problem: str | None = None
_installed = True
try:
    from tokentrace_otlp_native import SpanDecoder
except ImportError as error:
    if isinstance(error, ModuleNotFoundError) and error.name == "tokentrace_otlp_native":
        _installed = False
        _import_problem = f"it is not installed: {INSTALL_HINT}"
    else:
        _import_problem = (
            f"it is installed but does not load ({error}); reinstall it: {INSTALL_HINT}"
        )
    SpanDecoder = None  # type: ignore[assignment,misc]

NATIVE_DECODER_INSTALLED: Final = _installed
"""Whether the compiled package is installed, whether or not it loads."""
NATIVE_DECODER_AVAILABLE: Final = SpanDecoder is not None
"""Whether the compiled package imports (see native_decoder_problem for whether it works)."""


@functools.cache
def native_decoder_problem() -> str | None:
    """Why the native decoder cannot be used by this backend, or None when it can.

    It is built here, once, with this backend's column layout: a build of another
    version (another constructor, a column it does not know) is found at start-up, not on
    the first request.
    """
    if _import_problem is not None:
        return _import_problem
    try:
        _decoder()
    except (TypeError, ValueError) as error:
        return (
            f"the installed build does not fit this backend ({error}); reinstall it: {INSTALL_HINT}"
        )
    return None


def build_span_decoder(schema: pa.Schema = SPAN_SCHEMA, **limits: int) -> SpanDecoder:
    """A native decoder for ``schema`` with the backend's promotion and redaction rules
    (``limits``: the decoder's optional keyword limits, such as ``max_column_bytes``)."""
    if SpanDecoder is None:
        raise RuntimeError(f"the native decoder cannot be used: {_import_problem}")
    return SpanDecoder(
        column_names=schema.names,
        column_types=[str(field.type) for field in schema],
        promoted=PROMOTED,
        status_column=HTTP_STATUS,
        path_column=URL_PATH,
        credential_headers=sorted(CREDENTIAL_HEADERS),
        header_prefixes=list(HEADER_ATTRIBUTE_PREFIXES),
        redacted=REDACTED_HEADER,
        query_attributes=list(QUERY_ATTRIBUTES),
        url_attributes=list(URL_VALUED_ATTRIBUTES),
        url_headers=sorted(URL_HEADERS),
        query_params=sorted(QUERY_PARAMS),
        redacted_param=REDACTED,
        max_repeated_resource_bytes=MAX_REPEATED_RESOURCE_BYTES,
        **limits,
    )


@functools.cache
def _decoder() -> SpanDecoder:
    return build_span_decoder()


def decode_spans_native(body: bytes) -> DecodedSpans:
    """:func:`.python_decoder.decode_spans`, compiled. Raises MalformedSpans likewise."""
    decoder = _decoder()  # outside the try: a build that does not fit is no client's fault
    try:
        rows, columns, resources, rejected, first_error = decoder.decode(body)
    except ValueError as error:
        raise MalformedSpans(str(error)) from None
    arrays = [
        _array(field.type, rows, buffers)
        for field, buffers in zip(SPAN_SCHEMA, columns, strict=True)
    ]
    return DecodedSpans(
        spans=pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA),
        resources=pa.Table.from_pylist(
            [dict(zip(RESOURCE_SCHEMA.names, row, strict=True)) for row in resources],
            schema=RESOURCE_SCHEMA,
        ),
        rejected_spans=rejected,
        error_message=first_error,
    )


def _array(kind: pa.DataType, rows: int, buffers: ColumnBuffers) -> pa.Array:
    """One column from the native decoder's buffers (zero-copy)."""
    nulls, validity, offsets, values = buffers
    arrow_buffers = [None if validity is None else pa.py_buffer(validity)]
    if offsets is not None:
        arrow_buffers.append(pa.py_buffer(offsets))
    arrow_buffers.append(pa.py_buffer(values))
    return pa.Array.from_buffers(kind, rows, arrow_buffers, null_count=nulls)
