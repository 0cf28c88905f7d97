"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` → decode → writer → acknowledge.

A request is answered 200 only after the writer has committed its spans. Backpressure is
applied twice: before reading a body (the writer's queue is full, or too many requests
are already being decoded) and when handing decoded spans to the writer. Both answer 503
with ``Retry-After``, which the collector's otlphttp exporter retries.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tokentrace_backend.ingest.client_addresses import KEEP, protect_client_addresses
from tokentrace_backend.ingest.decoding import DecodePool
from tokentrace_backend.ingest.errors import (
    IngestError,
    Overloaded,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from tokentrace_backend.ingest.protocol import (
    Encoding,
    export_failure,
    export_success,
    is_gzip,
    media_encoding,
    read_body,
)
from tokentrace_backend.settings import IngestSettings
from tokentrace_backend.storage.writer import SpanWriter, WriterClosed, WriterOverloaded

logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"


class TraceReceiver:
    """Handles export requests for one writer."""

    def __init__(self, writer: SpanWriter, settings: IngestSettings, decoders: DecodePool) -> None:
        self._writer = writer
        self._settings = settings
        self._decoders = decoders
        self._expected_authorization = (
            f"Bearer {settings.ingest_key}".encode() if settings.ingest_key else None
        )
        self._inflight = 0

    async def export(self, request: Request) -> Response:
        """``POST /v1/traces``."""
        headers = request.headers
        encoding = Encoding.JSON  # for refusals before the media type is known
        try:
            encoding = media_encoding(headers.get("content-type"))
        except UnsupportedMediaType as error:
            return export_failure(error.status_code, str(error), encoding)
        try:
            self._authenticate(headers.get("authorization"))
            gzip = is_gzip(headers.get("content-encoding"))
            self._check_declared_length(headers.get("content-length"), gzip=gzip)
            busy = self._inflight >= self._settings.max_inflight_requests
            if busy or not self._writer.has_room():
                raise Overloaded("the backend is busy writing; retry later")
            self._inflight += 1
            try:
                return await self._ingest(request, encoding, gzip=gzip)
            finally:
                self._inflight -= 1
        except Overloaded as error:
            return self._retry_later(str(error), encoding)
        except IngestError as error:
            return export_failure(error.status_code, str(error), encoding)

    async def _ingest(self, request: Request, encoding: Encoding, *, gzip: bool) -> Response:
        # Announced, a request's spans can join the commit that is about to start.
        self._writer.announce()
        submitted = False
        try:
            limit = self._settings.max_body_bytes
            body = await read_body(request.stream(), gzip=gzip, limit=limit)
            decoded = await self._decoders.decode(body, encoding)
            del body
            if self._settings.client_ip != KEEP and decoded.accepted_spans:
                decoded = await asyncio.to_thread(
                    protect_client_addresses, decoded, self._settings.client_ip
                )
            if decoded.accepted_spans:
                try:
                    future = self._writer.submit(decoded, announced=True)
                except (WriterOverloaded, WriterClosed) as error:
                    raise Overloaded(str(error)) from None
                submitted = True
        finally:
            if not submitted:
                self._writer.withdraw()
        if decoded.accepted_spans:
            try:
                await asyncio.wrap_future(future.durable)
            except Exception:
                logger.exception("spans could not be stored")
                return export_failure(500, "the spans could not be stored", encoding)
        return export_success(encoding, decoded.rejected_spans, decoded.error_message)

    def _authenticate(self, authorization: str | None) -> None:
        expected = self._expected_authorization
        if expected is None:
            return
        given = (authorization or "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise Unauthenticated("missing or wrong ingest key (Authorization: Bearer <key>)")

    def _check_declared_length(self, content_length: str | None, *, gzip: bool) -> None:
        """Refuse early what Content-Length already shows too big (compressed or not)."""
        if content_length is None or not content_length.isdigit():
            return
        if int(content_length) > self._settings.max_body_bytes:
            kind = "compressed " if gzip else ""
            raise PayloadTooLarge(
                f"{kind}request body of {content_length} bytes exceeds "
                f"{self._settings.max_body_bytes} bytes"
            )

    def _retry_later(self, message: str, encoding: Encoding) -> Response:
        retry_after = str(self._settings.retry_after_seconds)
        return export_failure(503, message, encoding, headers={"Retry-After": retry_after})


def create_otlp_app(
    writer: SpanWriter, settings: IngestSettings, decoders: DecodePool | None = None
) -> Starlette:
    """The OTLP/HTTP ASGI app, writing through ``writer``.

    Without ``decoders``, requests are decoded in threads of this process.
    """
    if decoders is None:
        decoders = DecodePool()
    receiver = TraceReceiver(writer, settings, decoders)
    return Starlette(routes=[Route(TRACES_PATH, receiver.export, methods=["POST"])])
