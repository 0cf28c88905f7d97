"""Hostile headers at the OTLP receiver (issue #14, items 2 and 5): a refusal names the
header and never repeats its value; the ingest key is compared as the bytes that were sent
(a non-ASCII key works), with the same whitespace rules as the API's key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.loopback import serve_asgi
from tokentrace_backend.ingest import create_otlp_app
from tokentrace_backend.settings import IngestSettings
from tokentrace_backend.storage.writer import SpanWriter

SECRET = "Bearer planted-secret-0123456789"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
EMPTY = ExportTraceServiceRequest().SerializeToString()  # nothing to write
KEY = "clé-ingest-ключ"  # non-ASCII: sent as its UTF-8 bytes


@pytest.fixture
def traces_url(writer: SpanWriter) -> Iterator[str]:
    app = create_otlp_app(writer, IngestSettings(ingest_key=KEY))
    with serve_asgi(app, lifespan="off") as url:
        yield url + "/v1/traces"


def header(value: str) -> bytes:
    return value.encode("utf-8")  # what an exporter puts on the wire


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain; " + SECRET + "x" * 10_000},
        {"Content-Type": SECRET},
        {**PROTOBUF, "Content-Encoding": SECRET + "y" * 10_000},
        {**PROTOBUF, "Content-Encoding": "br"},
    ],
)
def test_unsupported_media_types_name_the_header_not_its_value(
    traces_url: str, headers: dict[str, str]
) -> None:
    sent = [(name.encode(), value.encode()) for name, value in headers.items()]
    response = httpx.post(
        traces_url, content=b"x", headers=[*sent, (b"Authorization", b"Bearer " + header(KEY))]
    )
    assert response.status_code == 415
    assert "planted-secret" not in response.text
    assert len(response.content) < 200
    if "Content-Encoding" in headers:  # answered in the request's encoding: protobuf
        expected = "an unsupported Content-Encoding: send gzip or nothing"
    else:
        expected = "an unsupported Content-Type: send application/x-protobuf or application/json"
    if response.headers["content-type"] == "application/json":
        assert response.json()["message"] == expected
    else:
        assert Status.FromString(response.content).message == expected


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer " + header(KEY),
        b"bearer " + header(KEY),
        b"Bearer    " + header(KEY),  # RFC 9110: one or more spaces after the scheme
        # (whitespace after the key cannot be sent: HTTP strips it from a header's ends)
    ],
)
def test_the_ingest_key_is_compared_as_the_bytes_sent(
    traces_url: str, authorization: bytes
) -> None:
    response = httpx.post(
        traces_url,
        content=EMPTY,
        headers=[(b"Content-Type", b"application/x-protobuf"), (b"Authorization", authorization)],
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "authorization",
    [
        b"",
        b"Bearer",
        b"Bearer " + KEY.encode("latin-1", "replace"),
        b"Bearer " + header(KEY) + b"x",
        b"Basic " + header(KEY),
        b"Bearer" + header(KEY),
    ],
)
def test_a_wrong_ingest_key_is_401(traces_url: str, authorization: bytes) -> None:
    headers = [(b"Content-Type", b"application/x-protobuf")]
    if authorization:
        headers.append((b"Authorization", authorization))
    response = httpx.post(traces_url, content=EMPTY, headers=headers)
    assert response.status_code == 401
    assert KEY not in response.text
