"""``tokentrace demo``: the whole system on one machine, with realistic traffic, one command.

Starts the backend (``tokentrace serve``) on a temporary (or given) DuckDB file, the
scenario's ``gateway`` and ``orders`` services exporting OTLP straight to it (the embedded
default: no collector needed), drives every scenario token, then prints what the backend
found: the tokens and their outcomes, the faulty token's downstream errors and the healthy
token's dependency map. The backend keeps running, with its URLs printed, until Ctrl-C
(or exits at once with ``--once``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx

from tokentrace.cli import Subparsers
from tokentrace_backend.scenario.processes import free_port
from tokentrace_backend.scenario.stack import Backend, Services, scenario_fingerprinter
from tokentrace_backend.scenario.tokens import ScenarioToken, scenario_tokens
from tokentrace_backend.scenario.traffic import drive


def add_commands(subparsers: Subparsers) -> None:
    """Register ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the backend and a two-service scenario with realistic token traffic",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--db", type=Path, help="DuckDB file (default: a temporary one)")
    parser.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    parser.add_argument(
        "--otlp-port", type=int, default=0, help="OTLP/HTTP port (default: a free one)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="traffic rounds (default: 3)")
    parser.add_argument("--once", action="store_true", help="print the results and exit")
    parser.set_defaults(func=run_demo)


def _wait_for(probe: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.25)
    return False


class _Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.base_url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()


def _all_arrived(api: _Api, ids: dict[str, str], rounds: int) -> bool:
    try:
        listed = {item["token_id"]: item for item in api.get("/api/tokens")["tokens"]}
        for token in scenario_tokens():
            item = listed.get(ids[token.name])
            if item is None or item["requests"] < rounds * len(token.requests):
                return False
        return bool(api.get(f"/api/tokens/{ids['faulty']}/errors")["errors"])
    except httpx.HTTPError:
        return False


def print_report(api: _Api, ids: dict[str, str], out: TextIO) -> None:
    """Print the tokens, the faulty token's errors and the healthy token's dependencies."""
    by_id = {token_id: name for name, token_id in ids.items()}
    tokens: dict[str, ScenarioToken] = {token.name: token for token in scenario_tokens()}
    print("\nTokens seen by the backend", file=out)
    print(f"  {'token id':32}  {'scenario token':14}  {'owner':22}  {'req':>4}  outcomes", file=out)
    for item in api.get("/api/tokens")["tokens"]:
        name = by_id.get(item["token_id"], "?")
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(item["outcomes"].items()))
        owner = item["owner"] or (tokens[name].owner if name in tokens else "")
        print(
            f"  {item['token_id']:32}  {name:14}  {owner:22}  {item['requests']:>4}  {outcomes}",
            file=out,
        )

    print(f"\nDownstream errors of the faulty token ({ids['faulty']})", file=out)
    for group in api.get(f"/api/tokens/{ids['faulty']}/errors")["errors"]:
        print(
            f"  {group['count']:>3} x {group['service']}: {group['span_name']} "
            f"[{group['error_type'] or 'error'}] {group['message'] or ''}",
            file=out,
        )

    print(f"\nDependency map of the healthy token ({ids['healthy-user']})", file=out)
    graph = api.get(f"/api/tokens/{ids['healthy-user']}/dependencies")
    for edge in graph["edges"]:
        p95 = f"{edge['p95_ms']:.1f} ms" if edge["p95_ms"] is not None else "-"
        print(
            f"  {edge['source']} -> {edge['target']} ({edge['target_kind']}): "
            f"{edge['calls']} calls, {edge['errors']} errors, p95 {p95}",
            file=out,
        )


def _wait_for_ctrl_c() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def run_demo(arguments: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="tokentrace-demo-") as scratch:
        work = Path(scratch)
        backend = Backend(
            db_path=arguments.db or work / "tokentrace.duckdb",
            log_dir=work,
            api_port=arguments.port or free_port(),
            otlp_port=arguments.otlp_port or free_port(),
        )
        services = Services(otlp_endpoint=backend.otlp_url, log_dir=work)
        try:
            print("Starting the tokentrace backend ...", file=out, flush=True)
            backend.start()
            print("Starting the scenario services (gateway, orders) ...", file=out, flush=True)
            services.start()
            clients = len(scenario_tokens())
            print(f"Driving traffic: {arguments.rounds} rounds of {clients} clients ...", file=out)
            report = drive(services.gateway_url, rounds=arguments.rounds)
            fingerprinter = scenario_fingerprinter()
            ids = {token.name: fingerprinter.fingerprint(token.raw) for token in scenario_tokens()}
            api = _Api(backend.api_url)
            if not _wait_for(lambda: _all_arrived(api, ids, arguments.rounds), timeout=60):
                print("warning: not every span arrived within 60 s", file=out)
            print_report(api, ids, out)
            if report.unexpected:
                print("\nUnexpected answers: " + "; ".join(report.unexpected), file=out)
            services.stop()
            print(
                f"\nAPI:               {backend.api_url}/api/tokens  "
                "(interactive docs: /docs, OpenAPI: /openapi.json)",
                file=out,
            )
            print(f"OTLP/HTTP ingest:  {backend.otlp_url}/v1/traces", file=out)
            print(f"Database:          {backend.db_path}", file=out, flush=True)
            if not arguments.once:
                print("Backend running; press Ctrl-C to stop.", file=out, flush=True)
                _wait_for_ctrl_c()
            return 1 if report.unexpected else 0
        except (RuntimeError, TimeoutError) as error:
            print(f"tokentrace demo: {error}", file=sys.stderr)
            return 1
        finally:
            services.stop()
            backend.stop()
