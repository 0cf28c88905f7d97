"""The shapes the correlation queries return (pydantic, so the API serves them as they are).

Times are ISO-8601 UTC datetimes, durations milliseconds, ids lowercase hex (trace ids 32
characters, span ids 16, token ids 32).
"""

from __future__ import annotations

from datetime import datetime

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
    role: str = Field(description="'token' (the event is about this token) or 'new_token'")
    token_id: str | None
    new_token_id: str | None
    actor: str | None
    trace_id: str


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
    lifecycle: list[LifecycleEvent] = Field(description="all recorded events, whatever the window")
    rotated_still_used: bool = Field(
        description="the token made requests after a rotated or revoked event"
    )


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


class DependencyGraph(BaseModel):
    token_id: str | None = Field(description="null for the global graph")
    since: datetime
    until: datetime
    nodes: list[Node]
    edges: list[Edge]


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
