"""The collector, Jaeger and compose configuration files: they parse, name the right ports
and files, mask what looks like a credential, and the built binaries accept them; the
load-balancing tier and two node relays, running, send each trace to exactly one node."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.pipeline import COLLECTOR_CONFIG, JAEGER_CONFIG, REPO, Binaries
from tokentrace_backend.scenario.processes import ManagedProcess, free_port, http_ok

COMPOSE = REPO / "collector" / "compose.yaml"
TAIL_SAMPLING = REPO / "collector" / "otel-collector.tail-sampling.yaml"
LOAD_BALANCING = REPO / "collector" / "otel-collector.loadbalancing.yaml"
NODE_RELAY = REPO / "collector" / "otel-collector.node.yaml"
MANIFEST = REPO / "collector" / "manifest.yaml"
BUILD_SCRIPT = REPO / "collector" / "build.sh"
ENV_DEFAULT = re.compile(r"^\$\{env:(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def env_default(value: str) -> tuple[str, str]:
    """The variable name and default of a ``${env:NAME:-default}`` value."""
    match = ENV_DEFAULT.match(str(value))
    assert match, f"{value!r} is not ${{env:NAME:-default}}"
    return match["name"], match["default"]


def test_collector_config_pipeline_and_ports() -> None:
    config = load(COLLECTOR_CONFIG)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert env_default(protocols["grpc"]["endpoint"])[1].endswith(":4317")
    assert env_default(protocols["http"]["endpoint"])[1].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"] == ["memory_limiter", "redaction", "batch"]
    assert pipeline["exporters"] == ["otlp_grpc/jaeger", "otlp_http/tokentrace"]
    assert config["service"]["extensions"] == ["health_check"]
    backend = config["exporters"]["otlp_http/tokentrace"]
    assert backend["retry_on_failure"]["enabled"] is True
    assert backend["sending_queue"]["enabled"] is True
    # Every endpoint is configurable from the environment.
    endpoints = [
        protocols["grpc"]["endpoint"],
        protocols["http"]["endpoint"],
        config["extensions"]["health_check"]["endpoint"],
        config["exporters"]["otlp_grpc/jaeger"]["endpoint"],
        backend["endpoint"],
    ]
    names = [env_default(endpoint)[0] for endpoint in endpoints]
    assert len(set(names)) == len(names)


def test_manifest_builds_exactly_the_components_the_config_uses() -> None:
    manifest = load(MANIFEST)
    config = load(COLLECTOR_CONFIG)
    built = {
        kind: {entry["gomod"].split()[0].rsplit("/", 1)[1] for entry in manifest[kind]}
        for kind in ("receivers", "processors", "exporters", "extensions")
    }
    assert built["receivers"] == {"otlpreceiver"}
    assert built["processors"] == {
        f"{name.split('/')[0].replace('_', '')}processor" for name in config["processors"]
    }
    # loadbalancingexporter for otel-collector.loadbalancing.yaml.
    assert built["exporters"] == {"otlpexporter", "otlphttpexporter", "loadbalancingexporter"}
    assert built["extensions"] == {"healthcheckextension"}
    versions = {entry["gomod"].split()[1] for kind in built for entry in manifest[kind]}
    assert len(versions) == 1, "collector components must share one version"
    # The builder is the components' version.
    ocb = re.search(r'^OCB_VERSION="(v[0-9.]+)"$', BUILD_SCRIPT.read_text(), re.MULTILINE)
    assert ocb, "collector/build.sh pins no OCB_VERSION"
    assert {ocb[1]} == versions


def test_manifest_builds_every_component_the_load_balancing_configs_use() -> None:
    manifest = load(MANIFEST)
    modules = " ".join(
        entry["gomod"]
        for kind in manifest
        if kind != "dist"
        for entry in manifest[kind]
        if isinstance(entry, dict)
    )
    for path in (LOAD_BALANCING, NODE_RELAY):
        config = load(path)
        for kind, suffix in (
            ("receivers", "receiver"),
            ("processors", "processor"),
            ("exporters", "exporter"),
            ("extensions", "extension"),
        ):
            for name in config[kind]:
                module = name.split("/")[0].replace("_", "")
                module = {"otlpgrpc": "otlp"}.get(module, module)
                assert f"/{module}{suffix} " in modules, f"{path.name}: {name} is not built"


def _blocked(config: dict[str, Any]) -> list[re.Pattern[str]]:
    return [re.compile(pattern) for pattern in config["processors"]["redaction"]["blocked_values"]]


@pytest.mark.parametrize(
    "value",
    [
        "Bearer ttu_4bd1f0c2a9e84d7cb1f0a3",
        "basic YWxpY2U6czNjcjN0LXBhc3N3b3Jk",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWJ5dGVz",
        "/orders?api_key=ttp_secretvalue123&page=2",
        "https://api.test/x?access_token=abc123def",
    ],
)
def test_redaction_masks_credential_shaped_values(value: str) -> None:
    assert any(pattern.search(value) for pattern in _blocked(load(COLLECTOR_CONFIG)))


@pytest.mark.parametrize(
    "value",
    [
        "a4d246aa04e6f660fbf6831faf3ae939",  # a tokentrace fingerprint
        "/orders?api_key=REDACTED&page=2",  # already redacted by tokentrace
        "GET /api/orders",
        "insufficient_scope",
    ],
)
def test_redaction_keeps_what_is_not_a_credential(value: str) -> None:
    assert not any(pattern.search(value) for pattern in _blocked(load(COLLECTOR_CONFIG)))


def test_tail_sampling_variant_keeps_non_success_outcomes() -> None:
    variant = load(TAIL_SAMPLING)
    processors = variant["service"]["pipelines"]["traces"]["processors"]
    assert processors == ["memory_limiter", "redaction", "tail_sampling", "batch"]
    policies = {p["name"]: p for p in variant["processors"]["tail_sampling"]["policies"]}
    condition = policies["auth-not-success"]["ottl_condition"]["span"][0]
    assert 'attributes["tokentrace.auth.outcome"] != "success"' in condition
    # The rest of the pipeline is the main config's.
    main = load(COLLECTOR_CONFIG)
    assert variant["exporters"] == main["exporters"]
    assert variant["processors"]["redaction"] == main["processors"]["redaction"]


def test_load_balancing_tier_routes_by_trace_id_to_a_static_list_of_node_relays() -> None:
    config = load(LOAD_BALANCING)
    main = load(COLLECTOR_CONFIG)
    # Applications send to it as to the main config: same receivers, ports and processors.
    assert config["receivers"] == main["receivers"]
    assert config["processors"] == main["processors"]
    assert config["extensions"] == main["extensions"]
    assert config["service"]["telemetry"] == main["service"]["telemetry"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert set(config["service"]["pipelines"]) == {"traces"}
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"] == ["memory_limiter", "redaction", "batch"]
    assert pipeline["exporters"] == ["load_balancing", "otlp_grpc/jaeger"]
    assert config["exporters"]["otlp_grpc/jaeger"] == main["exporters"]["otlp_grpc/jaeger"]
    balancer = config["exporters"]["load_balancing"]
    assert balancer["routing_key"] == "traceID"
    assert list(balancer["resolver"]) == ["static"]
    # The exporter speaks OTLP/gRPC only: `otlp` is its one protocol.
    assert list(balancer["protocol"]) == ["otlp"]
    otlp = balancer["protocol"]["otlp"]
    assert "endpoint" not in otlp, "the resolver sets each relay's endpoint"
    assert env_default(otlp["tls"]["insecure"]) == ("TOKENTRACE_NODE_RELAYS_INSECURE", "true")
    assert otlp["retry_on_failure"]["enabled"] is True
    assert otlp["sending_queue"]["enabled"] is True
    assert balancer["retry_on_failure"]["enabled"] is True
    assert balancer["sending_queue"]["enabled"] is True
    # The relays come from the environment as a YAML flow list; the default is one relay
    # at otel-collector.node.yaml's default address.
    name, default = env_default(balancer["resolver"]["static"]["hostnames"])
    assert name == "TOKENTRACE_NODE_RELAYS"
    relay = load(NODE_RELAY)["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert yaml.safe_load(default) == [env_default(relay)[1]]


def test_node_relay_forwards_otlp_grpc_to_its_backend_over_otlp_http() -> None:
    config = load(NODE_RELAY)
    main = load(COLLECTOR_CONFIG)
    # Only gRPC in: that is what the load_balancing exporter sends.
    protocols = config["receivers"]["otlp"]["protocols"]
    assert list(protocols) == ["grpc"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "batch"],
        "exporters": ["otlp_http/tokentrace"],
    }
    assert config["processors"]["memory_limiter"] == main["processors"]["memory_limiter"]
    assert config["processors"]["batch"] == main["processors"]["batch"]
    backend = config["exporters"]["otlp_http/tokentrace"]
    main_backend = main["exporters"]["otlp_http/tokentrace"]
    assert backend["endpoint"] == main_backend["endpoint"]
    assert backend["headers"] == {"Authorization": "Bearer ${env:TOKENTRACE_INGEST_KEY:-}"}
    # The same exporter but for the header and more requests in flight (a lake node's
    # commits grow with them).
    assert (
        backend["sending_queue"]["num_consumers"] > main_backend["sending_queue"]["num_consumers"]
    )
    assert {k: v for k, v in backend["sending_queue"].items() if k != "num_consumers"} == {
        k: v for k, v in main_backend["sending_queue"].items() if k != "num_consumers"
    }
    differing = {"headers", "sending_queue"}
    assert {k: v for k, v in backend.items() if k not in differing} == {
        k: v for k, v in main_backend.items() if k not in differing
    }
    # Its own defaults, so a relay runs next to the main or the load-balancing collector.
    endpoints = [
        protocols["grpc"]["endpoint"],
        config["extensions"]["health_check"]["endpoint"],
    ]
    prometheus = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    ports = [env_default(e)[1].rsplit(":", 1)[1] for e in endpoints]
    ports.append(env_default(prometheus["prometheus"]["port"])[1])
    main_protocols = main["receivers"]["otlp"]["protocols"]
    main_ports = {
        env_default(main_protocols["grpc"]["endpoint"])[1].rsplit(":", 1)[1],
        env_default(main_protocols["http"]["endpoint"])[1].rsplit(":", 1)[1],
        env_default(main["extensions"]["health_check"]["endpoint"])[1].rsplit(":", 1)[1],
        "8888",
        "4319",  # the backend's OTLP port
    }
    assert len(set(ports)) == len(ports)
    assert not set(ports) & main_ports
    names = [env_default(e)[0] for e in endpoints]
    assert all(name.startswith("OTELCOL_NODE_") for name in names)


def test_compose_runs_the_same_collector_config_with_jaeger_and_the_backend() -> None:
    compose = load(COMPOSE)
    services = compose["services"]
    assert set(services) == {"collector", "jaeger", "backend"}
    collector = services["collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    mounts = {v.split(":")[0]: v.split(":")[1] for v in collector["volumes"]}
    assert (COMPOSE.parent / "../otel-collector.yaml").resolve() == COLLECTOR_CONFIG
    assert mounts["../otel-collector.yaml"] in " ".join(collector["command"])
    assert {"4317:4317", "4318:4318"} <= set(collector["ports"])
    assert collector["environment"]["JAEGER_OTLP_ENDPOINT"] == "jaeger:4317"
    assert collector["environment"]["TOKENTRACE_BACKEND_OTLP_ENDPOINT"] == "http://backend:4319"
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:")
    assert "16686:16686" in jaeger["ports"]
    assert (COMPOSE.parent / jaeger["volumes"][0].split(":")[0]).resolve() == JAEGER_CONFIG
    backend_command = " ".join(services["backend"]["command"])
    assert "tokentrace serve" in backend_command
    assert "--otlp-port 4319" in backend_command
    assert "127.0.0.1:8318:8318" in services["backend"]["ports"]


def validate(
    binary: Path, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``binary validate --config config`` (the collector and Jaeger both have it)."""
    return subprocess.run(
        [str(binary), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    "config",
    [COLLECTOR_CONFIG, LOAD_BALANCING, NODE_RELAY],
    ids=["otel-collector.yaml", "otel-collector.loadbalancing.yaml", "otel-collector.node.yaml"],
)
def test_collector_binary_validates_the_config(binaries: Binaries, config: Path) -> None:
    result = validate(binaries.collector, config)
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    "relays",
    [
        "[node-a:4417, node-b:4417, 10.0.0.3:4417]",
        "[127.0.0.1:4417]",
        "[relay.internal]",
        "node-a:4417,node-b:4417",  # a plain string is split at commas
    ],
)
def test_collector_binary_accepts_node_relays_from_the_environment(
    binaries: Binaries, relays: str
) -> None:
    result = validate(binaries.collector, LOAD_BALANCING, {"TOKENTRACE_NODE_RELAYS": relays})
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
def test_collector_binary_rejects_node_relays_that_are_not_a_list(binaries: Binaries) -> None:
    """A map is refused, and so is an empty list (set but empty is not the default)."""
    for relays in ("{not: a list}", "[]", ""):
        result = validate(binaries.collector, LOAD_BALANCING, {"TOKENTRACE_NODE_RELAYS": relays})
        assert result.returncode != 0, relays


class _Node(BaseHTTPRequestHandler):
    """A stand-in tokentrace backend: answers POST /v1/traces with 200 and an empty
    ExportTraceServiceResponse, and counts the spans of each trace id it received."""

    spans: ClassVar[Counter[str]]  # set per stand-in backend, see _stand_in_backend
    authorization: ClassVar[set[str]]
    lock: ClassVar[threading.Lock]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.authorization.add(self.headers.get("Authorization", ""))
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.update(span.trace_id.hex() for span in scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _stand_in_backend() -> Iterator[tuple[str, type[_Node]]]:
    """A stand-in backend on a free port: its OTLP/HTTP base URL and its counters."""

    class Node(_Node):  # one class per backend: its own counters
        spans: ClassVar[Counter[str]] = Counter()
        authorization: ClassVar[set[str]] = set()
        lock: ClassVar[threading.Lock] = threading.Lock()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Node
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.e2e
def test_load_balancing_tier_sends_every_trace_to_exactly_one_node(
    binaries: Binaries, tmp_path: Path
) -> None:
    """Apps → load-balancing tier → two node relays → two stand-in backends: every span of a
    trace reaches the same node, both nodes get traces, and the ingest key is sent."""
    spans_per_trace, traces = 3, 40
    with ExitStack() as stack:
        relays, nodes = [], []
        for index in range(2):
            url, node = stack.enter_context(_stand_in_backend())
            nodes.append(node)
            grpc, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            relay = ManagedProcess(
                f"relay-{index}",
                [str(binaries.collector), "--config", str(NODE_RELAY)],
                log_dir=tmp_path,
                env={
                    "OTELCOL_NODE_OTLP_GRPC_ENDPOINT": grpc,
                    "OTELCOL_NODE_HEALTH_ENDPOINT": health,
                    "OTELCOL_NODE_METRICS_PORT": str(free_port()),
                    "TOKENTRACE_BACKEND_OTLP_ENDPOINT": url,
                    "TOKENTRACE_INGEST_KEY": f"ingest-key-{index}",
                },
            )
            stack.callback(relay.stop)
            relay.start().wait_ready(http_ok(f"http://{health}/"))
            relays.append(grpc)
        http, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        balancer = ManagedProcess(
            "load-balancing",
            [str(binaries.collector), "--config", str(LOAD_BALANCING)],
            log_dir=tmp_path,
            env={
                "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
                "OTELCOL_OTLP_HTTP_ENDPOINT": http,
                "OTELCOL_HEALTH_ENDPOINT": health,
                "OTELCOL_METRICS_PORT": str(free_port()),
                "TOKENTRACE_NODE_RELAYS": f"[{', '.join(relays)}]",
                # No Jaeger here: its exporter retries in the background, which is harmless.
                "JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{free_port()}",
            },
        )
        stack.callback(balancer.stop)
        balancer.start().wait_ready(http_ok(f"http://{health}/"))

        provider = TracerProvider(resource=Resource.create({"service.name": "lb-test"}))
        exporter = OTLPSpanExporter(endpoint=f"http://{http}/v1/traces", timeout=10)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("lb-test")
        sent = set()
        for trace in range(traces):
            with tracer.start_as_current_span(f"root-{trace}") as root:
                for child in range(spans_per_trace - 1):
                    with tracer.start_as_current_span(f"child-{child}"):
                        pass
            sent.add(format(root.get_span_context().trace_id, "032x"))
        provider.shutdown()

        def received() -> int:
            return sum(sum(node.spans.values()) for node in nodes)

        deadline = time.monotonic() + 30
        while received() < traces * spans_per_trace and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a duplicate or a straggler would arrive now
    first, second = (set(node.spans) for node in nodes)
    assert first and second, "both nodes get traces"
    assert not first & second, "a trace id went to both nodes"
    assert first | second == sent
    assert all(count == spans_per_trace for node in nodes for count in node.spans.values())
    assert [node.authorization for node in nodes] == [
        {"Bearer ingest-key-0"},
        {"Bearer ingest-key-1"},
    ]


@pytest.mark.e2e
def test_jaeger_binary_validates_its_config(binaries: Binaries) -> None:
    result = validate(binaries.jaeger, JAEGER_CONFIG)
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
def test_collector_binary_rejects_a_broken_config(binaries: Binaries, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    config = load(COLLECTOR_CONFIG)
    config["service"]["pipelines"]["traces"]["processors"].append("tail_sampling")
    broken.write_text(yaml.safe_dump(config))
    result = validate(binaries.collector, broken)
    assert result.returncode != 0


@pytest.mark.e2e
def test_build_script_reuses_binaries_whose_stamps_match(binaries: Binaries) -> None:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: collector/build.sh cannot run")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(REPO / "collector" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The fixture built (or found) both; a second run must not rebuild either.
    assert "otelcol-tokentrace: cached" in result.stdout
    assert "jaeger: cached" in result.stdout
    assert time.monotonic() - started < 30
