"""One well-behaved exporter's throughput with and without stalled clients beside it
(issue #14): connections that sent their headers, or half a body, and then stall.

    .venv/bin/python benchmarks/stalled_clients.py [--seconds 10] [--stalled 16]

Each round starts a fresh ``tokentrace serve``, opens the stalled connections (half with
headers only, half with half a body), then sends export requests of ~1000 spans one after
the other for ``--seconds`` and prints the requests answered 200 and 503 and the spans per
second. Before the fix, the stalled connections held every admission slot and the exporter
got 503 for as long as they stalled.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from otlp_load import FreshCopies, make_batches, tokentrace_env, tokentrace_server

DECLARED_BYTES = 1_000_000


def stall(url: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    connections = []
    for number in range(count):
        connection = socket.create_connection((parts.hostname, parts.port))
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            "Content-Type: application/x-protobuf\r\n"
            f"Content-Length: {DECLARED_BYTES}\r\n\r\n"
        ).encode()
        connection.sendall(head + (b"\x0a" * (DECLARED_BYTES // 2) if number % 2 else b""))
        connections.append(connection)
    return connections


def run(seconds: float, stalled: int) -> dict[str, float]:
    copies = FreshCopies(make_batches(4))
    with tempfile.TemporaryDirectory() as directory:
        env = {**tokentrace_env(), "TOKENTRACE_DECODE_WORKERS": "0"}
        with tokentrace_server(Path(directory) / "bench.duckdb", env) as server:
            connections = stall(server.traces_url, stalled)
            time.sleep(1.0)  # the server has taken them in
            counts = {200: 0, 503: 0, "other": 0}
            spans = 0
            headers = {"Content-Type": "application/x-protobuf"}
            with httpx.Client(timeout=30) as client:
                deadline = time.monotonic() + seconds
                started = time.monotonic()
                while time.monotonic() < deadline:
                    body, size = copies.next()
                    status = client.post(server.traces_url, content=body, headers=headers)
                    key = status.status_code if status.status_code in counts else "other"
                    counts[key] += 1
                    if status.status_code == 200:
                        spans += size
                elapsed = time.monotonic() - started
            for connection in connections:
                connection.close()
    return {
        "ok": counts[200],
        "busy": counts[503],
        "other": counts["other"],
        "spans_per_second": spans / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stalled", type=int, default=16)
    arguments = parser.parse_args()
    for stalled in (0, arguments.stalled):
        result = run(arguments.seconds, stalled)
        print(
            f"{stalled:3d} stalled clients: {result['ok']:5.0f} requests answered 200, "
            f"{result['busy']:5.0f} 503, {result['other']:3.0f} other; "
            f"{result['spans_per_second']:9,.0f} spans/s acknowledged",
            flush=True,
        )


if __name__ == "__main__":
    main()
