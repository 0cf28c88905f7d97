"""Token lifecycle over HTTP: ``POST /api/lifecycle`` (registered events) and
``GET /api/tokens/{id}/lifecycle`` (both sources in one list, and the states they and the
token's requests imply, evaluated at the app's injected clock)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind

from tests.backend.span_builder import SpanBuilder, trace_id_of
from tests.loopback import serve_asgi
from tokentrace import SettingsError
from tokentrace import attributes as tt
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
OLD = "0a" * 16
NEW = "0b" * 16
OTHER = "0c" * 16
SECRET = "s3cr3t-value-that-must-not-come-back"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Clock:
    """The app's now, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> int:
        return ns(self.now)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def api(database: Database, clock: Clock) -> Iterator[httpx.Client]:
    app = create_api_app(database, api_key="", clock=clock)
    with serve_asgi(app, lifespan="off") as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def store(builder: SpanBuilder, writer: SpanWriter, database: Database) -> None:
    """Export what the builder holds and derive it, as the background refresh would."""
    builder.flush(writer)
    with database.reader() as cursor:
        refresh_derived(cursor)


def use(
    builder: SpanBuilder,
    token: str,
    moment: datetime,
    *,
    client: str = "10.0.0.1",
    user_agent: str = "python-httpx/0.28",
) -> None:
    builder.request(
        "gateway",
        "/orders",
        token_id=token,
        outcome="success",
        start_ns=ns(moment),
        client=client,
        user_agent=user_agent,
    )


def register(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/api/lifecycle", json=body)
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


def lifecycle(api: httpx.Client, token: str) -> dict[str, Any]:
    response = api.get(f"/api/tokens/{token}/lifecycle")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_registration_answers_201_with_the_stored_event(api: httpx.Client, clock: Clock) -> None:
    stored = register(
        api,
        event="rotated",
        token_id=OLD.upper(),  # ids in any case, stored lowercase
        new_token_id=NEW,
        at="2026-11-02T13:00:00+02:00",  # an offset: stored in UTC
        actor="ops",
        expires_at=ns(T0 + DAY) / 1e9,  # unix seconds
    )
    assert stored == {
        "event": "rotated",
        "at": "2026-11-02T11:00:00Z",
        "source": "api",
        "role": "token",
        "token_id": OLD,
        "new_token_id": NEW,
        "actor": "ops",
        "expires_at": iso(T0 + DAY),
        "trace_id": None,
    }
    clock.now = T0 + timedelta(minutes=3, microseconds=250)
    default = register(api, event="created", token_id=OTHER)
    assert default["at"] == iso(clock.now)  # `at` defaults to the app's now
    assert default["expires_at"] is None
    later = register(api, event="revoked", token_id=OTHER, at="2026-11-02 12:01:30")  # naive: UTC
    assert later["at"] == "2026-11-02T12:01:30Z"


def test_registered_and_recorded_events_are_one_list(
    api: httpx.Client, builder: SpanBuilder, writer: SpanWriter, database: Database, clock: Clock
) -> None:
    register(api, event="created", token_id=OLD, at=iso(T0 - 2 * DAY), actor="issuer")
    # the app records the rotation with tokentrace.record_lifecycle: a span
    recorded = builder.span(
        "gateway",
        tt.LIFECYCLE_EVENT_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=ns(T0 - DAY),
        attributes={
            tt.TOKEN_ID: OLD,
            tt.LIFECYCLE_EVENT: "rotated",
            tt.LIFECYCLE_NEW_TOKEN_ID: NEW,
            tt.LIFECYCLE_ACTOR: "ops",
            tt.TOKEN_EXPIRES_AT: int((T0 + DAY).timestamp()),
        },
    )
    use(builder, OLD, T0 - 2 * HOUR)
    store(builder, writer, database)
    register(api, event="revoked", token_id=OLD, at=iso(T0 - HOUR))

    events = lifecycle(api, OLD)["events"]
    assert [(e["event"], e["source"], e["role"], e["actor"]) for e in events] == [
        ("created", "api", "token", "issuer"),
        ("rotated", "span", "token", "ops"),
        ("revoked", "api", "token", None),
    ]
    assert [e["at"] for e in events] == [iso(T0 - 2 * DAY), iso(T0 - DAY), iso(T0 - HOUR)]
    assert [e["trace_id"] for e in events] == [None, trace_id_of(recorded), None]
    assert events[1]["expires_at"] == iso(T0 + DAY)  # the expiry the recorded event stated
    # the token summary reads the same list
    assert api.get(f"/api/tokens/{OLD}").json()["lifecycle"] == events
    # and the replacement sees the rotation, as the new token
    assert [(e["event"], e["role"]) for e in lifecycle(api, NEW)["events"]] == [
        ("rotated", "new_token")
    ]


def test_expiring_soon_while_in_use_and_close_to_expiry(
    api: httpx.Client, builder: SpanBuilder, writer: SpanWriter, database: Database, clock: Clock
) -> None:
    use(builder, OLD, T0)
    store(builder, writer, database)
    register(api, event="created", token_id=OLD, at=iso(T0 - DAY), expires_at=iso(T0 + 10 * DAY))
    clock.now = T0 + HOUR
    answer = lifecycle(api, OLD)
    assert answer["expires_at"] == iso(T0 + 10 * DAY)
    assert answer["states"]["expiring_soon"] is False  # 10 days left: outside the 7-day window

    use(builder, OLD, T0 + 4 * DAY)
    store(builder, writer, database)
    clock.now = T0 + 4 * DAY + HOUR  # 6 days left, used an hour ago
    assert lifecycle(api, OLD)["states"]["expiring_soon"] is True
    clock.now = T0 + 5 * DAY + 2 * HOUR  # no request for 25 hours: no longer in use
    assert lifecycle(api, OLD)["states"]["expiring_soon"] is False

    use(builder, OLD, T0 + 9 * DAY)
    store(builder, writer, database)
    clock.now = T0 + 9 * DAY + HOUR
    assert lifecycle(api, OLD)["states"]["expiring_soon"] is True
    # a renewal moves the expiry out of the window
    register(api, event="renewed", token_id=OLD, expires_at=iso(T0 + 60 * DAY))
    answer = lifecycle(api, OLD)
    assert answer["expires_at"] == iso(T0 + 60 * DAY)
    assert answer["states"]["expiring_soon"] is False
    # a later expired event ends it: expired, not expiring
    clock.now = T0 + 9 * DAY + 2 * HOUR
    register(api, event="expired", token_id=OLD)
    answer = lifecycle(api, OLD)
    assert answer["expires_at"] == iso(clock.now)
    assert (answer["expired"], answer["states"]["expiring_soon"]) == (True, False)


def test_rotated_still_used_until_the_old_token_goes_quiet(
    api: httpx.Client, builder: SpanBuilder, writer: SpanWriter, database: Database, clock: Clock
) -> None:
    rotated_at = T0
    use(builder, OLD, rotated_at - HOUR, client="10.0.0.1")
    use(builder, OLD, rotated_at - HOUR, client="10.0.0.2", user_agent="cron/1.0")
    store(builder, writer, database)
    register(api, event="rotated", token_id=OLD, new_token_id=NEW, at=iso(rotated_at))

    clock.now = rotated_at + 10 * timedelta(minutes=1)  # nothing after the rotation yet
    answer = lifecycle(api, OLD)
    assert answer["states"]["rotated_still_used"] is False
    assert answer["rotation"]["requests_after"] == 0
    assert answer["rotation"]["quiet_since"] is None  # too early to call it complete
    assert answer["rotation"]["lag_ms"] is None

    # one client keeps the old token
    use(builder, OLD, rotated_at + HOUR, client="10.0.0.2", user_agent="cron/1.0")
    use(builder, OLD, rotated_at + 2 * HOUR, client="10.0.0.2", user_agent="cron/1.0")
    use(builder, NEW, rotated_at + 2 * HOUR, client="10.0.0.1")
    store(builder, writer, database)
    clock.now = rotated_at + 3 * HOUR
    answer = lifecycle(api, OLD)
    assert answer["states"]["rotated_still_used"] is True
    assert api.get(f"/api/tokens/{OLD}").json()["rotated_still_used"] is True  # one rule
    rotation = answer["rotation"]
    assert (rotation["event"], rotation["source"], rotation["new_token_id"]) == (
        "rotated",
        "api",
        NEW,
    )
    assert rotation["at"] == iso(rotated_at)
    assert rotation["requests_after"] == 2
    assert rotation["last_used_after"] == iso(rotated_at + 2 * HOUR)
    assert rotation["lag_ms"] == 2 * 3_600_000
    assert rotation["clients"] == [
        {
            "address": "10.0.0.2",
            "user_agent": "cron/1.0",
            "requests": 2,
            "last_used": iso(rotated_at + 2 * HOUR),
        }
    ]
    assert rotation["quiet_since"] is None
    assert answer["last_used"] == iso(rotated_at + 2 * HOUR)
    assert [a["address"] for a in answer["last_addresses"]] == ["10.0.0.2", "10.0.0.1"]

    # quiet for the in-use window (24 h): the rotation is complete
    clock.now = rotated_at + 2 * HOUR + DAY
    answer = lifecycle(api, OLD)
    assert answer["states"]["rotated_still_used"] is False
    assert api.get(f"/api/tokens/{OLD}").json()["rotated_still_used"] is False
    assert answer["rotation"]["quiet_since"] == iso(rotated_at + 2 * HOUR)
    assert answer["rotation"]["lag_ms"] == 2 * 3_600_000  # fixed once it stopped


def test_a_clean_rotation_is_quiet_since_the_rotation(
    api: httpx.Client, builder: SpanBuilder, writer: SpanWriter, database: Database, clock: Clock
) -> None:
    use(builder, OLD, T0 - HOUR)
    store(builder, writer, database)
    register(api, event="revoked", token_id=OLD, at=iso(T0))
    clock.now = T0 + DAY - timedelta(seconds=1)
    assert lifecycle(api, OLD)["rotation"]["quiet_since"] is None
    clock.now = T0 + DAY
    answer = lifecycle(api, OLD)
    assert answer["rotation"]["event"] == "revoked"
    assert answer["rotation"]["quiet_since"] == iso(T0)
    assert answer["states"]["rotated_still_used"] is False


def test_stale_when_unused_for_the_stale_window(
    api: httpx.Client, builder: SpanBuilder, writer: SpanWriter, database: Database, clock: Clock
) -> None:
    use(builder, OLD, T0)
    store(builder, writer, database)
    clock.now = T0 + 30 * DAY - timedelta(seconds=1)
    assert lifecycle(api, OLD)["states"]["stale"] is False
    clock.now = T0 + 30 * DAY
    assert lifecycle(api, OLD)["states"]["stale"] is True
    use(builder, OLD, clock.now)  # used again
    store(builder, writer, database)
    assert lifecycle(api, OLD)["states"]["stale"] is False

    # never used: stale 30 days after its first event; a revoked token is not stale
    register(api, event="created", token_id=OTHER, at=iso(T0))
    assert lifecycle(api, OTHER)["states"]["stale"] is True
    register(api, event="revoked", token_id=OTHER, at=iso(T0 + DAY))
    assert lifecycle(api, OTHER)["states"]["stale"] is False


def test_an_unknown_token_answers_404_until_an_event_is_registered(api: httpx.Client) -> None:
    response = api.get(f"/api/tokens/{OTHER}/lifecycle")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "token_not_found"
    assert api.get("/api/tokens/not-a-token/lifecycle").status_code == 422
    register(api, event="created", token_id=OTHER)
    assert lifecycle(api, OTHER)["first_used"] is None
    # the other token routes know tokens by their spans only
    assert api.get(f"/api/tokens/{OTHER}").status_code == 404


GOOD = {"event": "created", "token_id": OLD}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (GOOD | {"event": SECRET}, "event"),
        (GOOD | {"event": ["created"]}, "event"),
        ({"token_id": OLD}, "event"),
        (GOOD | {"token_id": SECRET}, "token_id"),
        (GOOD | {"token_id": OLD + "0"}, "token_id"),  # 33 characters
        (GOOD | {"token_id": OLD + "\n"}, "token_id"),
        (GOOD | {"token_id": "g" * 32}, "token_id"),
        (GOOD | {"token_id": 12345678901234567890123456789012}, "token_id"),
        ({"event": "created"}, "token_id"),
        (GOOD | {"new_token_id": SECRET}, "new_token_id"),
        (GOOD | {"new_token_id": NEW}, "new_token_id"),  # created names no new token
        (GOOD | {"event": "rotated", "new_token_id": OLD}, "new_token_id"),  # itself
        (GOOD | {"at": SECRET}, "at"),
        (GOOD | {"at": "2026-13-45T00:00:00Z"}, "at"),
        (GOOD | {"at": "7d"}, "at"),  # durations are for query windows
        (GOOD | {"at": 98765432109876543210}, "at"),  # beyond 2262
        (GOOD | {"at": -1}, "at"),
        (GOOD | {"at": True}, "at"),
        (GOOD | {"at": "0001-01-01T00:00:00+23:59"}, "at"),
        (GOOD | {"at": iso(T0 + HOUR)}, "at"),  # in the future of the app's clock
        (GOOD | {"expires_at": SECRET}, "expires_at"),
        (GOOD | {"expires_at": {"seconds": 1}}, "expires_at"),
        (GOOD | {"actor": SECRET * 10}, "actor"),  # over 256 characters
        (GOOD | {"actor": f"ops\n{SECRET}"}, "actor"),
        (GOOD | {"actor": ""}, "actor"),
        (GOOD | {"comment": SECRET * 300}, "comment"),  # an unknown field, 11 KB
    ],
)
def test_a_bad_body_answers_422_naming_the_field_without_the_value(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/lifecycle", json=body)
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"][0] == "body"
    assert detail["loc"][1] == field
    assert "input" not in detail
    assert detail["msg"]
    assert SECRET not in response.text
    for value in body.values():
        if not isinstance(value, str) or value not in {"created", "rotated", OLD}:
            assert json.dumps(value) not in response.text
    assert api.get(f"/api/tokens/{OLD}/lifecycle").status_code == 404  # nothing stored


def test_an_unknown_fields_long_name_is_cut(api: httpx.Client) -> None:
    name = "x" * 60 + SECRET
    response = api.post("/api/lifecycle", json=GOOD | {name: 1})
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", name[:64] + "..."]
    assert SECRET not in response.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"event": "created", "token_id": "' + SECRET.encode() + b'"',  # not JSON
        b'["' + SECRET.encode() + b'"]',  # not an object
        b'{"event": "created", "token_id": "' + OLD.encode() + b'", "at": NaN}',
    ],
)
def test_a_body_that_is_not_an_event_answers_422(api: httpx.Client, content: bytes) -> None:
    response = api.post(
        "/api/lifecycle", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert all(detail["loc"][0] == "body" for detail in response.json()["detail"])
    assert SECRET not in response.text
    assert "NaN" not in response.text


def test_a_body_over_the_limit_is_refused(api: httpx.Client) -> None:
    response = api.post("/api/lifecycle", json=GOOD | {"actor": "x" * 20_000})
    assert response.status_code == 413
    assert api.get(f"/api/tokens/{OLD}/lifecycle").status_code == 404


def test_the_thresholds_come_from_the_environment(
    database: Database,
    builder: SpanBuilder,
    writer: SpanWriter,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKENTRACE_STALE_DAYS", "2")
    monkeypatch.setenv("TOKENTRACE_IN_USE_HOURS", "1")
    monkeypatch.setenv("TOKENTRACE_EXPIRING_SOON_DAYS", "30")
    use(builder, OLD, T0)
    store(builder, writer, database)
    app = create_api_app(database, api_key="", clock=clock)
    with serve_asgi(app, lifespan="off") as url, httpx.Client(base_url=url) as http:
        register(http, event="created", token_id=OLD, at=iso(T0), expires_at=iso(T0 + 20 * DAY))
        clock.now = T0 + 30 * timedelta(minutes=1)
        assert lifecycle(http, OLD)["states"]["expiring_soon"] is True  # 20 days < 30
        clock.now = T0 + HOUR  # unused for an hour: no longer in use
        assert lifecycle(http, OLD)["states"]["expiring_soon"] is False
        clock.now = T0 + 2 * DAY
        assert lifecycle(http, OLD)["states"]["stale"] is True


def test_a_bad_threshold_stops_the_app(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRACE_STALE_DAYS", "a month")
    with pytest.raises(SettingsError, match="TOKENTRACE_STALE_DAYS"):
        create_api_app(database, api_key="")
