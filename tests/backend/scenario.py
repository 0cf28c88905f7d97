"""The reference scenario, small, stored through the real ingest path: the tokens it uses
and what it stored, for the tests to check the API's answers against."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind

from tests.backend.span_builder import NS_PER_MS, SpanBuilder, trace_id_of
from tokentrace import attributes as tt
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

JAEGER_URL = "http://jaeger.example:16686"

HEALTHY = "11111111111111111111111111111111"
FAILING = "22222222222222222222222222222222"
EXPIRED = "33333333333333333333333333333333"
SERVICE_TOKEN = "44444444444444444444444444444444"
ON_BEHALF = "55555555555555555555555555555555"
ROTATED = "66666666666666666666666666666666"
ROTATED_TO = "77777777777777777777777777777777"
UNKNOWN = "99999999999999999999999999999999"


@dataclass
class Scenario:
    """What the scenario stored, for the tests to check the API's answers against."""

    database: Database
    base_ns: int
    trace_ids: dict[str, str] = field(default_factory=dict)


def build_scenario(builder: SpanBuilder, writer: SpanWriter, database: Database) -> Scenario:
    """The reference scenario, small: gateway -> orders -> sqlite, plus a legacy service
    without tokentrace, an expired token, a failing database, a trace carrying two tokens
    and a rotated token still in use. The services export separately (several batches),
    as real ones do."""
    base = time.time_ns() - 3_600 * 1_000 * NS_PER_MS  # an hour ago
    scenario = Scenario(database=database, base_ns=base)

    # Healthy token: gateway -> orders -> sqlite, and orders -> legacy -> redis, where
    # legacy runs no tokentrace (its spans carry no token id).
    gateway_spans = []
    for n in range(3):
        t = base + n * 60_000 * NS_PER_MS
        root = builder.request(
            "gateway", "/orders", token_id=HEALTHY, outcome="success", start_ns=t, owner="alice"
        )
        gateway_spans.append(root)
        call = builder.span(
            "gateway",
            "GET",
            kind=SpanKind.CLIENT,
            start_ns=t + 1,
            parent=root,
            attributes={tt.TOKEN_ID: HEALTHY, "server.address": "orders"},
            duration_ms=15,
        )
        orders = builder.span(
            "orders",
            "GET /orders",
            kind=SpanKind.SERVER,
            start_ns=t + 2,
            parent=call,
            attributes={tt.TOKEN_ID: HEALTHY, "http.response.status_code": 200},
        )
        builder.span(
            "orders",
            "SELECT orders",
            kind=SpanKind.CLIENT,
            start_ns=t + 3,
            parent=orders,
            attributes={tt.TOKEN_ID: HEALTHY, "db.system.name": "sqlite"},
            duration_ms=2,
        )
        stock = builder.span(
            "orders",
            "GET",
            kind=SpanKind.CLIENT,
            start_ns=t + 4,
            parent=orders,
            attributes={tt.TOKEN_ID: HEALTHY, "server.address": "legacy"},
        )
        legacy = builder.span(
            "legacy", "GET /stock", kind=SpanKind.SERVER, start_ns=t + 5, parent=stock
        )
        builder.span(
            "legacy",
            "GET stock",
            kind=SpanKind.CLIENT,
            start_ns=t + 6,
            parent=legacy,
            attributes={"db.system": "redis"},
        )
    scenario.trace_ids["healthy"] = trace_id_of(gateway_spans[0])

    # Failing token: orders fails with a database error (downstream 500).
    t = base + 5 * 60_000 * NS_PER_MS
    root = builder.request(
        "gateway",
        "/orders",
        token_id=FAILING,
        outcome="success",
        start_ns=t,
        status=502,
        client="10.0.0.2",
    )
    call = builder.span(
        "gateway",
        "GET",
        kind=SpanKind.CLIENT,
        start_ns=t + 1,
        parent=root,
        attributes={tt.TOKEN_ID: FAILING, "server.address": "orders"},
    )
    orders = builder.span(
        "orders",
        "GET /orders",
        kind=SpanKind.SERVER,
        start_ns=t + 2,
        parent=call,
        attributes={tt.TOKEN_ID: FAILING, "http.response.status_code": 500},
        error=RuntimeError("database is locked"),
    )
    builder.span(
        "orders",
        "SELECT orders",
        kind=SpanKind.CLIENT,
        start_ns=t + 3,
        parent=orders,
        attributes={tt.TOKEN_ID: FAILING, "db.system.name": "sqlite"},
        error=OSError("database is locked"),
    )
    scenario.trace_ids["failing"] = trace_id_of(root)

    # Expired token: refused at the gateway.
    for n in range(2):
        builder.request(
            "gateway",
            "/orders",
            token_id=EXPIRED,
            outcome="expired",
            start_ns=base + (6 + n) * 60_000 * NS_PER_MS,
            status=401,
            client="203.0.113.9",
            user_agent="curl/8.5",
        )
    writer_batches = [builder.flush(writer)]  # the gateway's and orders' first exports

    # Two tokens in one trace: a batch job (service token) calls orders on behalf of a
    # user (another token); legacy's spans belong to the nearest tagged ancestor.
    t = base + 10 * 60_000 * NS_PER_MS
    job = builder.request(
        "batch", "/nightly", token_id=SERVICE_TOKEN, outcome="success", start_ns=t
    )
    call = builder.span(
        "batch",
        "GET",
        kind=SpanKind.CLIENT,
        start_ns=t + 1,
        parent=job,
        attributes={tt.TOKEN_ID: SERVICE_TOKEN, "server.address": "orders"},
    )
    obo = builder.request(
        "orders", "/orders", token_id=ON_BEHALF, outcome="success", start_ns=t + 2, parent=call
    )
    stock = builder.span(
        "orders",
        "GET",
        kind=SpanKind.CLIENT,
        start_ns=t + 3,
        parent=obo,
        attributes={tt.TOKEN_ID: ON_BEHALF, "server.address": "legacy"},
    )
    writer_batches.append(builder.flush(writer))
    # legacy exports later, in its own batch
    legacy = builder.span(
        "legacy",
        "GET /stock",
        kind=SpanKind.SERVER,
        start_ns=t + 4,
        parent=stock,
        failed=True,
        attributes={"http.response.status_code": 503},
    )
    builder.span("legacy", "compute", kind=SpanKind.INTERNAL, start_ns=t + 5, parent=legacy)
    scenario.trace_ids["two_tokens"] = trace_id_of(job)

    # Rotation: the old token is rotated away at t, then used again 10 minutes later.
    t = base + 20 * 60_000 * NS_PER_MS
    builder.span(
        "gateway",
        tt.LIFECYCLE_EVENT_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=t,
        attributes={
            tt.TOKEN_ID: ROTATED,
            tt.LIFECYCLE_EVENT: "rotated",
            tt.LIFECYCLE_NEW_TOKEN_ID: ROTATED_TO,
            tt.LIFECYCLE_ACTOR: "ops",
        },
    )
    builder.request(
        "gateway",
        "/orders",
        token_id=ROTATED,
        outcome="success",
        start_ns=t - 60_000 * NS_PER_MS,
        client="10.0.0.7",
    )
    builder.request(
        "gateway",
        "/orders",
        token_id=ROTATED,
        outcome="success",
        start_ns=t + 10 * 60_000 * NS_PER_MS,
        client="10.0.0.7",
    )
    builder.request(
        "gateway",
        "/orders",
        token_id=ROTATED_TO,
        outcome="success",
        start_ns=t + 11 * 60_000 * NS_PER_MS,
        client="10.0.0.8",
    )
    writer_batches.append(builder.flush(writer))
    assert writer_batches == sorted(writer_batches)
    return scenario
