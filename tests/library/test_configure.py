"""configure() in a fresh process: exports real OTLP/HTTP to a receiver on loopback,
is idempotent, and adds its processor to a tracer provider the app already has."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import tokentrace

RAW = "configure-test-token-991"


class Receiver(ThreadingHTTPServer):
    bodies: list[tuple[str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_configure_exports_tagged_spans_over_otlp_http(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}"
    run_python(
        f"""
        import tokentrace
        provider = tokentrace.configure(service_name="orders", endpoint={url!r})
        assert tokentrace.configure() is provider  # idempotent
        def app(environ, start_response):
            start_response("200 OK", [])
            return [b"ok"]
        wrapped = tokentrace.WSGIMiddleware(app)
        environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "QUERY_STRING": "api_key={RAW}",
                    "SERVER_NAME": "t", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}}
        list(wrapped(environ, lambda *a: None))
        provider.force_flush()
        """
    )
    assert receiver.bodies, "nothing was exported"
    path, body = receiver.bodies[0]
    assert path == "/v1/traces"
    assert RAW.encode() not in body
    request = ExportTraceServiceRequest.FromString(body)
    resource_spans = request.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "orders"
    [span] = [s for ss in resource_spans.scope_spans for s in ss.spans]
    values = {a.key: a.value.string_value for a in span.attributes}
    assert values["tokentrace.token.id"] == tokentrace.fingerprint(RAW)
    assert values["http.url"] == "http://t/x?api_key=REDACTED"


def test_configure_adds_its_processor_to_an_existing_provider_once() -> None:
    output = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        import tokentrace
        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        assert tokentrace.configure(service_name="ignored") is mine
        tokentrace.configure()
        processors = mine._active_span_processor._span_processors
        print(sum(isinstance(p, tokentrace.TokenSpanProcessor) for p in processors))
        """
    )
    assert output.strip() == "1"


def test_environment_endpoint_is_honoured(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}"
    run_python(
        """
        import tokentrace
        from opentelemetry import trace
        provider = tokentrace.configure(service_name="env-test")
        with trace.get_tracer("t").start_as_current_span("work"):
            pass
        provider.force_flush()
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT=url,
    )
    assert [path for path, _ in receiver.bodies] == ["/v1/traces"]
