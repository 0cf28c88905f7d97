"""Reading an export request body: media type, size limit, and gzip without bombs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from enum import Enum

from tokentrace_backend.otlp.errors import (
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # gzip header and trailer, maximum window


class Encoding(Enum):
    """The two OTLP/HTTP body encodings."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def media_encoding(content_type: str | None) -> Encoding:
    """The body encoding named by a Content-Type header (parameters such as charset ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    for encoding in Encoding:
        if media_type == encoding.value:
            return encoding
    raise UnsupportedMediaType(
        f"unsupported Content-Type {media_type or '(none)'!r}: "
        "send application/x-protobuf or application/json"
    )


def is_gzip(content_encoding: str | None) -> bool:
    """Whether the body is gzip-compressed; other encodings are refused."""
    value = (content_encoding or "").strip().lower()
    if value in ("", "identity"):
        return False
    if value == "gzip":
        return True
    raise UnsupportedMediaType(f"unsupported Content-Encoding {value!r}: send gzip or nothing")


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
