"""The collector, Jaeger and compose configuration files: they parse, name the right ports
and files, mask what looks like a credential, and the built binaries accept them."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.pipeline import COLLECTOR_CONFIG, JAEGER_CONFIG, REPO, Binaries

COMPOSE = REPO / "collector" / "compose.yaml"
TAIL_SAMPLING = REPO / "collector" / "otel-collector.tail-sampling.yaml"
MANIFEST = REPO / "collector" / "manifest.yaml"
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
    assert built["exporters"] == {"otlpexporter", "otlphttpexporter"}
    assert built["extensions"] == {"healthcheckextension"}
    versions = {entry["gomod"].split()[1] for kind in built for entry in manifest[kind]}
    assert len(versions) == 1, "collector components must share one version"


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


def validate(binary: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """Run ``binary validate --config config`` (the collector and Jaeger both have it)."""
    return subprocess.run(
        [str(binary), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("config", [COLLECTOR_CONFIG], ids=["otel-collector.yaml"])
def test_collector_binary_validates_the_config(binaries: Binaries, config: Path) -> None:
    result = validate(binaries.collector, config)
    assert result.returncode == 0, result.stderr


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
