"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` → decode → writer → acknowledge.

A request is answered 200 only after the writer has committed its spans. Admission counts
work, not connections: a request that is still receiving its body holds no slot, only the
bytes it has received. Backpressure answers 503 with ``Retry-After``, which the
collector's otlphttp exporter retries:

- before reading a body, when the writer's queue is full, when
  ``max_inflight_requests`` requests are already decoding or waiting for the writer, or
  when the client already has ``max_requests_per_client`` requests open;
- while reading, when the bodies held at once would pass ``max_buffered_bytes``;
- after reading, when the decode slots filled up meanwhile, and when the writer cannot
  queue the decoded spans.

A body must arrive within ``body_timeout_seconds``, else the request is dropped with 408;
a client that disconnects mid-body is dropped with one log line. Both are counted
(``counters``, shown in ``/metrics``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tokentrace_backend.bearer import bearer_credentials, key_matches
from tokentrace_backend.ingest.client_addresses import KEEP, protect_client_addresses
from tokentrace_backend.ingest.counters import DropReason, IngestCounters
from tokentrace_backend.ingest.decoding import DecodePool
from tokentrace_backend.ingest.errors import (
    BodyTimeout,
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

    def __init__(
        self,
        writer: SpanWriter,
        settings: IngestSettings,
        decoders: DecodePool,
        counters: IngestCounters | None = None,
    ) -> None:
        self._writer = writer
        self._settings = settings
        self._decoders = decoders
        self.counters = counters if counters is not None else IngestCounters()
        self._expected_key = settings.ingest_key or None
        self._working = 0  # requests past their body: decoding or waiting for the writer
        self._buffered_bytes = 0  # body bytes held by requests being read or decoded
        self._per_client: Counter[str] = Counter()  # open requests by client address

    async def export(self, request: Request) -> Response:
        """``POST /v1/traces``."""
        headers = request.headers
        encoding = Encoding.JSON  # for refusals before the media type is known
        try:
            encoding = media_encoding(headers.get("content-type"))
        except UnsupportedMediaType as error:
            return export_failure(error.status_code, str(error), encoding)
        client = request.client.host if request.client else ""
        try:
            self._authenticate(headers.get("authorization"))
            gzip = is_gzip(headers.get("content-encoding"))
            self._check_declared_length(headers.get("content-length"), gzip=gzip)
            self._check_room()
            if self._per_client[client] >= self._settings.max_requests_per_client:
                self.counters.dropped(DropReason.CLIENT_LIMIT)
                raise Overloaded("too many requests from this client at once; retry later")
            self._per_client[client] += 1
            try:
                return await self._ingest(request, encoding, gzip=gzip)
            finally:
                self._per_client[client] -= 1
                if not self._per_client[client]:
                    del self._per_client[client]
        except Overloaded as error:
            return self._retry_later(str(error), encoding)
        except ClientDisconnect:
            self.counters.dropped(DropReason.CLIENT_DISCONNECTED)
            logger.info("an exporter at %s disconnected before its body arrived", client)
            return Response(status_code=400)  # nobody reads it; uvicorn drops it
        except IngestError as error:
            return export_failure(error.status_code, str(error), encoding)

    def _check_room(self) -> None:
        busy = self._working >= self._settings.max_inflight_requests
        if busy or not self._writer.has_room():
            raise Overloaded("the backend is busy writing; retry later")

    async def _ingest(self, request: Request, encoding: Encoding, *, gzip: bool) -> Response:
        held = [0]  # body bytes this request counts in _buffered_bytes
        try:
            body = await self._read_body(request, held, gzip=gzip)
            self._check_room()  # the slots may have filled while this body arrived
            self._hold(held, len(body))  # the decompressed body replaces the chunks
            self._working += 1
        except BaseException:
            self._release(held)
            raise
        pending = [body]  # handed over, so that decoding can drop the last reference
        del body
        try:
            return await self._decode_and_write(pending, encoding, held)
        finally:
            self._working -= 1
            self._release(held)

    async def _read_body(self, request: Request, held: list[int], *, gzip: bool) -> bytes:
        """The body, read within the body timeout, each chunk counted as held bytes."""

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                self._hold(held, held[0] + len(chunk))
                yield chunk

        limit = self._settings.max_body_bytes
        try:
            async with asyncio.timeout(self._settings.body_timeout_seconds):
                return await read_body(counted(), gzip=gzip, limit=limit)
        except TimeoutError:
            self.counters.dropped(DropReason.BODY_TIMEOUT)
            raise BodyTimeout(
                f"the request body did not arrive within {self._settings.body_timeout_seconds:g} s"
            ) from None

    def _hold(self, held: list[int], size: int) -> None:
        """Count ``size`` bytes for this request instead of ``held[0]``; Overloaded when
        the bytes held by all requests would pass the limit."""
        grown = self._buffered_bytes + size - held[0]
        if size > held[0] and grown > self._settings.max_buffered_bytes:
            self.counters.dropped(DropReason.BUFFER_FULL)
            raise Overloaded("the backend holds too many request bodies; retry later")
        self._buffered_bytes = grown
        held[0] = size

    def _release(self, held: list[int]) -> None:
        self._buffered_bytes -= held[0]
        held[0] = 0

    async def _decode_and_write(
        self, pending: list[bytes], encoding: Encoding, held: list[int]
    ) -> Response:
        # Announced, a request's spans can join the commit that is about to start. Only
        # once the body is here: a commit must not wait for a client that is still sending.
        self._writer.announce()
        submitted = False
        try:
            decoded = await self._decoders.decode(pending.pop(), encoding)
            self._release(held)
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
        expected = self._expected_key
        if expected is None:
            return
        presented = bearer_credentials(authorization)
        if presented is None or not key_matches(presented, expected):
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
    writer: SpanWriter,
    settings: IngestSettings,
    decoders: DecodePool | None = None,
    counters: IngestCounters | None = None,
) -> Starlette:
    """The OTLP/HTTP ASGI app, writing through ``writer``, counting what it drops in
    ``counters`` (``app.state.counters``).

    Without ``decoders``, requests are decoded in threads of this process.
    """
    if decoders is None:
        decoders = DecodePool()
    receiver = TraceReceiver(writer, settings, decoders, counters)
    app = Starlette(routes=[Route(TRACES_PATH, receiver.export, methods=["POST"])])
    app.state.counters = receiver.counters
    return app
