"""The native decoder in threads: it lets other threads run, and concurrent decodes agree."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.otlp_builders import make_request, make_span
from tokentrace_backend.ingest.native_decoder import decode_spans_native


@pytest.fixture(autouse=True)
def _native_only() -> None:
    require_native_decoder()


def _slow_body(events: int) -> bytes:
    """One span with many empty events: a few MB that take a while to decode."""
    span = make_span().SerializeToString() + b"\x5a\x00" * events  # field 11, length 0
    request = make_request([])
    request.resource_spans[0].scope_spans[0].spans.add().MergeFromString(span)
    return request.SerializeToString()


def test_decoding_lets_other_threads_run() -> None:
    body = _slow_body(3_000_000)
    inside = threading.Event()
    decode_seconds: list[float] = []

    def decode() -> None:
        inside.set()
        started = time.perf_counter()
        decode_spans_native(body)
        decode_seconds.append(time.perf_counter() - started)
        inside.clear()

    worker = threading.Thread(target=decode)
    worker.start()
    assert inside.wait(10)
    # Holding the GIL, the decoder would stop this thread until it returns: it would then
    # see `inside` set for one switch interval (5 ms) at most.
    first_seen = last_seen = time.perf_counter()
    while inside.is_set():
        last_seen = time.perf_counter()
    worker.join()
    (seconds,) = decode_seconds
    assert seconds > 0.1, "the body decoded too fast to tell"
    assert last_seen - first_seen > seconds / 4


def test_concurrent_decodes_give_the_serial_tables() -> None:
    bodies = [
        make_request(
            [make_span(name=f"span {index}", attributes={"k": index, f"key{index}": "v"})] * 50,
            service=f"service-{index}",
        ).SerializeToString()
        for index in range(8)
    ]
    serial = [decode_spans_native(body) for body in bodies]
    with ThreadPoolExecutor(2) as pool:
        concurrent = list(pool.map(decode_spans_native, bodies * 10))
    for index, decoded in enumerate(concurrent):
        expected = serial[index % len(bodies)]
        assert decoded.spans.equals(expected.spans)
        assert decoded.resources.equals(expected.resources)
