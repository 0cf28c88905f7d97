"""kill -9 mid-ingest: every acknowledged span survives, exactly once, and the file opens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.backend.ingest.otlp_builders import numbered_request, span_id_of
from tests.backend.ingest.serve_process import ServeProcess

SPANS_PER_BATCH = 500
SENDERS = 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "decode_workers",
    [
        pytest.param(0, id="decoding-in-threads"),  # the default with the native decoder
        pytest.param(2, id="decoding-in-worker-processes"),  # the default with Python's
    ],
)
def test_kill_9_loses_no_acknowledged_batch(
    start_server: Callable[..., ServeProcess], tmp_path: Path, decode_workers: int
) -> None:
    db_path = tmp_path / "crash.duckdb"
    server = start_server({"TOKENTRACE_DECODE_WORKERS": str(decode_workers)}, db_path=db_path)
    workers = server.children()
    # Worker processes come with multiprocessing's resource tracker; threads with no child.
    assert bool(workers) == bool(decode_workers), f"children: {workers}"
    bodies = {batch: numbered_request(batch, SPANS_PER_BATCH) for batch in range(600)}
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(first: int) -> None:
        with httpx.Client(timeout=10) as client:
            for batch in range(first, len(bodies), SENDERS):
                if stop.is_set():
                    return
                try:
                    response = client.post(
                        server.traces_url,
                        content=bodies[batch],
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                except httpx.TransportError:
                    return  # the server died under us: this batch was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(batch)

    threads = [threading.Thread(target=sender, args=(index,)) for index in range(SENDERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while the senders are still sending
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) >= 40, server.log()
    assert len(acknowledged) < len(bodies), "the kill came after the last batch"
    _assert_exit_soon(workers)  # decode workers do not outlive a killed server

    # Restart on the same file: it must open (WAL replay) and accept more spans.
    restarted = start_server(db_path=db_path)
    response = httpx.post(
        restarted.traces_url,
        content=numbered_request(10_000, 1),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert restarted.stop() == 0

    stored = restarted.query("SELECT span_id, count(*) FROM spans GROUP BY span_id")
    counts = {int(str(span_id)): int(str(count)) for span_id, count in stored}
    assert max(counts.values()) == 1, "a span was stored twice"
    missing = [
        (batch, index)
        for batch in acknowledged
        for index in range(SPANS_PER_BATCH)
        if span_id_of(batch, index) not in counts
    ]
    assert not missing, f"{len(missing)} acknowledged spans lost, first {missing[:3]}"
    assert counts.get(span_id_of(10_000, 0)) == 1
    batch_ids = restarted.query("SELECT DISTINCT batch_id FROM spans WHERE name = 'batch 10000'")
    older = restarted.query("SELECT max(batch_id) FROM spans WHERE name <> 'batch 10000'")
    assert int(str(batch_ids[0][0])) > int(str(older[0][0]))  # numbering resumed after restart


def _assert_exit_soon(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes {alive} outlived the killed server")
