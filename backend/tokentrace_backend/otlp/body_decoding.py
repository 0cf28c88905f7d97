"""A whole export request body → storable columns (what a decoder thread or process runs)."""

from __future__ import annotations

from collections.abc import Callable

from tokentrace_backend.otlp.body import Encoding
from tokentrace_backend.otlp.errors import MalformedRequest
from tokentrace_backend.otlp.request_decoding import decode_json_request
from tokentrace_backend.otlp.span_columns import DecodedSpans, MalformedSpans, decode_spans


def decode_body(
    body: bytes, encoding: Encoding, spans_decoder: Callable[[bytes], DecodedSpans] = decode_spans
) -> DecodedSpans:
    """Decode a (decompressed) body; MalformedRequest if it is not an export request.

    JSON is first turned into the protobuf request it encodes, so both encodings share the
    one fast decoder (``spans_decoder``: the Python or the native one).
    """
    if encoding is Encoding.JSON:
        body = decode_json_request(body).SerializeToString()
    try:
        return spans_decoder(body)
    except MalformedSpans as error:
        raise MalformedRequest(str(error)) from None
