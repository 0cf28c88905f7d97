"""Why an export request, or one span of it, is refused; each request refusal is mapped to
its OTLP/HTTP status code.

IngestError
├── MalformedRequest        400  the body cannot be decoded
├── Unauthenticated         401  TOKENTRACE_INGEST_KEY is set and the bearer key is wrong
├── BodyTimeout             408  the body did not arrive within TOKENTRACE_BODY_TIMEOUT_MS
├── PayloadTooLarge         413  above the size limit (checked while decompressing)
├── UnsupportedMediaType    415  not protobuf/JSON, or an unknown Content-Encoding
└── Overloaded              503  the writer's queue is full, or too much is in flight; sent
                                 with Retry-After

No refusal repeats what the client sent (a header or a value can hold a secret): they name
the header or the field.

What the span decoders raise, before it becomes an HTTP answer:

MalformedSpans              the request as a whole cannot be decoded (becomes 400)
InvalidSpan                 one span cannot be stored; the rest can (becomes partial_success)
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of the receiver's refusals; ``status_code`` is the HTTP answer."""

    status_code = 500


class MalformedRequest(IngestError):
    """The body is not a valid ExportTraceServiceRequest in the declared encoding."""

    status_code = 400


class Unauthenticated(IngestError):
    """Missing or wrong ``Authorization: Bearer`` ingest key."""

    status_code = 401


class BodyTimeout(IngestError):
    """The body did not arrive in time (a stalled or very slow client)."""

    status_code = 408


class PayloadTooLarge(IngestError):
    """The (decompressed) body exceeds the configured limit."""

    status_code = 413


class UnsupportedMediaType(IngestError):
    """A Content-Type or Content-Encoding the receiver does not speak."""

    status_code = 415


class Overloaded(IngestError):
    """The writer cannot take more spans right now."""

    status_code = 503


class MalformedSpans(ValueError):
    """The request as a whole cannot be decoded (becomes 400)."""


class InvalidSpan(ValueError):
    """One span cannot be stored; the rest of the request can (becomes partial_success)."""
