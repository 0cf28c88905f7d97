"""Bad input gets a clear OTLP error and loses nothing else."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from tests.backend.ingest.otlp_builders import make_request, make_span
from tests.backend.ingest.serve_process import ServeProcess
from tokentrace.attributes import REDACTED_HEADER

PROTOBUF = {"Content-Type": "application/x-protobuf"}
LIMIT = 256 * 1024


@pytest.fixture
def server(start_server: Callable[..., ServeProcess]) -> ServeProcess:
    return start_server({"TOKENTRACE_MAX_BODY_BYTES": str(LIMIT)})


def test_malformed_protobuf_is_400_with_status_body(server: ServeProcess) -> None:
    response = httpx.post(server.traces_url, content=b"\xff\xff\xff not protobuf", headers=PROTOBUF)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-protobuf"
    status = Status.FromString(response.content)
    assert "invalid protobuf" in status.message


def test_malformed_json_is_400(server: ServeProcess) -> None:
    for body in (b"{not json", b"[1, 2]", b'{"resourceSpans": 7}'):
        response = httpx.post(
            server.traces_url, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["message"]


def test_json_type_errors_name_the_field_not_the_value(server: ServeProcess) -> None:
    # The reason goes back to the exporter, which logs it; the value may be a credential.
    span = '{"name": "x", "attributes": [{"key": "a", "value": {"intValue": "Bearer raw-9"}}]}'
    for spans in (span, '{"startTimeUnixNano": "raw-secret-9"}', '{"links": "raw-secret-9"}'):
        body = '{"resourceSpans": [{"scopeSpans": [{"spans": [' + spans + "]}]}]}"
        response = httpx.post(
            server.traces_url, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, spans
        message = response.json()["message"]
        assert "resourceSpans.scopeSpans.spans." in message
        assert "raw" not in message


def test_other_media_types_are_415(server: ServeProcess) -> None:
    response = httpx.post(server.traces_url, content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Content-Type" in response.json()["message"]  # the header, not its value
    assert "text/plain" not in response.json()["message"]
    response = httpx.post(
        server.traces_url, content=b"x", headers={**PROTOBUF, "Content-Encoding": "br"}
    )
    assert response.status_code == 415


def test_body_over_the_limit_is_413(server: ServeProcess) -> None:
    response = httpx.post(server.traces_url, content=b"\0" * (LIMIT + 1), headers=PROTOBUF)
    assert response.status_code == 413


def test_gzip_bomb_is_stopped_while_decompressing(server: ServeProcess) -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = bomb.compress(b"\0" * (64 * 1024 * 1024)) + bomb.flush()  # 64 MiB → ~64 KiB
    assert len(body) < LIMIT
    assert server.process is not None
    before_kib = _rss_kib(server.process.pid)
    response = httpx.post(
        server.traces_url, content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "decompressed" in Status.FromString(response.content).message
    grown_kib = _rss_kib(server.process.pid, "VmHWM:") - before_kib
    assert grown_kib < 48 * 1024, f"the server grew by {grown_kib} KiB for a 64 MiB bomb"


def test_corrupt_gzip_is_400(server: ServeProcess) -> None:
    body = gzip.compress(make_request([make_span()]).SerializeToString())[:-12]
    response = httpx.post(
        server.traces_url, content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 400


def test_invalid_spans_are_rejected_and_the_rest_stored(server: ServeProcess) -> None:
    good = [make_span(name=f"good {index}") for index in range(3)]
    bad = [
        make_span(name="short trace id", trace_id=b"\x01" * 15),
        make_span(name="zero span id", span_id=b"\0" * 8),
        make_span(name="odd parent", parent_span_id=b"\x01" * 3),
        make_span(name="unknown kind", kind=9),
    ]
    body = make_request(good + bad).SerializeToString()
    response = httpx.post(server.traces_url, content=body, headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 4
    assert "trace_id must be 16 bytes, got 15" in partial.error_message
    assert server.stop() == 0
    names = server.query("SELECT name FROM spans ORDER BY name")
    assert names == [("good 0",), ("good 1",), ("good 2",)]


def test_ingest_key_is_required_when_set(start_server: Callable[..., ServeProcess]) -> None:
    server = start_server({"TOKENTRACE_INGEST_KEY": "ingest-secret-1"})
    body = make_request([make_span()]).SerializeToString()
    for authorization in (None, "Bearer wrong", "ingest-secret-1", "Bearer ingest-secret-12"):
        headers = dict(PROTOBUF)
        if authorization is not None:
            headers["Authorization"] = authorization
        response = httpx.post(server.traces_url, content=body, headers=headers)
        assert response.status_code == 401, authorization
    response = httpx.post(
        server.traces_url,
        content=body,
        headers={**PROTOBUF, "Authorization": "Bearer ingest-secret-1"},
    )
    assert response.status_code == 200
    assert server.stop() == 0
    assert server.query("SELECT count(*) FROM spans") == [(1,)]
    assert "ingest-secret-1" not in server.log()


def test_times_past_int64_are_rejected_spans_not_a_500(server: ServeProcess) -> None:
    # fixed64 on the wire, BIGINT in storage: 2^63 ns and up once failed the whole batch.
    late = make_span(name="late")
    late.start_time_unix_nano, late.end_time_unix_nano = 2**63, 2**63 + 5
    endless = make_span(name="endless")
    endless.end_time_unix_nano = 2**64 - 1
    body = make_request([make_span(name="good"), late, endless]).SerializeToString()
    response = httpx.post(server.traces_url, content=body, headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert "int64" in partial.error_message
    assert server.stop() == 0
    assert server.query("SELECT name FROM spans") == [("good",)]


def test_captured_credential_headers_are_not_stored(server: ServeProcess) -> None:
    # OTel instrumentations can capture request headers as attributes (opt-in); a captured
    # Authorization or Cookie is a raw secret, which must not reach a DB row.
    secrets = {
        "http.request.header.Cookie": "session=raw-secret-cookie-2",
        "http.request.header.x_api_key": "raw-secret-key-3",
        "http.response.header.set-cookie": "session=raw-secret-cookie-4",
    }
    span = make_span(attributes={**secrets, "http.request.header.accept": "text/plain"})
    bearer = AnyValue(string_value="Bearer raw-secret-token-1")
    span.attributes.append(  # as instrumentations send it: a list of the header's values
        KeyValue(
            key="http.request.header.authorization",
            value=AnyValue(array_value=ArrayValue(values=[bearer])),
        )
    )
    body = make_request([span]).SerializeToString()
    response = httpx.post(server.traces_url, content=body, headers=PROTOBUF)
    assert response.status_code == 200
    assert server.stop() == 0
    (row,) = server.query("SELECT * FROM spans")
    stored = str(row)
    assert "raw-secret" not in stored
    assert "text/plain" in stored  # other headers are kept
    assert stored.count(REDACTED_HEADER) == len(secrets) + 1


def test_wrong_method_and_path(server: ServeProcess) -> None:
    assert httpx.get(server.traces_url).status_code == 405
    url = server.traces_url.replace("/v1/traces", "/v1/metrics")
    assert httpx.post(url, content=b"", headers=PROTOBUF).status_code == 404


def _rss_kib(pid: int, field: str = "VmRSS:") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")
