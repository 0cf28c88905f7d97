"""The correlation API over HTTP, on the small reference scenario stored through ingest."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.scenario import (
    EXPIRED,
    FAILING,
    HEALTHY,
    JAEGER_URL,
    ON_BEHALF,
    ROTATED,
    ROTATED_TO,
    SERVICE_TOKEN,
    UNKNOWN,
    Scenario,
)


def test_token_list_shows_requests_outcomes_and_services(client: httpx.Client) -> None:
    page = client.get("/api/tokens").json()
    tokens = {token["token_id"]: token for token in page["tokens"]}
    assert set(tokens) == {HEALTHY, FAILING, EXPIRED, SERVICE_TOKEN, ON_BEHALF, ROTATED, ROTATED_TO}
    healthy = tokens[HEALTHY]
    assert (
        healthy["requests"] == 3
    )  # gateway SERVER spans; orders' baggage-tagged ones do not count
    assert healthy["outcomes"] == {"success": 3}
    assert healthy["owner"] == "alice"
    assert healthy["key_id"] == "k1"
    assert healthy["services"] == ["gateway", "legacy", "orders"]
    assert tokens[EXPIRED]["outcomes"] == {"expired": 2}
    # gateway's 502, orders' SERVER 500 and its failing sqlite call
    assert tokens[FAILING]["errors"] == 3
    assert page["next_offset"] is None


def test_token_list_filters_and_pages(client: httpx.Client) -> None:
    expired = client.get("/api/tokens", params={"outcome": "expired"}).json()["tokens"]
    assert [token["token_id"] for token in expired] == [EXPIRED]
    batch = client.get("/api/tokens", params={"service": "batch"}).json()["tokens"]
    assert [token["token_id"] for token in batch] == [SERVICE_TOKEN]

    seen = []
    offset: int | None = 0
    while offset is not None:
        page = client.get("/api/tokens", params={"limit": 2, "offset": offset}).json()
        assert len(page["tokens"]) <= 2
        seen += [token["token_id"] for token in page["tokens"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == 7

    nothing = client.get("/api/tokens", params={"since": "7d", "until": "6d"}).json()
    assert nothing["tokens"] == []


def test_token_summary(client: httpx.Client, scenario: Scenario) -> None:
    summary = client.get(f"/api/tokens/{HEALTHY}").json()
    assert summary["requests"] == 3
    assert summary["outcomes"] == [{"outcome": "success", "requests": 3}]
    assert summary["routes"][0] | {"p95_ms": None} == {
        "service": "gateway",
        "method": "GET",
        "route": "/orders",
        "requests": 3,
        "errors": 0,
        "denied": 0,
        "p95_ms": None,
    }
    assert summary["routes"][0]["p95_ms"] == 20.0
    assert [(c["address"], c["user_agent"], c["requests"]) for c in summary["clients"]] == [
        ("10.0.0.1", "python-httpx/0.28", 3)
    ]
    services = {s["service"]: s["calls"] for s in summary["services"]}
    assert services == {"gateway": 3, "orders": 3, "legacy": 3}
    assert summary["latency"]["p50_ms"] == 20.0
    assert summary["rotated_still_used"] is False
    assert summary["lifecycle"] == []

    expired = client.get(f"/api/tokens/{EXPIRED}").json()
    assert expired["outcomes"] == [{"outcome": "expired", "requests": 2}]
    assert expired["routes"][0]["denied"] == 2
    assert expired["clients"][0]["address"] == "203.0.113.9"


def test_rotated_token_still_used(client: httpx.Client) -> None:
    old = client.get(f"/api/tokens/{ROTATED}").json()
    assert old["rotated_still_used"] is True
    [event] = old["lifecycle"]
    assert (event["event"], event["role"], event["new_token_id"], event["actor"]) == (
        "rotated",
        "token",
        ROTATED_TO,
        "ops",
    )
    new = client.get(f"/api/tokens/{ROTATED_TO}").json()
    assert new["rotated_still_used"] is False
    assert [(e["event"], e["role"], e["token_id"]) for e in new["lifecycle"]] == [
        ("rotated", "new_token", ROTATED)
    ]


def test_errors_attributed_to_the_token_and_service(
    client: httpx.Client, scenario: Scenario
) -> None:
    page = client.get(f"/api/tokens/{FAILING}/errors").json()
    groups = {(g["service"], g["span_name"], g["error_type"]): g for g in page["errors"]}
    assert set(groups) == {
        ("gateway", "GET /orders", "HTTP 502"),
        ("orders", "GET /orders", "RuntimeError"),
        ("orders", "SELECT orders", "OSError"),
    }
    group = groups[("orders", "GET /orders", "RuntimeError")]
    assert group["count"] == 1
    assert group["message"] == "database is locked"
    assert group["trace_ids"] == [scenario.trace_ids["failing"]]
    assert group["jaeger_urls"] == [f"{JAEGER_URL}/trace/{scenario.trace_ids['failing']}"]
    # the healthy token's traces have no failure, the other tokens' failures are not its own
    assert client.get(f"/api/tokens/{HEALTHY}/errors").json()["errors"] == []


def test_untagged_service_errors_belong_to_the_nearest_tagged_ancestor(
    client: httpx.Client,
) -> None:
    # legacy (no tokentrace) failed under orders' on-behalf-of token, not the job's token
    on_behalf = client.get(f"/api/tokens/{ON_BEHALF}/errors").json()["errors"]
    assert [(g["service"], g["error_type"], g["count"]) for g in on_behalf] == [
        ("legacy", "HTTP 503", 1)
    ]
    assert client.get(f"/api/tokens/{SERVICE_TOKEN}/errors").json()["errors"] == []


def test_token_dependency_map(client: httpx.Client) -> None:
    graph = client.get(f"/api/tokens/{HEALTHY}/dependencies").json()
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert set(edges) == {
        ("gateway", "orders"),
        ("orders", "sqlite"),
        ("orders", "legacy"),
        ("legacy", "redis"),
    }
    assert edges[("gateway", "orders")]["calls"] == 3
    assert edges[("gateway", "orders")]["p95_ms"] == 15.0
    assert edges[("orders", "sqlite")]["target_kind"] == "database"
    nodes = {node["name"]: node["kind"] for node in graph["nodes"]}
    assert nodes == {
        "gateway": "service",
        "orders": "service",
        "legacy": "service",
        "sqlite": "database",
        "redis": "database",
    }
    failing = client.get(f"/api/tokens/{FAILING}/dependencies").json()
    edges = {(e["source"], e["target"]): e for e in failing["edges"]}
    assert edges[("gateway", "orders")]["errors"] == 1
    assert edges[("orders", "sqlite")]["errors"] == 1


def test_global_dependency_map(client: httpx.Client) -> None:
    graph = client.get("/api/dependencies").json()
    assert graph["token_id"] is None
    p95 = {(e["source"], e["target"]): e["p95_ms"] for e in graph["edges"]}
    assert p95[("gateway", "orders")] == pytest.approx(15.0, rel=0.05)  # from histograms
    edges = {(e["source"], e["target"]): e["calls"] for e in graph["edges"]}
    assert edges[("gateway", "orders")] == 4
    assert edges[("batch", "orders")] == 1
    assert edges[("orders", "legacy")] == 4
    only_batch = client.get("/api/dependencies", params={"service": "batch"}).json()
    assert {(e["source"], e["target"]) for e in only_batch["edges"]} == {("batch", "orders")}


def test_timeline(client: httpx.Client, scenario: Scenario) -> None:
    timeline = client.get(f"/api/tokens/{HEALTHY}/timeline", params={"bucket": "1m"}).json()
    assert timeline["bucket_seconds"] == 60
    assert [b["requests"] for b in timeline["buckets"]] == [1, 1, 1]
    assert all(b["outcomes"] == {"success": 1} for b in timeline["buckets"])
    coarse = client.get(f"/api/tokens/{EXPIRED}/timeline", params={"bucket": "1d"}).json()
    assert sum(b["outcomes"]["expired"] for b in coarse["buckets"]) == 2


def test_trace_detail_links_every_span_to_a_token(client: httpx.Client, scenario: Scenario) -> None:
    trace_id = scenario.trace_ids["two_tokens"]
    detail = client.get(f"/api/traces/{trace_id.upper()}").json()
    assert detail["trace_id"] == trace_id
    assert detail["jaeger_url"] == f"{JAEGER_URL}/trace/{trace_id}"
    assert detail["tokens"] == sorted([SERVICE_TOKEN, ON_BEHALF])
    linked = {(s["service"], s["name"]): s["linked_token_id"] for s in detail["spans"]}
    assert linked[("batch", "GET /nightly")] == SERVICE_TOKEN
    assert linked[("orders", "GET /orders")] == ON_BEHALF
    assert linked[("legacy", "GET /stock")] == ON_BEHALF
    assert linked[("legacy", "compute")] == ON_BEHALF
    span = detail["spans"][0]
    assert len(span["span_id"]) == 16
    assert span["parent_span_id"] is None
    assert span["kind"] == "server"


def test_unknown_ids_answer_404_with_a_clear_body(client: httpx.Client) -> None:
    for path in ("", "/errors", "/dependencies", "/timeline"):
        response = client.get(f"/api/tokens/{UNKNOWN}{path}")
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "token_not_found",
            "message": f"no span carries token id {UNKNOWN}",
            "token_id": UNKNOWN,
        }
    response = client.get(f"/api/traces/{'ab' * 16}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "trace_not_found"


def test_token_list_filters_by_owner_and_token_id_prefix(client: httpx.Client) -> None:
    owned = client.get("/api/tokens", params={"owner": "ALI"}).json()["tokens"]
    assert [token["token_id"] for token in owned] == [HEALTHY]  # any case, part of the owner
    prefixed = client.get("/api/tokens", params={"token_prefix": HEALTHY[:6].upper()}).json()
    assert HEALTHY in [token["token_id"] for token in prefixed["tokens"]]
    assert all(token["token_id"].startswith(HEALTHY[:6]) for token in prefixed["tokens"])
    assert client.get("/api/tokens", params={"owner": "%"}).json()["tokens"] == []  # no LIKE
    refused = client.get("/api/tokens", params={"token_prefix": "xyz'--"})
    assert refused.status_code == 422


def test_token_list_counts_open_findings(client: httpx.Client, scenario: Scenario) -> None:
    with scenario.database.reader() as cursor:
        for number, state in enumerate(("open", "open", "resolved", "acknowledged")):
            cursor.execute(
                "INSERT INTO findings (kind, token_id, subject, severity, state, summary,"
                " baseline, evidence, first_ns, last_ns, detected_at_ns, updated_at_ns)"
                " VALUES ('burst', ?, ?, 'high', ?, 's', '{}', '{}', 0, 0, 0, 0)",
                [HEALTHY, f"subject-{number}", state],
            )
    try:
        tokens = {t["token_id"]: t for t in client.get("/api/tokens").json()["tokens"]}
        assert tokens[HEALTHY]["open_findings"] == 2
        assert {t["open_findings"] for i, t in tokens.items() if i != HEALTHY} == {0}
    finally:
        with scenario.database.reader() as cursor:
            cursor.execute("DELETE FROM findings WHERE token_id = ?", [HEALTHY])


@pytest.mark.parametrize("path", [f"/api/tokens/{HEALTHY}/dependencies", "/api/dependencies"])
def test_dependency_graph_layout_places_callers_left_of_callees(
    client: httpx.Client, path: str
) -> None:
    assert client.get(path).json()["layout"] is None  # only when asked for
    graph = client.get(path, params={"layout": "true"}).json()
    at = {position["name"]: position for position in graph["layout"]["positions"]}
    assert set(at) == {node["name"] for node in graph["nodes"]}
    for edge in graph["edges"]:
        if edge["source"] != edge["target"]:
            assert at[edge["source"]]["x"] < at[edge["target"]]["x"], edge
    assert at["gateway"]["x"] < at["orders"]["x"] < at["sqlite"]["x"]
    layout = graph["layout"]
    for position in at.values():
        assert position["x"] + layout["node_width"] <= layout["width"]
        assert position["y"] + layout["node_height"] <= layout["height"]
