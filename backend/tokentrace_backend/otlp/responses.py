"""OTLP/HTTP answers, encoded like the request (protobuf or JSON), per the specification:
an ``ExportTraceServiceResponse`` on success, a ``google.rpc.Status`` on failure."""

from __future__ import annotations

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from starlette.responses import Response

from tokentrace_backend.otlp.body import Encoding

# google.rpc.Code of the Status body: INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE.
_RPC_CODE = {400: 3, 401: 16, 413: 3, 415: 3, 503: 14}
_RPC_INTERNAL = 13


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
            ExportTracePartialSuccess(rejected_spans=rejected_spans, error_message=error_message)
        )
    return encode_message(response, encoding)


def export_failure(
    status_code: int,
    message: str,
    encoding: Encoding,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error status with a google.rpc.Status body explaining it."""
    status = Status(code=_RPC_CODE.get(status_code, _RPC_INTERNAL), message=message)
    response = encode_message(status, encoding, status_code)
    if headers:
        response.headers.update(headers)
    return response
