"""Slow, stalled and vanishing clients (issue #14, items 1 and 4): admission counts work,
not connections. A client that sends its headers, or half its body, and then stalls holds
no slot of the well-behaved exporters; its body must arrive within the body timeout; one
client address has a cap of open requests; a client that disconnects mid-body costs one
log line and a counter, not a traceback."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from tests.backend.ingest.otlp_builders import numbered_request
from tests.backend.ingest.serve_process import ServeProcess

PROTOBUF = {"Content-Type": "application/x-protobuf"}
STALLED_CLIENTS = 16  # the old admission limit (TOKENTRACE_MAX_INFLIGHT_REQUESTS)
DECLARED_BYTES = 100_000


def stalled_request(url: str, *, sent: int) -> socket.socket:
    """A connection that sent a POST's headers and ``sent`` bytes of its body, then stalls."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {DECLARED_BYTES}\r\n\r\n"
    )
    connection.sendall(head.encode() + b"\x0a" * sent)
    return connection


@contextlib.contextmanager
def stalled_requests(url: str, count: int, *, sent: int = 0) -> Iterator[list[socket.socket]]:
    connections = [stalled_request(url, sent=sent) for _ in range(count)]
    try:
        yield connections
    finally:
        for connection in connections:
            connection.close()


def dropped(server: ServeProcess, reason: str) -> int:
    text = httpx.get(server.api_url + "/metrics", timeout=10).text
    match = re.search(
        rf'^tokentrace_ingest_requests_dropped_total{{reason="{reason}"}} (\S+)$', text, re.M
    )
    assert match, text
    return int(float(match.group(1)))


def wait_for_drop(server: ServeProcess, reason: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while dropped(server, reason) < count:
        assert time.monotonic() < deadline, f"{reason} never reached {count}"
        time.sleep(0.1)


def test_stalled_clients_do_not_starve_a_well_behaved_exporter(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server()
    with (
        stalled_requests(server.traces_url, STALLED_CLIENTS // 2),
        stalled_requests(server.traces_url, STALLED_CLIENTS // 2, sent=DECLARED_BYTES // 2),
    ):
        time.sleep(1.0)  # the server has taken every stalled request in
        with httpx.Client(timeout=30) as client:
            statuses = [
                client.post(
                    server.traces_url, content=numbered_request(batch, 50), headers=PROTOBUF
                ).status_code
                for batch in range(20)
            ]
        assert statuses == [200] * 20
    assert server.stop() == 0
    assert "Traceback" not in server.log()
    assert server.query("SELECT count(*) FROM spans") == [(20 * 50,)]


def test_a_client_that_disconnects_mid_body_is_counted_without_a_traceback(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server()
    for _ in range(3):
        with stalled_request(server.traces_url, sent=10):
            time.sleep(0.2)  # the request reached the receiver
    wait_for_drop(server, "client_disconnected", 3)
    response = httpx.post(
        server.traces_url, content=numbered_request(1, 5), headers=PROTOBUF, timeout=30
    )
    assert response.status_code == 200
    assert server.stop() == 0
    log = server.log()
    assert "Exception in ASGI application" not in log
    assert "Traceback" not in log
    assert "disconnected before its body arrived" not in log  # INFO: below the log level


def test_a_body_that_does_not_arrive_in_time_is_dropped_and_counted(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server({"TOKENTRACE_BODY_TIMEOUT_MS": "300"})
    with stalled_requests(server.traces_url, 2, sent=100) as connections:
        for connection in connections:
            answer = connection.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408 "), answer
    wait_for_drop(server, "body_timeout", 2)
    response = httpx.post(
        server.traces_url, content=numbered_request(2, 5), headers=PROTOBUF, timeout=30
    )
    assert response.status_code == 200
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_one_client_address_has_a_cap_of_open_requests(
    start_server: Callable[..., ServeProcess],
) -> None:
    server = start_server({"TOKENTRACE_MAX_REQUESTS_PER_CLIENT": "2"})
    with stalled_requests(server.traces_url, 2):
        time.sleep(1.0)  # the server has taken both in
        refused = httpx.post(
            server.traces_url, content=numbered_request(1, 5), headers=PROTOBUF, timeout=30
        )
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert dropped(server, "client_limit") == 1
    wait_for_drop(server, "client_disconnected", 2)  # closed: their slots are free again
    response = httpx.post(
        server.traces_url, content=numbered_request(2, 5), headers=PROTOBUF, timeout=30
    )
    assert response.status_code == 200
    assert server.stop() == 0
