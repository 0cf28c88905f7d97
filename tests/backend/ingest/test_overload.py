"""Overload: a tiny writer queue and concurrent senders → 503 + Retry-After, nothing lost."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import httpx

from tests.backend.ingest.otlp_builders import numbered_request, span_id_of
from tests.backend.ingest.serve_process import ServeProcess

SENDERS = 8
BATCHES_PER_SENDER = 6
SPANS_PER_BATCH = 400


def test_full_queue_answers_503_with_retry_after_and_keeps_every_acknowledged_span(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server(
        {
            "TOKENTRACE_QUEUE_SPANS": str(SPANS_PER_BATCH),  # room for one request
            "TOKENTRACE_WRITER_LINGER_MS": "150",  # a slow writer: requests pile up
            "TOKENTRACE_RETRY_AFTER_SECONDS": "2",
        }
    )

    def send(sender: int) -> list[tuple[int, int, str | None]]:
        results = []
        with httpx.Client(timeout=30) as client:
            for number in range(BATCHES_PER_SENDER):
                batch = sender * 100 + number
                response = client.post(
                    server.traces_url,
                    content=numbered_request(batch, SPANS_PER_BATCH),
                    headers={"Content-Type": "application/x-protobuf"},
                )
                results.append((batch, response.status_code, response.headers.get("retry-after")))
        return results

    with concurrent.futures.ThreadPoolExecutor(SENDERS) as pool:
        outcomes = [item for result in pool.map(send, range(SENDERS)) for item in result]

    statuses = {status for _, status, _ in outcomes}
    assert statuses <= {200, 503}
    refused = [outcome for outcome in outcomes if outcome[1] == 503]
    acknowledged = sorted(batch for batch, status, _ in outcomes if status == 200)
    assert refused, "the tiny queue never filled"
    assert acknowledged, "nothing got through"
    assert all(retry_after == "2" for _, _, retry_after in refused)
    assert server.process is not None
    assert server.process.poll() is None

    assert server.stop() == 0
    stored = server.query("SELECT span_id, count(*) FROM spans GROUP BY span_id")
    counts = {int(str(span_id)): int(str(count)) for span_id, count in stored}
    for batch in acknowledged:
        for index in (0, SPANS_PER_BATCH // 2, SPANS_PER_BATCH - 1):
            assert counts.get(span_id_of(batch, index)) == 1
    assert sum(counts.values()) == len(acknowledged) * SPANS_PER_BATCH
