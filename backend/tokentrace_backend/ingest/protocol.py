"""The OTLP/HTTP protocol: reading an export request's body (media type, size limit, gzip
without bombs) and writing the answers, encoded like the request (protobuf or JSON), per
the specification: an ``ExportTraceServiceResponse`` on success, a ``google.rpc.Status`` on
failure.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from enum import Enum
from typing import Final

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from starlette.responses import Response

from tokentrace_backend.ingest.errors import (
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

# --- requests -------------------------------------------------------------------------------

_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # gzip header and trailer, maximum window


class Encoding(Enum):
    """The two OTLP/HTTP body encodings."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def media_encoding(content_type: str | None) -> Encoding:
    """The body encoding named by a Content-Type header (parameters such as charset ignored).

    A refusal names the header, never its value: a header can hold anything, a secret
    pasted by mistake included, and the answer ends in the exporter's logs.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    for encoding in Encoding:
        if media_type == encoding.value:
            return encoding
    given = "an unsupported Content-Type" if media_type else "no Content-Type"
    raise UnsupportedMediaType(f"{given}: send application/x-protobuf or application/json")


def is_gzip(content_encoding: str | None) -> bool:
    """Whether the body is gzip-compressed; other encodings are refused."""
    value = (content_encoding or "").strip().lower()
    if value in ("", "identity"):
        return False
    if value == "gzip":
        return True
    raise UnsupportedMediaType("an unsupported Content-Encoding: send gzip or nothing")


async def read_body(chunks: AsyncIterator[bytes], *, gzip: bool, limit: int) -> bytes:
    """The whole body, decompressed, refusing anything over ``limit`` bytes as it streams.

    A gzip bomb is stopped while decompressing: the decompressor is never asked for more
    than the room left under the limit, so memory stays at about ``limit``.
    """
    if not gzip:
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    decompressor = zlib.decompressobj(_GZIP_WINDOW)
    output: list[bytes] = []
    produced = 0

    def feed(data: bytes) -> None:
        nonlocal produced
        while data:
            # Ask for one byte more than the room left: getting it proves the body too big.
            piece = decompressor.decompress(data, limit - produced + 1)
            produced += len(piece)
            if produced > limit:
                raise PayloadTooLarge(f"decompressed request body exceeds {limit} bytes")
            output.append(piece)
            data = decompressor.unconsumed_tail
            if decompressor.eof:
                return

    try:
        async for chunk in chunks:
            if decompressor.eof:
                break  # trailing bytes after the gzip member are ignored
            feed(chunk)
        if not decompressor.eof:
            feed(decompressor.flush(limit - produced + 1))
            if not decompressor.eof:
                raise zlib.error("truncated gzip stream")
    except zlib.error as error:
        raise MalformedRequest(f"invalid gzip body: {error}") from None
    return b"".join(output)


# --- answers --------------------------------------------------------------------------------

# google.rpc.Code of the Status body: INVALID_ARGUMENT, UNAUTHENTICATED, DEADLINE_EXCEEDED,
# UNAVAILABLE.
_RPC_CODE = {400: 3, 401: 16, 408: 4, 413: 3, 415: 3, 503: 14}
_RPC_INTERNAL = 13


MAX_MESSAGE_CHARS: Final = 512
"""The longest reason an answer carries (the decoders' are short; this is a net)."""


def capped(message: str) -> str:
    """``message``, cut at MAX_MESSAGE_CHARS."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


def encode_message(message: Message, encoding: Encoding, status_code: int = 200) -> Response:
    """A response carrying ``message`` in the given encoding."""
    if encoding is Encoding.PROTOBUF:
        content = message.SerializeToString()
    else:
        content = json_format.MessageToJson(message, indent=None).encode("utf-8")
    return Response(content, status_code=status_code, media_type=encoding.value)


def export_success(
    encoding: Encoding, rejected_spans: int = 0, error_message: str = ""
) -> Response:
    """200 with an ExportTraceServiceResponse; partial_success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected_spans:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=rejected_spans, error_message=capped(error_message)
            )
        )
    return encode_message(response, encoding)


def export_failure(
    status_code: int,
    message: str,
    encoding: Encoding,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error status with a google.rpc.Status body explaining it."""
    status = Status(code=_RPC_CODE.get(status_code, _RPC_INTERNAL), message=capped(message))
    response = encode_message(status, encoding, status_code)
    if headers:
        response.headers.update(headers)
    return response
