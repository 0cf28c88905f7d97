"""Weeks of ordinary token traffic with incidents of every anomaly kind injected, as OTLP
export requests: the input of the detector tests and of benchmarks/detection_quality.py.

Ordinary traffic follows habits a real API sees: office hours on weekdays, round the clock
with a daily swing, a nightly job; counts are Poisson around the habit's rate, which grows
slowly; clients are noisy but normal (a second address in the same network, a stray request
at night, a few failed authentications after a key change, 1-2 % downstream failures).
Each incident is a short piece of traffic on top of one token's habit (or, for credential
stuffing, from one address) that a detector of its kind should find and no other should.

Spans are built with the OTLP protobuf classes, as an instrumented gateway exports them: a
SERVER span per request tagged as the tokentrace middleware tags it (token id, source and
scheme, the owner a resolver names, the auth outcome), with a failing
``orders`` SERVER span under it when the request failed downstream, and a
``tokentrace.lifecycle`` span for a revocation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tokentrace import attributes as tt
from tokentrace_backend.detect.kinds import AnomalyKind

HOUR_NS: Final = 3_600_000_000_000
DAY_NS: Final = 24 * HOUR_NS
WEEK_NS: Final = 7 * DAY_NS
OFFICE: Final = "office"  # weekdays 08:00-18:00 UTC
ALWAYS: Final = "always"  # round the clock, busier by day
NIGHTLY: Final = "nightly"  # a job at 02:00 UTC every day
RHYTHMS: Final = (OFFICE, ALWAYS, NIGHTLY)
ENDPOINTS: Final = (
    "GET /orders",
    "GET /orders/{id}",
    "POST /orders",
    "GET /users/{id}",
    "GET /cart",
)
NEW_ENDPOINT: Final = "DELETE /admin/users/{id}"
HEADER_SOURCE: Final = "header:authorization"
QUERY_SOURCE: Final = "query:api_key"
OWNERS: Final = ("svc:billing-sync", "team-payments@example.test", "partner:acme-12")
AGENTS: Final = ("python-httpx/0.28.1", "okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64)")


@dataclass(frozen=True)
class Habit:
    """How one token is ordinarily used."""

    token_id: str
    rhythm: str
    requests_per_hour: float  # at the busiest hours, at the start
    endpoints: tuple[str, ...]
    addresses: tuple[str, ...]  # the first is the usual one
    user_agent: str
    scopes: tuple[str, ...] = ("orders:read", "orders:write")
    growth_per_day: float = 0.01
    error_rate: float = 0.01
    expires_s: int | None = None  # a JWT exp its requests carry
    owner: str | None = None  # tokentrace.token.owner, as an owner resolver names it

    def rate(self, at_ns: int, start_ns: int) -> float:
        """Expected requests in the hour starting at ``at_ns``."""
        hour = (at_ns // HOUR_NS) % 24
        weekday = (at_ns // DAY_NS + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        if self.rhythm == OFFICE:
            level = 1.0 if weekday < 5 and 8 <= hour < 18 else 0.0
        elif self.rhythm == NIGHTLY:
            level = 1.0 if hour == 2 else 0.0
        else:
            level = 0.7 + 0.3 * math.sin((hour - 6) / 24 * 2 * math.pi)
        days = (at_ns - start_ns) / DAY_NS
        return self.requests_per_hour * level * (1 + self.growth_per_day * days)


@dataclass(frozen=True)
class Request:
    """One request as the middleware tags its span."""

    token_id: str
    start_ns: int
    endpoint: str
    outcome: str
    client_address: str
    user_agent: str
    failed_downstream: bool = False
    scopes: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()
    expires_s: int | None = None
    source: str = HEADER_SOURCE  # where the middleware found the token (tokentrace.token.source)
    owner: str | None = None


@dataclass(frozen=True)
class Lifecycle:
    """A lifecycle event recorded by an app (``tokentrace.record_lifecycle``)."""

    token_id: str
    event: str
    at_ns: int


@dataclass(frozen=True)
class Incident:
    """What was injected: the finding a detector should open."""

    kind: AnomalyKind
    token_id: str | None  # None for credential stuffing
    client_address: str | None
    start_ns: int
    end_ns: int


@dataclass
class Traffic:
    """Requests and lifecycle events, and the incidents among them."""

    requests: list[Request] = field(default_factory=list)
    lifecycle: list[Lifecycle] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)


def habits(count: int, rng: random.Random) -> list[Habit]:
    """``count`` tokens with varied habits; addresses are private, one /24 per token; the
    owners take turns (by index: the rng's draws are the same with or without them)."""
    made = []
    for index in range(count):
        rhythm = RHYTHMS[index % len(RHYTHMS)]
        network = f"10.{index // 200}.{index % 200}"
        made.append(
            Habit(
                token_id=rng.randbytes(16).hex(),
                rhythm=rhythm,
                requests_per_hour=rng.uniform(20, 60) if rhythm != NIGHTLY else rng.uniform(40, 80),
                endpoints=tuple(rng.sample(ENDPOINTS, rng.randint(2, 4))),
                addresses=(
                    f"{network}.{rng.randint(2, 120)}",
                    f"{network}.{rng.randint(121, 250)}",
                ),
                user_agent=rng.choice(AGENTS),
                expires_s=None if index % 2 else 4_102_444_800,  # 2100-01-01
                owner=OWNERS[index % len(OWNERS)],
            )
        )
    return made


def ordinary(habit: Habit, start_ns: int, end_ns: int, rng: random.Random) -> Iterator[Request]:
    """The token's ordinary requests from ``start_ns`` to ``end_ns`` (hour by hour)."""
    hour_ns = start_ns - start_ns % HOUR_NS
    while hour_ns < end_ns:
        expected = habit.rate(hour_ns, start_ns)
        count = _poisson(rng, expected) if expected else (1 if rng.random() < 0.01 else 0)
        for _ in range(count):
            yield _ordinary_request(habit, hour_ns + rng.randrange(HOUR_NS), rng)
        if rng.random() < 0.01:  # a client with a stale key, retried a few times
            at = hour_ns + rng.randrange(HOUR_NS)
            for attempt in range(rng.randint(1, 3)):
                yield replace(
                    _ordinary_request(habit, at + attempt * 1_000_000_000, rng), outcome="invalid"
                )
        hour_ns += HOUR_NS


def _ordinary_request(habit: Habit, at_ns: int, rng: random.Random) -> Request:
    return Request(
        token_id=habit.token_id,
        start_ns=at_ns,
        endpoint=rng.choice(habit.endpoints),
        outcome="success",
        client_address=habit.addresses[0] if rng.random() < 0.9 else habit.addresses[1],
        user_agent=habit.user_agent,
        failed_downstream=rng.random() < habit.error_rate,
        scopes=habit.scopes,
        expires_s=habit.expires_s,
        owner=habit.owner,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # normal approximation
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


# --- incidents ------------------------------------------------------------------------------


def inject(
    kind: AnomalyKind, habit: Habit, at_ns: int, rng: random.Random, traffic: Traffic
) -> None:
    """Add an incident of ``kind`` on ``habit``'s token, starting at ``at_ns`` (for
    odd_hours, at the next Sunday 03:00 after it; for burst and error_spike, in an hour the
    token is busy)."""
    base = replace(_ordinary_request(habit, at_ns, rng), failed_downstream=False)
    spread = 600_000_000_000  # 10 minutes
    requests: list[Request] = []
    address: str | None = None
    if kind is AnomalyKind.NEW_ENDPOINT:
        requests = [
            replace(base, start_ns=at_ns + i * 30_000_000_000, endpoint=NEW_ENDPOINT)
            for i in range(8)
        ]
    elif kind is AnomalyKind.NEW_NETWORK:
        address = f"203.0.{rng.randint(1, 250)}.{rng.randint(1, 250)}"
        requests = [
            replace(base, start_ns=at_ns + i * 20_000_000_000, client_address=address)
            for i in range(12)
        ]
    elif kind is AnomalyKind.ODD_HOURS:
        at_ns = _next_sunday_3am(at_ns)
        requests = [replace(base, start_ns=at_ns + i * 60_000_000_000) for i in range(25)]
    elif kind is AnomalyKind.BURST:
        count = max(400, int(20 * habit.requests_per_hour))
        requests = [
            replace(
                _ordinary_request(habit, at_ns + rng.randrange(spread * 3), rng),
                failed_downstream=False,
            )
            for _ in range(count)
        ]
    elif kind is AnomalyKind.ERROR_SPIKE:
        count = max(40, int(habit.requests_per_hour))
        requests = [
            replace(
                _ordinary_request(habit, at_ns + rng.randrange(spread * 3), rng),
                failed_downstream=rng.random() < 0.7,
            )
            for _ in range(count)
        ]
    elif kind is AnomalyKind.AUTH_FAILURE_BURST:
        requests = [
            replace(
                base,
                start_ns=at_ns + rng.randrange(spread),
                outcome=rng.choice(("invalid", "expired")),
            )
            for _ in range(150)
        ]
    elif kind is AnomalyKind.CREDENTIAL_STUFFING:
        address = f"198.51.100.{rng.randint(1, 250)}"
        requests = [
            Request(
                token_id=rng.randbytes(16).hex(),
                start_ns=at_ns + rng.randrange(spread),
                endpoint="GET /orders",
                outcome="invalid",
                client_address=address,
                user_agent="curl/8.5.0",
            )
            for _ in range(40)
        ]
    elif kind is AnomalyKind.SCOPE_VIOLATION:
        requests = [
            replace(
                base,
                start_ns=at_ns + i * 10_000_000_000,
                endpoint=habit.endpoints[0],
                outcome="insufficient_scope",
                scopes=("orders:read",),
                required_scopes=("orders:read", "orders:admin"),
            )
            for i in range(6)
        ]
    elif kind is AnomalyKind.USE_AFTER_EXPIRY:
        # The token (a JWT: its exp is part of it) expired an hour ago and is still accepted.
        expired = at_ns // 1_000_000_000 - 3600
        traffic.requests[:] = [
            replace(request, expires_s=expired) if request.token_id == habit.token_id else request
            for request in traffic.requests
        ]
        requests = [
            replace(base, start_ns=at_ns + i * 15_000_000_000, expires_s=expired) for i in range(10)
        ]
    elif kind is AnomalyKind.USE_AFTER_REVOCATION:
        traffic.lifecycle.append(Lifecycle(habit.token_id, "revoked", at_ns - HOUR_NS))
        requests = [replace(base, start_ns=at_ns + i * 15_000_000_000) for i in range(10)]
    elif kind is AnomalyKind.TOKEN_IN_URL:
        # A client that sends the key as ?api_key=...: the middleware redacts the URL and
        # records where the token was found.
        requests = [
            replace(base, start_ns=at_ns + i * 20_000_000_000, source=QUERY_SOURCE)
            for i in range(6)
        ]
    elif kind is AnomalyKind.SHARED_TOKEN:
        network = habit.addresses[0].rsplit(".", 1)[0]
        requests = [
            replace(
                base,
                start_ns=at_ns + rng.randrange(spread),
                user_agent=f"client-{index % 20}/1.{index % 7}",
                client_address=f"{network}.{rng.randint(2, 250)}",
            )
            for index in range(60)
        ]
    traffic.requests.extend(requests)
    start = min(request.start_ns for request in requests)
    end = max(request.start_ns for request in requests)
    token_id = None if kind is AnomalyKind.CREDENTIAL_STUFFING else habit.token_id
    traffic.incidents.append(Incident(kind, token_id, address, start, end))


def _next_sunday_3am(at_ns: int) -> int:
    day = at_ns // DAY_NS
    while (day + 3) % 7 != 6:
        day += 1
    return day * DAY_NS + 3 * HOUR_NS


def busy_hour(habit: Habit, near_ns: int, start_ns: int) -> int:
    """The first hour at or after ``near_ns`` in which ``habit`` is at its busiest."""
    hour_ns = near_ns - near_ns % HOUR_NS
    while habit.rate(hour_ns, start_ns) < 0.9 * habit.requests_per_hour:
        hour_ns += HOUR_NS
    return hour_ns


# --- OTLP -----------------------------------------------------------------------------------


def export_requests(
    traffic: Traffic, *, per_request: int = 2_000, rng: random.Random | None = None
) -> Iterator[bytes]:
    """The traffic as serialized OTLP export requests, oldest first, ``per_request``
    requests (plus their child spans) each."""
    rng = rng or random.Random(0)  # noqa: S311 (trace ids of generated traffic)
    requests = sorted(traffic.requests, key=lambda request: request.start_ns)
    lifecycle = sorted(traffic.lifecycle, key=lambda event: event.at_ns)
    for index in range(0, len(requests), per_request):
        chunk = requests[index : index + per_request]
        until = chunk[-1].start_ns
        events = [event for event in lifecycle if event.at_ns <= until]
        lifecycle = lifecycle[len(events) :]
        yield _export(chunk, events, rng).SerializeToString()
    if lifecycle:
        yield _export([], lifecycle, rng).SerializeToString()


def _export(
    requests: Sequence[Request], events: Sequence[Lifecycle], rng: random.Random
) -> ExportTraceServiceRequest:
    gateway: list[Span] = []
    orders: list[Span] = []
    for request in requests:
        trace_id, span_id = rng.randbytes(16), rng.randbytes(8)
        gateway.append(_request_span(request, trace_id, span_id))
        if request.failed_downstream:
            orders.append(_failing_downstream_span(request, trace_id, span_id, rng))
    for event in events:
        gateway.append(
            Span(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name=tt.LIFECYCLE_EVENT_NAME,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=event.at_ns,
                end_time_unix_nano=event.at_ns + 1_000,
                attributes=[_kv(tt.TOKEN_ID, event.token_id), _kv(tt.LIFECYCLE_EVENT, event.event)],
            )
        )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=_resource(service), scope_spans=[ScopeSpans(spans=spans)])
            for service, spans in (("gateway", gateway), ("orders", orders))
            if spans
        ]
    )


def _request_span(request: Request, trace_id: bytes, span_id: bytes) -> Span:
    method, route = request.endpoint.split(" ", 1)
    refused = request.outcome != "success"
    status = {"insufficient_scope": 403}.get(request.outcome, 401) if refused else 200
    if request.failed_downstream:
        status = 502
    attributes = [
        _kv("http.request.method", method),
        _kv("http.route", route),
        _kv("http.response.status_code", status),
        _kv("client.address", request.client_address),
        _kv("user_agent.original", request.user_agent),
        _kv(tt.TOKEN_ID, request.token_id),
        _kv(tt.TOKEN_SOURCE, request.source),
        _kv(tt.AUTH_OUTCOME, request.outcome),
        _kv(tt.AUTH_OUTCOME_SOURCE, "recorded"),
    ]
    # The scheme the middleware records (tokentrace/_extract.py): "bearer" for an
    # Authorization: Bearer header, "apikey" for a key in a query parameter or another header.
    if request.source == HEADER_SOURCE:
        attributes.append(_kv(tt.TOKEN_SCHEME, "bearer"))
    elif request.source.startswith(("query:", "header:")):
        attributes.append(_kv(tt.TOKEN_SCHEME, "apikey"))
    elif request.source.startswith("cookie:"):
        attributes.append(_kv(tt.TOKEN_SCHEME, "cookie"))
    if request.owner is not None:
        attributes.append(_kv(tt.TOKEN_OWNER, request.owner))
    if request.scopes:
        attributes.append(_strings(tt.TOKEN_SCOPES, request.scopes))
    if request.required_scopes:
        attributes.append(_strings(tt.AUTH_REQUIRED_SCOPES, request.required_scopes))
    if request.expires_s is not None:
        attributes.append(_kv(tt.TOKEN_EXPIRES_AT, request.expires_s))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=request.endpoint,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=request.start_ns,
        end_time_unix_nano=request.start_ns + 20_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR if status >= 500 else Status.STATUS_CODE_UNSET),
        attributes=attributes,
    )


def _failing_downstream_span(
    request: Request, trace_id: bytes, parent_id: bytes, rng: random.Random
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=rng.randbytes(8),
        parent_span_id=parent_id,
        name="GET /orders/{id}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=request.start_ns + 2_000_000,
        end_time_unix_nano=request.start_ns + 15_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="database is locked"),
        attributes=[_kv("http.route", "/orders/{id}"), _kv("http.response.status_code", 500)],
    )


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _strings(key: str, values: Sequence[str]) -> KeyValue:
    array = ArrayValue(values=[AnyValue(string_value=value) for value in values])
    return KeyValue(key=key, value=AnyValue(array_value=array))


def _resource(service: str) -> Resource:
    return Resource(attributes=[_kv("service.name", service)])
