"""Three weeks of ordinary traffic for a few tokens with one incident of every kind on
top, stored through the real ingest path (OTLP protobuf, the backend's decoder, the
writer), derived and detected incrementally as the background refresh does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.detect import AnomalyKind, Detection
from tokentrace_backend.ingest import decode_spans
from tokentrace_backend.scenario.incidents import (
    DAY_NS,
    OFFICE,
    Habit,
    Traffic,
    busy_hour,
    export_requests,
    habits,
    inject,
    ordinary,
)
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

DAYS = 22
START_NS = 1_780_000_000 * 1_000_000_000 // DAY_NS * DAY_NS  # 2026-05-28, midnight UTC


@dataclass
class Detected:
    database: Database
    detection: Detection
    traffic: Traffic
    clean_tokens: list[str]
    start_ns: int


def ingest(database: Database, detection: Detection, exports: Iterator[bytes]) -> None:
    """Store each export through the writer; refresh and detect after every few."""
    writer = SpanWriter(database)
    writer.start()
    try:
        for number, body in enumerate(exports, 1):
            decoded = decode_spans(body)
            assert decoded.rejected_spans == 0, decoded.error_message
            writer.submit(decoded).result(timeout=60)
            if number % 4 == 0:
                with database.reader() as cursor:
                    refresh_derived(cursor)
                    detection.catch_up(cursor)
    finally:
        writer.close()
    with database.reader() as cursor:
        refresh_derived(cursor)
        detection.catch_up(cursor)


def build_traffic(seed: int, start_ns: int) -> tuple[Traffic, list[str]]:
    rng = random.Random(seed)
    made = habits(len(AnomalyKind) + 3, rng)
    office = [habit for habit in made if habit.rhythm == OFFICE]
    traffic = Traffic()
    for habit in made:
        traffic.requests.extend(ordinary(habit, start_ns, start_ns + DAYS * DAY_NS, rng))
    incident_day = start_ns + (DAYS - 2) * DAY_NS
    # odd_hours needs a token with silent hours in its week; the others happen in an
    # hour the token is busy (else they would be odd hours too).
    chosen: dict[AnomalyKind, Habit] = {AnomalyKind.ODD_HOURS: office[0]}
    pool = [habit for habit in made if habit is not office[0]]
    for kind in AnomalyKind:
        if kind not in chosen:
            chosen[kind] = pool.pop(0)
    for kind, habit in chosen.items():
        inject(kind, habit, busy_hour(habit, incident_day, start_ns), rng, traffic)
    used = {habit.token_id for habit in chosen.values()}
    return traffic, [habit.token_id for habit in made if habit.token_id not in used]


@pytest.fixture(scope="package")
def detected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Detected]:
    start_ns = START_NS
    traffic, clean = build_traffic(11, start_ns)
    database = Database(Path(tmp_path_factory.mktemp("detect")) / "detect.duckdb")
    detection = Detection(clock=lambda: start_ns + DAYS * DAY_NS)
    ingest(database, detection, export_requests(traffic))
    yield Detected(database, detection, traffic, clean, start_ns)
    database.close()
