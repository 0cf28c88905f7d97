"""``tokentrace demo``: the whole system on one machine, with a history and live traffic.

Starts the backend (``tokentrace serve``, embedded DuckDB) with its data in a directory it
names (``--dir``; by default a temporary one, removed at exit unless ``--keep``), loads two
weeks of generated traffic of a few dozen tokens ending now, with one incident of every
anomaly kind in its last hours (scenario/history.py), starts the reference scenario's
``gateway`` and ``orders`` exporting OTLP straight to the backend (or through the real
collector to the backend and Jaeger, ``--with-collector``), drives the scenario tokens,
registers the ``revoked`` token's revocation, waits until every incident has its finding,
then prints what tokentrace found: the findings by kind, the lifecycle states, the faulty
token's downstream errors, the healthy token's dependency map, and the URLs. It then keeps
serving, with a round of live scenario traffic every ``--live-interval`` seconds, until
Ctrl-C or SIGTERM (or for ``--duration`` seconds; ``--once`` exits after the summary).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx

from tokentrace.cli import Subparsers
from tokentrace_backend.detect.kinds import AnomalyKind
from tokentrace_backend.scenario import history as scenario_history
from tokentrace_backend.scenario.pipeline import (
    Jaeger,
    find_binaries,
    start_collector,
    start_jaeger,
)
from tokentrace_backend.scenario.pipeline import collector_env as pipeline_collector_env
from tokentrace_backend.scenario.processes import free_port
from tokentrace_backend.scenario.stack import Backend, Services, scenario_fingerprinter
from tokentrace_backend.scenario.tokens import scenario_tokens
from tokentrace_backend.scenario.traffic import TrafficReport, drive

# How long the demo waits for the findings of the injected incidents.
FINDINGS_TIMEOUT_S = 90.0
# How far back the revoked scenario token was revoked.
REVOKED_MINUTES_AGO = 30
# The history's request rates, scaled down so that the demo is ready in seconds.
HISTORY_RATE_SCALE = 0.3
EXIT_NO_COLLECTOR = EXIT_USAGE = 2
# Below these the detectors judge no token of the history (3 days of baseline) or there
# are too few tokens for one incident of each kind.
MIN_DAYS = 4
MIN_TOKENS = 2 * len(AnomalyKind)


def add_commands(subparsers: Subparsers) -> None:
    """Register ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the backend with a history of incidents and a two-service scenario",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="data directory: database and logs (default: a temporary one, removed at exit)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data directory at exit"
    )
    parser.add_argument("--db", type=Path, help="DuckDB file (default: DIR/tokentrace.duckdb)")
    parser.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    parser.add_argument(
        "--otlp-port", type=int, default=0, help="OTLP/HTTP port (default: a free one)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of scenario traffic before the summary"
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=scenario_history.DEFAULT_TOKENS,
        help=f"generated tokens of the history (default: {scenario_history.DEFAULT_TOKENS})",
    )
    parser.add_argument(
        "--days",
        type=float,
        default=scenario_history.DEFAULT_DAYS,
        help=f"days of history (default: {scenario_history.DEFAULT_DAYS:g})",
    )
    parser.add_argument("--once", action="store_true", help="exit right after the summary")
    parser.add_argument(
        "--duration", type=float, help="serve this many seconds, then exit (default: until Ctrl-C)"
    )
    parser.add_argument(
        "--live-interval",
        type=float,
        default=2.0,
        help="seconds between rounds of live scenario traffic while serving (0: none)",
    )
    parser.add_argument(
        "--with-collector",
        action="store_true",
        help="send the services' spans through the real collector (to the backend and "
        "Jaeger); needs collector/build.sh's binaries",
    )
    parser.set_defaults(func=run_demo)


# --- progress ---------------------------------------------------------------------------------


class Progress:
    """One line per step: updated in place on a terminal, printed once when done otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.timings: list[tuple[str, float]] = []
        self._line = ""

    @contextmanager
    def step(self, name: str, text: str) -> Iterator[Callable[[str], None]]:
        """A step called ``name`` (in the timings); yields ``update(text)``. The step's
        last text is printed with its duration when it ends."""
        started = time.perf_counter()
        current = [text]

        def update(new: str) -> None:
            current[0] = new
            if self.tty:
                self._show(new)

        update(text)
        try:
            yield update
        except BaseException:
            current[0] += " failed"
            raise
        finally:
            seconds = time.perf_counter() - started
            self.timings.append((name, seconds))
            self._finish(f"{current[0]} ({seconds:.1f} s)")

    def note(self, text: str) -> None:
        """A line of its own between the steps."""
        self._finish(text)

    def _show(self, text: str) -> None:
        pad = max(len(self._line) - len(text), 0)
        self.out.write("\r" + text + " " * pad)
        self.out.flush()
        self._line = text

    def _finish(self, text: str) -> None:
        if self.tty and self._line:
            self._show(text)
            self.out.write("\n")
        else:
            self.out.write(text + "\n")
        self.out.flush()
        self._line = ""


# --- the API ----------------------------------------------------------------------------------


class _Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=15)

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params or None)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def findings(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.get("/api/anomalies", limit=1000, offset=offset)
            found += page["findings"]
            offset = page["next_offset"]
        return found

    def close(self) -> None:
        self.client.close()


def _scenario_arrived(api: _Api, ids: dict[str, str], rounds: int) -> bool:
    """Whether every scenario request of the first ``rounds`` rounds is stored, with the
    faulty token's downstream errors."""
    try:
        listed = {item["token_id"]: item for item in api.get("/api/tokens", limit=1000)["tokens"]}
        for token in scenario_tokens():
            item = listed.get(ids[token.name])
            if item is None or item["requests"] < rounds * len(token.requests):
                return False
        return bool(api.get(f"/api/tokens/{ids['faulty']}/errors")["errors"])
    except httpx.HTTPError:
        return False


# --- the summary ------------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _time(value: str | None) -> str:
    if not value:
        return "-"
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def print_findings(
    findings: Sequence[dict[str, Any]],
    history: scenario_history.History,
    names: dict[str, str],
    out: TextIO,
) -> None:
    """The findings grouped by kind (in the order of AnomalyKind), each with its token id
    (or client address), severity and summary; scenario tokens are named."""
    order = {kind.value: index for index, kind in enumerate(AnomalyKind)}
    ranked = sorted(findings, key=lambda item: (order.get(item["kind"], len(order)), item["id"]))
    injected = history.incidents
    caught = len(injected) - len(scenario_history.missing(injected, findings))
    print(
        f"\nFindings: {len(findings)} ({caught} of the {len(injected)} injected incidents "
        f"found; GET /api/anomalies)",
        file=out,
    )
    print(f"  {'kind':22}  {'severity':8}  {'token id / client address':32}  summary", file=out)
    width = max(shutil.get_terminal_size((160, 24)).columns - 70, 40)
    for item in ranked:
        subject = scenario_history.finding_subject(item)
        name = names.get(subject)
        summary = f"[{name}] {item['summary']}" if name else item["summary"]
        print(
            f"  {item['kind']:22}  {item['severity']:8}  {subject:32}  {_clip(summary, width)}",
            file=out,
        )


def print_tokens(api: _Api, ids: dict[str, str], out: TextIO) -> None:
    """The scenario tokens with their requests and outcomes."""
    listed = {item["token_id"]: item for item in api.get("/api/tokens", limit=1000)["tokens"]}
    others = len(set(listed) - set(ids.values()))
    print(f"\nScenario tokens (and {others} more tokens of the history)", file=out)
    print(f"  {'token id':32}  {'scenario token':14}  {'owner':22}  {'req':>4}  outcomes", file=out)
    for token in scenario_tokens():
        item = listed.get(ids[token.name])
        if item is None:
            continue
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(item["outcomes"].items()))
        owner = item["owner"] or token.owner
        print(
            f"  {item['token_id']:32}  {token.name:14}  {owner:22}  {item['requests']:>4}  "
            f"{outcomes}",
            file=out,
        )


def lifecycle_states(lifecycle: dict[str, Any]) -> list[str]:
    """The states a lifecycle answer implies: expired, revoked and the named states."""
    states = ["expired"] if lifecycle.get("expired") else []
    if any(
        event["event"] == "revoked" and event["role"] == "token" for event in lifecycle["events"]
    ):
        states.append("revoked")
    states += [name for name, on in lifecycle["states"].items() if on]
    return states


def print_lifecycle(api: _Api, ids: dict[str, str], out: TextIO) -> None:
    """The lifecycle states of the rotated, expired and revoked scenario tokens."""
    print("\nLifecycle states (GET /api/tokens/{id}/lifecycle)", file=out)
    names = {token_id: name for name, token_id in ids.items()}
    for name in ("rotated-old", "expired-jwt", "revoked"):
        lifecycle = api.get(f"/api/tokens/{ids[name]}/lifecycle")
        states = ", ".join(lifecycle_states(lifecycle)) or "-"
        rotation = lifecycle.get("rotation")
        if name == "rotated-old":
            detail = "no rotation recorded"
            if rotation:
                new = names.get(rotation.get("new_token_id") or "", rotation.get("new_token_id"))
                detail = (
                    f"{rotation['event']} to {new} at {_time(rotation['at'])}, "
                    f"{rotation['requests_after']} request(s) since"
                )
        elif name == "expired-jwt":
            detail = f"expired at {_time(lifecycle.get('expires_at'))}, still presented"
        else:
            revoked = [event for event in lifecycle["events"] if event["event"] == "revoked"]
            detail = "no revocation recorded"
            if revoked:
                detail = f"revoked at {_time(revoked[0]['at'])}, still presented"
        print(f"  {name:12}  {ids[name]}  {states:28}  {detail}", file=out)


def print_errors_and_dependencies(api: _Api, ids: dict[str, str], out: TextIO) -> None:
    """The faulty token's downstream errors and the healthy token's dependency map."""
    print(f"\nDownstream errors of the faulty token ({ids['faulty']})", file=out)
    for group in api.get(f"/api/tokens/{ids['faulty']}/errors")["errors"]:
        print(
            f"  {group['count']:>3} x {group['service']}: {group['span_name']} "
            f"[{group['error_type'] or 'error'}] {group['message'] or ''}".rstrip(),
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


# --- running it -------------------------------------------------------------------------------


class _Stop:
    """SIGINT/SIGTERM: interrupt the startup (KeyboardInterrupt), or end the serving."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.serving = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()
        if not self.serving:
            raise KeyboardInterrupt


@dataclass
class _Background:
    """A callable run in a thread; ``join`` re-raises what it raised."""

    target: Callable[[], object]
    error: BaseException | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> _Background:
        def run() -> None:
            try:
                self.target()
            except BaseException as error:  # re-raised in join()
                self.error = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def finish(self) -> None:
        """Wait for the thread (before what it started is stopped); raise nothing."""
        if self.thread is not None:
            self.thread.join()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error


def _register_lifecycle(api: _Api, ids: dict[str, str]) -> int:
    """Register what the scenario's gateway does not record itself: the ``revoked`` token's
    revocation. (The gateway records erin's rotation, rotated-old -> rotated-new, when it
    starts; the expired JWT's requests carry its ``exp``.)"""
    revoked_at = int(time.time()) - REVOKED_MINUTES_AGO * 60
    api.post(
        "/api/lifecycle",
        {
            "event": "revoked",
            "token_id": ids["revoked"],
            "at": revoked_at,
            "actor": "carol@example.test",
        },
    )
    return 1


def _start_jaeger(logs: Path, stack: ExitStack) -> Jaeger:
    """Jaeger for --with-collector (before the backend, which links its traces to it)."""
    binaries = find_binaries()
    assert binaries is not None  # checked before anything started
    jaeger = start_jaeger(binaries, logs)
    # Its graceful shutdown can take seconds; its storage is in memory, nothing to lose.
    stack.callback(jaeger.process.stop, timeout=2)
    return jaeger


def _services_in_background(
    backend: Backend, jaeger: Jaeger | None, logs: Path, stack: ExitStack
) -> tuple[Services, _Background, list[str]]:
    """The services, exporting to the backend, or (with Jaeger) through the collector to
    the backend and Jaeger, started in a thread; returns them, the thread and the extra
    URLs to print."""
    if jaeger is None:
        services = Services(otlp_endpoint=backend.otlp_url, log_dir=logs)
        stack.callback(services.stop)
        return services, _started(services, stack), []
    binaries = find_binaries()
    assert binaries is not None
    collector = start_collector(binaries, logs, pipeline_collector_env(jaeger, backend))
    stack.callback(collector.process.stop)
    services = Services(otlp_endpoint=collector.otlp_url, log_dir=logs)
    stack.callback(services.stop)
    urls = [
        f"Jaeger UI:         {jaeger.query_url}/",
        f"Collector OTLP:    {collector.otlp_url}/v1/traces",
    ]
    return services, _started(services, stack), urls


def _started(services: Services, stack: ExitStack) -> _Background:
    """Start ``services`` in a thread that is waited for before they are stopped."""
    background = _Background(services.start).start()
    stack.callback(background.finish)
    return background


def _data_dir(arguments: argparse.Namespace, stack: ExitStack) -> tuple[Path, str]:
    """The data directory, and what becomes of it at exit."""
    if arguments.dir is not None:
        directory: Path = arguments.dir.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        return directory, "kept"
    directory = Path(tempfile.mkdtemp(prefix="tokentrace-demo-"))
    if arguments.keep:
        return directory, "kept (--keep)"
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    return directory, "removed at exit; --keep or --dir DIR keeps it"


def run_demo(arguments: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    out = sys.stdout
    if arguments.days < MIN_DAYS or arguments.tokens < MIN_TOKENS:
        print(
            f"tokentrace demo: the history needs --days {MIN_DAYS} or more (15 for odd_hours) "
            f"and --tokens {MIN_TOKENS} or more",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if arguments.with_collector and find_binaries() is None:
        print(
            "tokentrace demo: --with-collector needs the collector and Jaeger binaries "
            "(run collector/build.sh in a checkout of tokentrace; it needs Go)",
            file=sys.stderr,
        )
        return EXIT_NO_COLLECTOR
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            return _run(arguments, stack, stop, out)
    except KeyboardInterrupt:
        print("\ntokentrace demo: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as error:
        print(f"tokentrace demo: {error}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class _Running:
    """What the demo started, and what it knows of it."""

    work: Path
    db_path: Path
    backend: Backend
    api: _Api
    services: Services
    history: scenario_history.History
    ids: dict[str, str]
    urls: list[str]
    report: TrafficReport = field(default_factory=TrafficReport)


def _run(arguments: argparse.Namespace, stack: ExitStack, stop: _Stop, out: TextIO) -> int:
    started = time.perf_counter()
    progress = Progress(out)
    running = _start(arguments, stack, progress)
    _drive_scenario(arguments, running, progress)
    findings = _wait_for_findings(arguments, running, progress)

    names = {token_id: name for name, token_id in running.ids.items()}
    print_findings(findings, running.history, names, out)
    print_lifecycle(running.api, running.ids, out)
    print_tokens(running.api, running.ids, out)
    print_errors_and_dependencies(running.api, running.ids, out)
    if running.report.unexpected:
        print("\nUnexpected answers: " + "; ".join(running.report.unexpected), file=out)
    _print_urls(running, out)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in progress.timings)
    print(f"Ready in {time.perf_counter() - started:.1f} s: {timings}", file=out, flush=True)

    code = 1 if running.report.unexpected else 0
    if arguments.once:
        return code
    stop.serving = True
    if not stop.event.is_set():
        _serve(arguments, running.services, stop, out)
    return code


def _start(arguments: argparse.Namespace, stack: ExitStack, progress: Progress) -> _Running:
    """Start the backend and load the history while the services start."""
    work, fate = _data_dir(arguments, stack)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    progress.note(f"Data directory: {work} ({fate})")
    db_path = arguments.db.resolve() if arguments.db else work / "tokentrace.duckdb"

    # Generated first: its export requests are serialized while the processes start.
    history = _generate_history(arguments, progress)
    loader = scenario_history.Loader(history).start()
    stack.callback(loader.close)

    jaeger: Jaeger | None = None
    if arguments.with_collector:
        with progress.step("jaeger", "Starting Jaeger ...") as update:
            jaeger = _start_jaeger(logs, stack)
            update(f"Started Jaeger: UI {jaeger.query_url}/")
    backend = Backend(
        db_path=db_path,
        log_dir=logs,
        api_port=arguments.port or free_port(),
        otlp_port=arguments.otlp_port or free_port(),
        env={"TOKENTRACE_JAEGER_URL": jaeger.query_url} if jaeger else {},
    )
    stack.callback(backend.stop)
    with progress.step("backend", "Starting the backend (tokentrace serve) ...") as update:
        backend.start()
        update(f"Started the backend (tokentrace serve): API {backend.api_url}")
    api = _Api(backend.api_url)
    stack.callback(api.close)

    services, services_started, urls = _services_in_background(backend, jaeger, logs, stack)
    _send_history(loader, arguments, backend, progress)

    where = "through the collector" if jaeger else "straight to the backend"
    with progress.step(
        "services", f"Starting the scenario services (gateway, orders), exporting {where} ..."
    ) as update:
        services_started.join()
        update(f"Started the scenario services (gateway, orders), exporting {where}")
    fingerprint = scenario_fingerprinter().fingerprint
    ids = {token.name: fingerprint(token.raw) for token in scenario_tokens()}
    return _Running(work, db_path, backend, api, services, history, ids, urls)


def _generate_history(
    arguments: argparse.Namespace, progress: Progress
) -> scenario_history.History:
    with progress.step("generate", "Generating the history ...") as update:
        history = scenario_history.generate(
            now_ns=time.time_ns(),
            tokens=arguments.tokens,
            days=arguments.days,
            rate_scale=HISTORY_RATE_SCALE,
        )
        update(
            f"Generated {arguments.days:g} days of history: {history.tokens} tokens, "
            f"{len(history.traffic.requests):,} requests, {len(history.incidents)} incidents "
            f"(one of each anomaly kind in the last {scenario_history.INCIDENT_HOURS} hours)"
        )
    for kind, why in history.skipped.items():
        progress.note(f"note: no {kind.value} incident in the history: {why}")
    return history


def _send_history(
    loader: scenario_history.Loader,
    arguments: argparse.Namespace,
    backend: Backend,
    progress: Progress,
) -> None:
    total = loader.history.spans
    label = f"Loading {arguments.days:g} days of history: {total:,} spans"
    with progress.step("load", f"{label} ... 0%") as update:
        loader.send(
            f"{backend.otlp_url}/v1/traces",
            progress=lambda sent: update(f"{label} ... {100 * sent // max(total, 1)}%"),
        )
        update(f"{label} ... 100%")


def _drive_scenario(arguments: argparse.Namespace, running: _Running, progress: Progress) -> None:
    """Register the lifecycle events, then drive the scenario tokens."""
    with progress.step("lifecycle", "Registering lifecycle events ...") as update:
        registered = _register_lifecycle(running.api, running.ids)
        update(
            f"Registered {registered} lifecycle event (POST /api/lifecycle): the revoked token, "
            f"revoked {REVOKED_MINUTES_AGO} minutes ago"
        )
    clients = len(scenario_tokens())
    per_round = sum(len(token.requests) for token in scenario_tokens())
    with progress.step(
        "traffic", f"Driving the scenario: {arguments.rounds} rounds of {clients} clients ..."
    ) as update:
        for number in range(arguments.rounds):
            _merge(running.report, drive(running.services.gateway_url, rounds=1))
            update(
                f"Driving the scenario: {arguments.rounds} rounds of {clients} clients, "
                f"{(number + 1) * per_round} requests"
            )


def _wait_for_findings(
    arguments: argparse.Namespace, running: _Running, progress: Progress
) -> list[dict[str, Any]]:
    """Poll the findings until every injected incident has one and the scenario traffic
    arrived (at most FINDINGS_TIMEOUT_S); warn about what is missing."""
    injected = running.history.incidents
    findings: list[dict[str, Any]] = []
    missing = list(injected)
    arrived = False
    with progress.step("detection", "Waiting for the findings ...") as update:
        deadline = time.monotonic() + FINDINGS_TIMEOUT_S
        while True:
            arrived = arrived or _scenario_arrived(running.api, running.ids, arguments.rounds)
            findings = running.api.findings()
            missing = scenario_history.missing(injected, findings)
            update(
                f"Waiting for the findings: {len(injected) - len(missing)} of "
                f"{len(injected)} injected incidents found"
            )
            if (not missing and arrived) or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    if missing:
        kinds = ", ".join(incident.kind.value for incident in missing)
        progress.note(f"warning: no finding within {FINDINGS_TIMEOUT_S:.0f} s for: {kinds}")
    if not arrived:
        progress.note("warning: not every span of the scenario traffic arrived in time")
    return findings


def _print_urls(running: _Running, out: TextIO) -> None:
    api_url = running.backend.api_url
    print(f"\nDashboard:         {api_url}/", file=out)
    print(
        f"API:               {api_url}/api/anomalies  "
        "(interactive docs: /docs, OpenAPI: /openapi.json)",
        file=out,
    )
    print(f"OTLP/HTTP ingest:  {running.backend.otlp_url}/v1/traces", file=out)
    for line in running.urls:
        print(line, file=out)
    print(
        f"Data directory:    {running.work}  (database {running.db_path}, logs in logs/)",
        file=out,
    )


def _merge(total: TrafficReport, part: TrafficReport) -> None:
    for name, counter in part.statuses.items():
        total.statuses.setdefault(name, counter.__class__()).update(counter)
    total.unexpected += part.unexpected


def _serve(arguments: argparse.Namespace, services: Services, stop: _Stop, out: TextIO) -> None:
    """Keep serving with a trickle of live traffic until a signal or ``--duration``."""
    interval = max(arguments.live_interval, 0.0)
    until = f"for {arguments.duration:g} s" if arguments.duration else "press Ctrl-C to stop"
    live = (
        f"a round of live scenario traffic every {interval:g} s" if interval else "no live traffic"
    )
    print(f"Serving ({live}); {until}.", file=out, flush=True)
    deadline = None if arguments.duration is None else time.monotonic() + arguments.duration
    rounds = requests = 0
    warned = False
    started = time.monotonic()
    while not stop.event.is_set():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        if interval:
            try:
                requests += drive(services.gateway_url, rounds=1).requests
                rounds += 1
            except httpx.HTTPError as error:
                if not warned:
                    print(f"warning: live traffic failed: {error}", file=out, flush=True)
                    warned = True
        wait = interval or 3600.0
        if deadline is not None:
            wait = min(wait, max(deadline - time.monotonic(), 0.0))
        stop.event.wait(wait)
    print(
        f"Stopping after {time.monotonic() - started:.1f} s of serving: {rounds} live round(s), "
        f"{requests} request(s).",
        file=out,
        flush=True,
    )
