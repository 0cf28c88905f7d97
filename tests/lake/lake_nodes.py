"""Lake mode's test helpers: nodes sharing one lake (``tokentrace serve`` processes of the
lake environment, ``.venv-lake``), their logs and API, and hand-made OTLP traces."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokentrace import attributes as tt
from tokentrace_backend.scenario.postgres import PostgresServer
from tokentrace_backend.scenario.stack import Backend

REPOSITORY = Path(__file__).resolve().parents[2]
LAKE_VENV = REPOSITORY / ".venv-lake"
LAKE_TOKENTRACE = LAKE_VENV / "bin" / "tokentrace"
LEADER_LINE = b"this node is now the lake's leader"

_databases = itertools.count(1)


def missing(message: str) -> None:
    """Skip, or fail under CI (where scripts/test and .ci/run provide everything)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs {message}")
    pytest.skip(f"no {message}")


def new_catalog(postgres: PostgresServer) -> str:
    return postgres.create_database(f"lake_{next(_databases)}")


def lake_node(
    command: list[str], catalog_url: str, data_path: Path, log_dir: Path, name: str
) -> Backend:
    """A lake node (not started): ``tokentrace serve --catalog URL --data-path DIR``."""
    return Backend(
        db_path=log_dir / f"{name}.unused.duckdb",  # lake mode keeps no local database
        log_dir=log_dir,
        name=name,
        command=command,
        args=["--catalog", catalog_url, "--data-path", str(data_path)],
    )


def log_of(node: Backend) -> bytes:
    assert node.process is not None
    return node.process.log_bytes()


def leads(node: Backend) -> bool:
    """Whether the node said it became the leader (and did not say it stopped being it)."""
    text = log_of(node)
    return text.count(LEADER_LINE) > text.count(b"this node is no longer the lake's leader")


def get_json(base_url: str, path: str, **params: Any) -> Any:
    response = httpx.get(f"{base_url}{path}", params=params, timeout=20)
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class SpanSpec:
    """One span of a hand-made trace."""

    service: str
    name: str
    kind: int  # opentelemetry.proto Span.SpanKind
    span_id: bytes
    parent_id: bytes = b""
    attributes: tuple[tuple[str, str | int], ...] = ()


def export_body(trace_id: bytes, spans: list[SpanSpec], start_ns: int) -> bytes:
    """An OTLP/HTTP protobuf export request holding ``spans`` of one trace."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def value(raw: str | int) -> AnyValue:
        return AnyValue(int_value=raw) if isinstance(raw, int) else AnyValue(string_value=raw)

    by_service: dict[str, list[Span]] = {}
    for offset, spec in enumerate(spans):
        by_service.setdefault(spec.service, []).append(
            Span(
                trace_id=trace_id,
                span_id=spec.span_id,
                parent_span_id=spec.parent_id,
                name=spec.name,
                kind=spec.kind,  # type: ignore[arg-type]
                start_time_unix_nano=start_ns + offset * 1_000_000,
                end_time_unix_nano=start_ns + offset * 1_000_000 + 5_000_000,
                attributes=[KeyValue(key=k, value=value(v)) for k, v in spec.attributes],
            )
        )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=value(service))]),
                scope_spans=[ScopeSpans(spans=service_spans)],
            )
            for service, service_spans in by_service.items()
        ]
    )
    body: bytes = request.SerializeToString()
    return body


def post_export(otlp_url: str, body: bytes, client: httpx.Client | None = None) -> int:
    """POST an export request to a node's ``/v1/traces``; its HTTP status."""
    headers = {"Content-Type": "application/x-protobuf"}
    if client is not None:
        return client.post(f"{otlp_url}/v1/traces", content=body, headers=headers).status_code
    return httpx.post(
        f"{otlp_url}/v1/traces", content=body, headers=headers, timeout=30
    ).status_code


SERVER_KIND = 2  # opentelemetry.proto Span.SpanKind SERVER


def one_request_export(token_id: str, trace_id: bytes | None = None) -> tuple[bytes, bytes]:
    """(trace id, export body): one accepted ``GET /orders`` of ``token_id`` at the gateway,
    now."""
    trace = trace_id or os.urandom(16)
    body = export_body(
        trace,
        [
            SpanSpec(
                "gateway",
                "GET /orders",
                SERVER_KIND,
                os.urandom(8),
                attributes=(
                    (tt.TOKEN_ID, token_id),
                    (tt.AUTH_OUTCOME, "success"),
                    (tt.AUTH_OUTCOME_SOURCE, "recorded"),
                    ("http.route", "/orders"),
                    ("http.response.status_code", 200),
                ),
            )
        ],
        start_ns=time.time_ns(),
    )
    return trace, body
