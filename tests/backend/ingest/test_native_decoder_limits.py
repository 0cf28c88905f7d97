"""Hostile bodies within the size limit must not make the native decoder slow or huge.

Each body is decoded in a child process, so a decoder that goes quadratic is killed at the
timeout instead of hanging the suite, and its peak memory is its own (VmHWM: ru_maxrss
would carry over the high-water mark of the pytest process that forked it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from tests.backend.ingest.decoders import require_native_decoder
from tests.backend.ingest.otlp_builders import key_value, make_request, make_span

# Linear decoding of these bodies takes well under a second; the quadratic versions took
# minutes. The margin absorbs a machine shared with other test suites.
_TIMEOUT_S = 30

_CHILD = """
import json, re, sys, time
from tokentrace_backend.ingest.native_decoder import decode_spans_native
body = open(sys.argv[1], "rb").read()
started = time.perf_counter()
decoded = decode_spans_native(body)
print(json.dumps({
    "rows": decoded.accepted_spans,
    "rejected": decoded.rejected_spans,
    "resources": decoded.resources.num_rows,
    "attributes": decoded.spans.column("attributes").to_pylist()[:1],
    "events_bytes": decoded.spans.column("events").nbytes,
    "seconds": time.perf_counter() - started,
    "max_rss_mib": int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())[1]) // 1024,
}))
"""


@pytest.fixture(autouse=True)
def _native_only() -> None:
    require_native_decoder()


def _decode_in_child(tmp_path: Path, body: bytes) -> dict[str, object]:
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=True,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        pytest.fail(f"decoding a {len(body)} byte body took over {_TIMEOUT_S} s")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_span_with_many_distinct_attributes_decodes_in_linear_time(tmp_path: Path) -> None:
    # 300 k distinct keys in one span (4.7 MB): deduplicating keys by a scan of the
    # span's keys so far was 4.5e10 string comparisons.
    count = 300_000
    span = make_span(attributes={f"k{index}": index for index in range(count)})
    span.attributes.append(key_value("k0", "last"))  # keeps its first place, last value
    body = make_request([span]).SerializeToString()
    result = _decode_in_child(tmp_path, body)
    assert result["rows"] == 1
    attributes = result["attributes"]
    assert isinstance(attributes, list)
    stored = json.loads(attributes[0])
    assert len(stored) == count
    assert next(iter(stored.items())) == ("k0", "last")


def test_many_distinct_resources_decode_in_linear_time(tmp_path: Path) -> None:
    # 600 k distinct resources without spans (8.6 MB): finding a resource's row by a scan
    # of the rows so far was 1.8e11 comparisons.
    count = 600_000
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(attributes=[key_value("r", index)]))
            for index in range(count)
        ]
    )
    result = _decode_in_child(tmp_path, request.SerializeToString())
    assert (result["rows"], result["resources"]) == (0, count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_many_empty_events_cost_memory_near_their_json(tmp_path: Path) -> None:
    # 2 M empty events on one span (4 MB): each becomes a 39-byte JSON object (78 MB of
    # column). Building a JSON value tree of all of them first peaked at 1.3 GB.
    count = 2_000_000
    span = make_span().SerializeToString() + b"\x5a\x00" * count  # field 11, length 0
    request = make_request([])
    request.resource_spans[0].scope_spans[0].spans.add().MergeFromString(span)
    result = _decode_in_child(tmp_path, request.SerializeToString())
    assert result["rows"] == 1
    assert result["events_bytes"] > count * 39
    assert isinstance(result["max_rss_mib"], int)
    assert result["max_rss_mib"] < 600, result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_many_empty_spans_do_not_expand_into_gigabytes(tmp_path: Path) -> None:
    # 4 M empty spans (8 MB), each rejected for its missing ids. Decoding the whole
    # request into span structs first (about 220 bytes each) peaked at 1 GB.
    count = 4_000_000
    scope_spans = b"\x12\x00" * count  # ScopeSpans.spans (field 2), length 0
    request = make_request([], service="s")
    request.resource_spans[0].scope_spans[0].MergeFromString(scope_spans)
    result = _decode_in_child(tmp_path, request.SerializeToString())
    assert (result["rows"], result["rejected"]) == (0, count)
    assert isinstance(result["max_rss_mib"], int)
    assert result["max_rss_mib"] < 400, result


_CHILD_UNDER_ADDRESS_LIMIT = """
import re, resource, sys
from tokentrace_backend.ingest.native_decoder import decode_spans_native
body, warm_up, headroom_mib = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
decode_spans_native(bytes.fromhex(warm_up))  # pyarrow and the allocator set up first
size = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read())[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + headroom_mib * 2**20, resource.RLIM_INFINITY))
print(decode_spans_native(body).rejected_spans)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_empty_spans_do_not_reserve_room_for_rows_they_cannot_be(tmp_path: Path) -> None:
    # Columns were reserved for every span counted, 144 bytes a row: 4 M empty spans
    # (8 MB) reserved 576 MB. Untouched, that costs no RSS, but where address space or
    # overcommit is limited the allocation fails, and Rust aborts the whole server.
    count = 4_000_000
    request = make_request([], service="s")
    request.resource_spans[0].scope_spans[0].MergeFromString(b"\x12\x00" * count)
    path = tmp_path / "body.bin"
    path.write_bytes(request.SerializeToString())
    warm_up = make_request([make_span()]).SerializeToString().hex()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD_UNDER_ADDRESS_LIMIT, str(path), warm_up, "350"],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(count)
