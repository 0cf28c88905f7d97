"""The decode pool's threads follow the CPUs the server may use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.backend.ingest.decoders import require_native_decoder

_THREADS_ON_ONE_CPU = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from tokentrace_backend.ingest.decoding import DecodePool
from tokentrace_backend.ingest.decoding import choose_decoder
print(DecodePool(choose_decoder("native", 0)).threads)
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_decode_threads_follow_the_cpus_the_process_may_use() -> None:
    # Under taskset or a container's cpuset, os.cpu_count() still counts the whole machine.
    require_native_decoder()
    threads = subprocess.run(
        [sys.executable, "-c", _THREADS_ON_ONE_CPU],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert threads.strip() == "1"
