"""The shapes the correlation queries return (pydantic, so the API serves them as they are).

Times are ISO-8601 UTC datetimes, durations milliseconds, ids lowercase hex (trace ids 32
characters, span ids 16, token ids 32).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class OutcomeCount(BaseModel):
    outcome: str | None = Field(description="tokentrace.auth.outcome; null when not recorded")
    requests: int


class TokenListItem(BaseModel):
    token_id: str
    key_id: str | None
    owner: str | None
    name: str | None
    first_seen: datetime
    last_seen: datetime
    requests: int = Field(description="SERVER spans tagged by the middleware (one per request)")
    errors: int = Field(description="failing spans that carry this token id")
    outcomes: dict[str, int] = Field(description="requests per auth outcome")
    open_findings: int = Field(description="the token's findings in state open (any time)")
    services: list[str]


class TokenPage(BaseModel):
    tokens: list[TokenListItem]
    next_offset: int | None = Field(description="pass as ?offset= for the next page; null at end")


class RouteStats(BaseModel):
    service: str
    method: str | None
    route: str | None
    requests: int
    errors: int = Field(description="requests answered with HTTP 5xx or status ERROR")
    denied: int = Field(description="requests whose auth outcome was not success")
    p95_ms: float | None


class ClientStats(BaseModel):
    address: str | None
    user_agent: str | None
    requests: int
    first_seen: datetime
    last_seen: datetime


class ServiceStats(BaseModel):
    service: str
    calls: int = Field(
        description="requests the service received for this token: the token's own requests "
        "(entry services) plus calls reaching it through the token's traces"
    )
    errors: int


class Latency(BaseModel):
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class LifecycleEvent(BaseModel):
    event: str
    at: datetime
    source: str = Field(
        description="'span' (an app's tokentrace.record_lifecycle) or 'api' (POST /api/lifecycle)"
    )
    role: str = Field(description="'token' (the event is about this token) or 'new_token'")
    token_id: str | None
    new_token_id: str | None
    actor: str | None
    expires_at: datetime | None = Field(description="the expiry the event states, if any")
    trace_id: str | None = Field(description="the lifecycle span's trace; null for 'api' events")


class RollupPart(BaseModel):
    since: datetime = Field(description="start of the first whole UTC day answered from roll-ups")
    until: datetime = Field(description="the retention boundary (or the window's end before it)")


class TokenSummary(BaseModel):
    token_id: str
    key_ids: list[str]
    owner: str | None
    name: str | None
    since: datetime
    until: datetime
    first_seen: datetime | None
    last_seen: datetime | None
    requests: int
    outcomes: list[OutcomeCount]
    routes: list[RouteStats]
    clients: list[ClientStats]
    services: list[ServiceStats]
    latency: Latency
    lifecycle: list[LifecycleEvent] = Field(
        description="all its lifecycle events, recorded or registered, whatever the window"
    )
    rotated_still_used: bool = Field(
        description="requests arrived after a rotated or revoked event, the latest within the "
        "in-use window (the lifecycle's rule)"
    )
    from_rollups: RollupPart | None = Field(
        default=None,
        description="the part of the window older than the span retention, answered from the "
        "daily roll-ups (whole days; latency quantiles there from histograms, within ~5%); "
        "null when the raw rows cover the window",
    )


class AddressUse(BaseModel):
    address: str | None
    requests: int
    last_used: datetime


class ClientUse(BaseModel):
    address: str | None
    user_agent: str | None
    requests: int = Field(description="requests after the rotation")
    last_used: datetime


class Rotation(BaseModel):
    event: str = Field(description="the earliest 'rotated' or 'revoked' event about the token")
    at: datetime
    source: str
    new_token_id: str | None
    requests_after: int = Field(description="requests that still used the token after it")
    last_used_after: datetime | None
    lag_ms: float | None = Field(
        description="from the rotation to the last request after it; null when none came"
    )
    clients: list[ClientUse] = Field(
        description="the clients that used the token after the rotation, latest first (20 at most)"
    )
    quiet_since: datetime | None = Field(
        description="once no request came for the in-use window: when the token went quiet "
        "(its last request after the rotation, else the rotation), the proof that the "
        "rotation is complete; null until then"
    )


class LifecycleStates(BaseModel):
    expiring_soon: bool = Field(
        description="in use, and its known expiry is within the expiring window of now"
    )
    rotated_still_used: bool = Field(
        description="rotated or revoked, and requests after that, the latest within the "
        "in-use window"
    )
    stale: bool = Field(description="live (neither revoked nor expired) and unused for too long")


class TokenLifecycle(BaseModel):
    token_id: str
    now: datetime = Field(description="the instant the states were evaluated at")
    expires_at: datetime | None = Field(
        description="its known expiry: the earlier of its JWT exp and the expiry its latest "
        "lifecycle event stating one gave"
    )
    expired: bool
    first_used: datetime | None
    last_used: datetime | None
    last_addresses: list[AddressUse] = Field(
        description="the client addresses of its requests, latest first (5 at most)"
    )
    rotation: Rotation | None
    states: LifecycleStates
    events: list[LifecycleEvent] = Field(description="recorded and registered, by time")


class ErrorGroup(BaseModel):
    service: str
    span_name: str
    error_type: str | None
    count: int
    message: str | None = Field(description="the most recent message of the group")
    first_seen: datetime
    last_seen: datetime
    trace_ids: list[str] = Field(description="the most recent example traces")
    jaeger_urls: list[str] | None = Field(
        default=None, description="links to the example traces when TOKENTRACE_JAEGER_URL is set"
    )


class ErrorPage(BaseModel):
    token_id: str
    since: datetime
    until: datetime
    errors: list[ErrorGroup]
    next_offset: int | None


class Node(BaseModel):
    name: str
    kind: str = Field(description="service, database, messaging or remote")


class Edge(BaseModel):
    source: str
    target: str
    target_kind: str
    calls: int
    errors: int
    p95_ms: float | None


class NodePosition(BaseModel):
    name: str
    x: int = Field(description="left edge, in pixels")
    y: int = Field(description="top edge, in pixels")


class GraphLayout(BaseModel):
    """Where to draw the nodes: callers left of what they call (``queries.graph_layout``)."""

    width: int
    height: int
    node_width: int
    node_height: int
    positions: list[NodePosition]


class DependencyGraph(BaseModel):
    token_id: str | None = Field(description="null for the global graph")
    since: datetime
    until: datetime
    nodes: list[Node]
    edges: list[Edge]
    layout: GraphLayout | None = Field(
        default=None, description="with ?layout=true, when there are edges: node positions"
    )


class TimelineBucket(BaseModel):
    start: datetime
    outcomes: dict[str, int] = Field(description="requests per auth outcome in this bucket")
    requests: int


class Timeline(BaseModel):
    token_id: str
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[TimelineBucket] = Field(description="only buckets with requests")


class TraceSpan(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    service_version: str | None
    name: str
    kind: str
    start: datetime
    duration_ms: float
    status: str
    status_message: str | None
    http_method: str | None
    http_route: str | None
    http_status: int | None
    url_path: str | None
    client_address: str | None
    user_agent: str | None
    peer_service: str | None
    db_system: str | None
    server_address: str | None
    messaging_system: str | None
    token_id: str | None = Field(description="tokentrace.token.id carried by the span itself")
    linked_token_id: str | None = Field(description="the token the span belongs to (linking)")
    auth_outcome: str | None
    error_type: str | None
    error_message: str | None
    attributes: dict[str, object] | None
    events: list[dict[str, object]] | None


class TraceDetail(BaseModel):
    trace_id: str
    jaeger_url: str | None
    tokens: list[str]
    spans: list[TraceSpan]


class Finding(BaseModel):
    """What a detector found (detect/): one incident, updated while it is open."""

    id: int
    kind: str = Field(description="the anomaly kind, e.g. new_network, burst")
    token_id: str | None = Field(description="the token; null for the per-address kinds")
    client_address: str | None = Field(description="the address involved, when there is one")
    subject: str = Field(description="what within the kind it is about: a route, a network")
    severity: str = Field(description="low | medium | high | critical")
    state: str = Field(description="open | acknowledged | resolved")
    summary: str = Field(description="one line: what was unusual compared with what")
    baseline: dict[str, Any] = Field(description="what it was compared with")
    evidence: dict[str, Any] = Field(
        description="trace_ids, counts, and the route, address or hour"
    )
    first_seen: datetime = Field(description="event time of the first evidence")
    last_seen: datetime = Field(description="event time of the latest evidence")
    detected_at: datetime = Field(description="when the finding was opened")
    updated_at: datetime
    state_changed_by: str | None


class FindingPage(BaseModel):
    findings: list[Finding]
    next_offset: int | None = Field(description="pass as ?offset= for the next page; null at end")


class TokenReport(BaseModel):
    """Everything known about one token, for an incident ticket (``token_report``): the
    answers of the per-token queries, taken from one snapshot of the database."""

    token_id: str
    generated_at: datetime = Field(description="when the report was made (the API's clock)")
    since: datetime
    until: datetime
    service: str | None = Field(description="the service filter, if one was given")
    outcome: str | None = Field(description="the auth-outcome filter, if one was given")
    jaeger_url: str | None = Field(
        description="the Jaeger UI the trace links point at (TOKENTRACE_JAEGER_URL); "
        "null when none is configured"
    )
    trace_urls: dict[str, str] = Field(
        description="a Jaeger link for every trace the report cites (error examples, finding "
        "evidence, lifecycle spans); empty when no Jaeger UI is configured"
    )
    summary: TokenSummary = Field(description="as GET /api/tokens/{token_id}, over the window")
    lifecycle: TokenLifecycle = Field(
        description="as GET /api/tokens/{token_id}/lifecycle: all time, states at generated_at"
    )
    errors: ErrorPage = Field(
        description="as GET /api/tokens/{token_id}/errors: the largest groups of the window"
    )
    dependencies: DependencyGraph = Field(
        description="as GET /api/tokens/{token_id}/dependencies, over the window"
    )
    findings: FindingPage = Field(
        description="the token's findings, every state, whatever the window, most recently "
        "updated first"
    )
