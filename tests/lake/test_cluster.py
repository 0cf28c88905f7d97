"""Lake mode's acceptance test: PostgreSQL, three ``tokentrace serve`` nodes sharing one
lake, the collector's load-balancing tier routing by trace id to one relay per node, and
the scenario's services and a generated history sent through it.

One cluster is started for the module; the tests run in order (the fourth kills the
leader; the last searches what the lake stored for raw tokens):

(a) every node answers the same tokens with the requests that were sent;
(b) the traces were spread: each node's writer ingested a share;
(c) a token's dependency map joins the edges of traces that different nodes ingested;
(d) a node killed with SIGKILL loses nothing it acknowledged, and another takes the lead;
(e) no raw token of the scenario is in the lake's Parquet files or its catalog.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.lake.lake_nodes import (
    LEADER_LINE,
    SpanSpec,
    export_body,
    get_json,
    lake_node,
    leads,
    log_of,
    missing,
    new_catalog,
    post_export,
)
from tests.lake.lake_search import catalog_rows_holding, parquet_rows_holding
from tests.polling import wait_for
from tokentrace import attributes as tt
from tokentrace_backend.scenario import history as histories
from tokentrace_backend.scenario.pipeline import (
    REPO,
    Binaries,
    Collector,
    Jaeger,
    bin_dir,
    start_collector,
    start_jaeger,
)
from tokentrace_backend.scenario.postgres import PostgresServer
from tokentrace_backend.scenario.processes import ManagedProcess, free_port
from tokentrace_backend.scenario.stack import Backend, Services, scenario_fingerprinter
from tokentrace_backend.scenario.tokens import scenario_tokens, token_by_name
from tokentrace_backend.scenario.traffic import drive

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOAD_BALANCING_CONFIG = REPO / "collector" / "otel-collector.loadbalancing.yaml"
NODE_RELAY_CONFIG = REPO / "collector" / "otel-collector.node.yaml"
NODES = 3
ROUNDS = 2  # of the scenario's traffic
# The history fills the hour it ends in, a little past now: the window reaches past it.
WINDOW = {
    "since": "3d",
    "until": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "limit": 1000,
}
SERVER, CLIENT = 2, 3  # opentelemetry.proto Span.SpanKind
SPANS_INGESTED = re.compile(rb"^tokentrace_spans_ingested_total ([0-9.e+]+)$", re.MULTILINE)


def collector_binaries() -> Binaries:
    """Our collector build, with the load-balancing exporter, and Jaeger."""
    found = Binaries(bin_dir() / "otelcol-tokentrace", bin_dir() / "jaeger")
    if not (found.collector.exists() and found.jaeger.exists()):
        missing(f"collector and Jaeger binaries in {bin_dir()} (collector/build.sh)")
    listed = subprocess.run(
        [str(found.collector), "components"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "loadbalancingexporter" not in listed.stdout:
        missing(f"the load-balancing exporter in {found.collector} (rebuild: collector/build.sh)")
    return found


@dataclass
class Cluster:
    """The running cluster: the lake (catalog URL, data path) and every process."""

    catalog: str
    data: Path
    log_dir: Path
    nodes: list[Backend]
    relays: list[ManagedProcess] = field(default_factory=list)
    load_balancer: Collector | None = None
    jaeger: Jaeger | None = None
    services: Services | None = None

    def processes(self) -> list[ManagedProcess]:
        found = [node.process for node in self.nodes if node.process is not None]
        found += self.relays
        if self.load_balancer is not None:
            found.append(self.load_balancer.process)
        if self.jaeger is not None:
            found.append(self.jaeger.process)
        if self.services is not None:
            found += self.services.processes
        return found


@pytest.fixture(scope="module")
def cluster(
    postgres: PostgresServer,
    lake_tokentrace: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    binaries = collector_binaries()
    work = tmp_path_factory.mktemp("cluster")
    log_dir = work / "logs"
    log_dir.mkdir()
    catalog = new_catalog(postgres)
    data = work / "lake"
    nodes = [
        lake_node(lake_tokentrace, catalog, data, log_dir, f"node-{index}")
        for index in range(1, NODES + 1)
    ]
    running = Cluster(catalog, data, log_dir, nodes)
    with ExitStack() as stops:  # runs every stop, last registered first
        for node in nodes:
            stops.callback(node.stop)
            node.start(timeout=90)
        running.jaeger = start_jaeger(binaries, log_dir)
        stops.callback(running.jaeger.process.stop, timeout=2)
        relay_endpoints = []
        for index, node in enumerate(nodes, start=1):
            endpoint, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
            env = {
                "OTELCOL_NODE_OTLP_GRPC_ENDPOINT": endpoint,
                "OTELCOL_NODE_HEALTH_ENDPOINT": health,
                "OTELCOL_NODE_METRICS_PORT": str(free_port()),
                "TOKENTRACE_BACKEND_OTLP_ENDPOINT": node.otlp_url,
                "OTELCOL_RETRY_MAX_ELAPSED": "60s",
            }
            relay = start_collector(
                binaries,
                log_dir,
                env,
                config=NODE_RELAY_CONFIG,
                name=f"relay-{index}",
                health_variable="OTELCOL_NODE_HEALTH_ENDPOINT",
            ).process
            stops.callback(relay.stop)
            running.relays.append(relay)
            relay_endpoints.append(endpoint)
        http_endpoint, health = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        env = {
            "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
            "OTELCOL_OTLP_HTTP_ENDPOINT": http_endpoint,
            "OTELCOL_HEALTH_ENDPOINT": health,
            "OTELCOL_METRICS_PORT": str(free_port()),
            "TOKENTRACE_NODE_RELAYS": ",".join(relay_endpoints),
            "JAEGER_OTLP_ENDPOINT": f"127.0.0.1:{running.jaeger.otlp_grpc_port}",
            "OTELCOL_RETRY_MAX_ELAPSED": "60s",
        }
        running.load_balancer = start_collector(
            binaries, log_dir, env, config=LOAD_BALANCING_CONFIG, name="load-balancer"
        )
        stops.callback(running.load_balancer.process.stop)
        running.services = Services(otlp_endpoint=running.load_balancer.otlp_url, log_dir=log_dir)
        stops.callback(running.services.stop)
        running.services.start()
        yield running


@dataclass(frozen=True)
class Sent:
    """What went through the load-balancing tier: requests per token id, spans."""

    requests: dict[str, int]
    history_spans: int


@pytest.fixture(scope="module")
def sent(cluster: Cluster) -> Sent:
    """A day of generated history and the scenario's traffic, through the load balancer."""
    assert cluster.load_balancer is not None and cluster.services is not None
    history = histories.generate(now_ns=time.time_ns(), tokens=12, days=1)
    spans = 0
    with httpx.Client(timeout=60) as client:
        for body, count in histories.export_batches(history, per_export=500):
            assert post_export(cluster.load_balancer.otlp_url, body, client) == 200
            spans += count
    report = drive(cluster.services.gateway_url, rounds=ROUNDS)
    assert report.unexpected == []
    requests = Counter(request.token_id for request in history.traffic.requests)
    fingerprint = scenario_fingerprinter().fingerprint
    for token in scenario_tokens():
        requests[fingerprint(token.raw)] += ROUNDS * len(token.requests)
    return Sent(dict(requests), spans)


def token_requests(node: Backend) -> dict[str, int]:
    listed = get_json(node.api_url, "/api/tokens", **WINDOW)
    assert listed["next_offset"] is None  # everything on one page
    return {item["token_id"]: item["requests"] for item in listed["tokens"]}


def spans_ingested(node: Backend) -> int:
    response = httpx.get(f"{node.api_url}/metrics", timeout=20)
    response.raise_for_status()
    match = SPANS_INGESTED.search(response.content)
    assert match, response.text[:2000]
    return int(float(match.group(1)))


def test_every_node_answers_the_tokens_and_requests_that_were_sent(
    cluster: Cluster, sent: Sent
) -> None:
    def converged() -> dict[str, dict[str, int]] | None:
        answers = {node.name: token_requests(node) for node in cluster.nodes}
        return answers if all(answer == sent.requests for answer in answers.values()) else None

    try:
        wait_for(converged, "every node to answer what was sent", timeout=120)
    except AssertionError:
        for node in cluster.nodes:
            answer = token_requests(node)
            wrong = {
                token: (answer.get(token), count)
                for token, count in sent.requests.items()
                if answer.get(token) != count
            }
            extra = set(answer) - set(sent.requests)
            print(f"{node.name}: {len(wrong)} tokens differ {list(wrong.items())[:5]}, {extra=}")
        raise
    # One token's summary, from each node, agrees too.
    faulty = scenario_fingerprinter().fingerprint(token_by_name("faulty").raw)
    summaries = [
        get_json(node.api_url, f"/api/tokens/{faulty}", **WINDOW) for node in cluster.nodes
    ]
    assert {summary["requests"] for summary in summaries} == {sent.requests[faulty]}


def test_routing_spread_the_traces_over_every_nodes_writer(cluster: Cluster, sent: Sent) -> None:
    counts = {node.name: spans_ingested(node) for node in cluster.nodes}
    # Each node's writer committed a share; together, at least everything sent (the
    # scenario's spans come on top of the history's), each span once.
    assert all(count > 0 for count in counts.values()), counts
    assert max(counts.values()) < 0.7 * sum(counts.values()), counts
    assert sum(counts.values()) >= sent.history_spans, counts
    print(f"spans ingested by node: {counts} (history: {sent.history_spans})")
    total = len(
        get_json(cluster.nodes[0].api_url, "/api/tokens", **WINDOW)["tokens"]
    )  # (the spans of every node are behind one answer)
    assert total == len(sent.requests)


def token_trace(token_id: str, downstream: str) -> tuple[str, bytes]:
    """A request of ``token_id`` to the gateway that calls ``downstream`` (a service)."""
    trace_id = os.urandom(16)
    request, call, served = os.urandom(8), os.urandom(8), os.urandom(8)
    spans = [
        SpanSpec(
            "gateway",
            "GET /orders",
            SERVER,
            request,
            attributes=(
                (tt.TOKEN_ID, token_id),
                (tt.AUTH_OUTCOME, "success"),
                (tt.AUTH_OUTCOME_SOURCE, "recorded"),
                ("http.request.method", "GET"),
                ("http.route", "/orders"),
                ("http.response.status_code", 200),
            ),
        ),
        SpanSpec("gateway", f"GET {downstream}", CLIENT, call, request),
        SpanSpec(
            downstream,
            "GET /items",
            SERVER,
            served,
            call,
            attributes=(("http.route", "/items"), ("http.response.status_code", 200)),
        ),
    ]
    return trace_id.hex(), export_body(trace_id, spans, start_ns=time.time_ns() - 5_000_000_000)


def test_a_dependency_map_joins_edges_that_different_nodes_ingested(cluster: Cluster) -> None:
    token = os.urandom(16).hex()
    first, second, third = cluster.nodes
    trace_a, body_a = token_trace(token, "inventory")
    trace_b, body_b = token_trace(token, "billing")
    assert post_export(first.otlp_url, body_a) == 200
    assert post_export(second.otlp_url, body_b) == 200

    def both_edges() -> set[tuple[str, str]] | None:
        response = httpx.get(
            f"{third.api_url}/api/tokens/{token}/dependencies", params={"since": "1h"}, timeout=20
        )
        if response.status_code == 404:  # not derived yet
            return None
        response.raise_for_status()
        edges = {(edge["source"], edge["target"]) for edge in response.json()["edges"]}
        return edges if {("gateway", "inventory"), ("gateway", "billing")} <= edges else None

    edges = wait_for(both_edges, "node 3's dependency map to hold both edges", timeout=60)
    assert edges == {("gateway", "inventory"), ("gateway", "billing")}
    # Each trace whole on every node, from whichever node ingested it.
    for trace_id in (trace_a, trace_b):
        for node in cluster.nodes:
            spans = get_json(node.api_url, f"/api/traces/{trace_id}")["spans"]
            assert len(spans) == 3


def test_commits_racing_on_every_node_are_all_derived(cluster: Cluster) -> None:
    """Batch numbers follow commit order across the nodes: the leader derives "the batches
    after the last one it saw", so a batch numbered before, but committed after, a batch of
    another node would never be counted."""
    token = os.urandom(16).hex()
    per_node = 40
    failures: list[int] = []

    def export(node: Backend) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(per_node):
                status = post_export(node.otlp_url, token_trace(token, "inventory")[1], http)
                if status != 200:
                    failures.append(status)

    senders = [
        threading.Thread(target=export, args=(node,)) for node in cluster.nodes for _ in range(2)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(120)
    assert failures == []
    expected = 2 * per_node * len(cluster.nodes)
    counts: dict[str, int | None] = {}

    def all_counted() -> bool:
        counts.update({node.name: token_requests(node).get(token) for node in cluster.nodes})
        return set(counts.values()) == {expected}

    try:
        wait_for(all_counted, f"every node to count the {expected} racing requests", timeout=60)
    except AssertionError as error:
        raise AssertionError(f"{error}; the nodes count {counts}") from None


def test_a_node_killed_with_sigkill_loses_nothing_it_acknowledged(cluster: Cluster) -> None:
    leaders = [node for node in cluster.nodes if leads(node)]
    assert len(leaders) == 1, [log_of(node)[-2000:] for node in cluster.nodes]
    victim = leaders[0]
    survivors = [node for node in cluster.nodes if node is not victim]
    assert victim.process is not None
    token = os.urandom(16).hex()
    acknowledged: list[str] = []
    attempted: list[str] = []
    stop = threading.Event()

    def client() -> None:
        """Exports one trace at a time to the victim until it is gone."""
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                trace_id, body = token_trace(token, "inventory")
                attempted.append(trace_id)
                try:
                    status = post_export(victim.otlp_url, body, http)
                except httpx.HTTPError:
                    return  # the node is gone: this request was not acknowledged
                if status == 200:
                    acknowledged.append(trace_id)

    sender = threading.Thread(target=client, name="exporter")
    sender.start()
    try:
        wait_for(lambda: len(acknowledged) >= 25, "25 acknowledged exports", timeout=60)
        victim.process.kill()  # SIGKILL, mid-run: the client is posting
    finally:
        stop.set()
        sender.join(60)
    assert not victim.process.running
    assert len(acknowledged) >= 25
    print(f"killed {victim.name}: {len(acknowledged)} exports acknowledged of {len(attempted)}")

    # Every acknowledged trace is in the lake, whole, read at once from each surviving node.
    def whole(http: httpx.Client, trace_id: str) -> bool:
        answer = http.get(f"/api/traces/{trace_id}")
        return answer.status_code == 200 and len(answer.json()["spans"]) == 3

    for node in survivors:
        with httpx.Client(base_url=node.api_url, timeout=20) as http:
            lost = [trace_id for trace_id in acknowledged if not whole(http, trace_id)]
        assert lost == [], f"{node.name} lacks {len(lost)} of {len(acknowledged)} acknowledged"

    # A survivor takes the lead and derives: the token's requests reach every survivor.
    wait_for(lambda: any(leads(node) for node in survivors), "a survivor to lead", timeout=30)
    assert sum(log_of(node).count(LEADER_LINE) for node in survivors) == 1

    def derived(token_id: str) -> list[int] | None:
        counts = [token_requests(node).get(token_id, 0) for node in survivors]
        return counts if min(counts) >= len(acknowledged) else None

    counts = wait_for(lambda: derived(token), "the survivors to count the token", timeout=60)
    assert max(counts) <= len(attempted)
    assert len(set(counts)) == 1

    # And it goes on deriving what arrives after the kill, through either survivor.
    later = os.urandom(16).hex()
    for node in survivors:
        assert post_export(node.otlp_url, token_trace(later, "billing")[1]) == 200
    wait_for(
        lambda: (
            counts
            if (counts := [token_requests(node).get(later, 0) for node in survivors])
            == [len(survivors)] * len(survivors)
            else None
        ),
        "the new leader to derive spans ingested after the kill",
        timeout=60,
    )


@pytest.mark.usefixtures("sent")  # the traffic was sent before the search
def test_no_raw_token_of_the_scenario_is_in_the_lake(cluster: Cluster) -> None:
    secrets = sorted({secret for token in scenario_tokens() for secret in token.secrets})
    assert secrets
    files = sorted(path for path in cluster.data.rglob("*") if path.is_file())
    parquet = [path for path in files if path.suffix == ".parquet"]
    assert parquet, files
    assert parquet_rows_holding(parquet, secrets) == []
    for path in files:
        if path.suffix != ".parquet":  # (the audit key, say): bytes as written
            data = path.read_bytes()
            assert [secret for secret in secrets if secret.encode() in data] == [], path
    in_catalog, tables = catalog_rows_holding(cluster.catalog, secrets)
    assert in_catalog == []
    assert "public.ducklake_snapshot" in tables
    # Nothing any process of the cluster logged holds one either; no node logged an error.
    for process in cluster.processes():
        logged = process.log_bytes()
        assert [secret for secret in secrets if secret.encode() in logged] == [], process.name
    for node in cluster.nodes:
        assert b"Traceback" not in log_of(node), log_of(node).decode(errors="replace")[-4000:]

    # The search works: what the scenario does store is found, in the files or in the
    # catalog's inlined rows.
    faulty = scenario_fingerprinter().fingerprint(token_by_name("faulty").raw)
    controls = [faulty, "orders_legacy"]
    found_in = (
        parquet_rows_holding(parquet, controls) + catalog_rows_holding(cluster.catalog, controls)[0]
    )
    stored = {secret for _, secret in found_in}
    assert stored == set(controls)
    places = sorted(
        {where if where.startswith("public.") else "*.parquet" for where, _ in found_in}
    )
    print(
        f"searched {len(parquet)} Parquet files and {len(tables)} catalog tables"
        f" ({sum(name.startswith('public.ducklake_inlined_data') for name in tables)} of"
        f" inlined rows); the controls are found in {places}"
    )
