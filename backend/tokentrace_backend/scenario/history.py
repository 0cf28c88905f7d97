"""A history for ``tokentrace demo``: two weeks of ordinary traffic of a few dozen generated
tokens, ending now, with one incident of every anomaly kind in its last hours, as OTLP
export requests (built by :mod:`tokentrace_backend.scenario.incidents`).

The kinds are read from :class:`AnomalyKind`, so a kind added there is injected too once
``incidents.inject`` knows it (until then it is skipped, and :attr:`History.skipped` says
why). Each incident goes on a token of its own, in a clock hour in which that token is
ordinarily active, so that its detector finds it and no other detector does; ``odd_hours``
goes on a token that is silent in that hour of every week (``inject`` puts it on a Sunday
at 03:00; the history moves it to such an hour of the last few hours).

:class:`Loader` (or :func:`load`) posts the export requests to a backend's
``/v1/traces``, serializing the next ones while the backend stores the last (it answers
after its commit).
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import httpx

from tokentrace_backend.detect.kinds import AnomalyKind
from tokentrace_backend.detect.thresholds import DetectionThresholds
from tokentrace_backend.scenario.incidents import (
    ALWAYS,
    DAY_NS,
    HOUR_NS,
    OFFICE,
    Habit,
    Incident,
    Traffic,
    export_requests,
    habits,
    inject,
    ordinary,
)

DEFAULT_TOKENS: Final = 36
# Long enough for odd_hours (a token is judged after 14 days of history) in the last hours.
DEFAULT_DAYS: Final = 15.0
# The incidents' hours: within the last INCIDENT_HOURS hours, the last ending before now.
INCIDENT_HOURS: Final = 6
# Requests per OTLP export request (each with its downstream spans).
PER_EXPORT: Final = 2_000
MINUTE_NS: Final = 60_000_000_000


@dataclass
class History:
    """The generated traffic, the incidents injected into it and the kinds left out."""

    traffic: Traffic
    start_ns: int
    end_ns: int
    tokens: int
    skipped: dict[AnomalyKind, str] = field(default_factory=dict)

    @property
    def incidents(self) -> list[Incident]:
        """One per injected kind, in the order of :class:`AnomalyKind`."""
        return self.traffic.incidents

    @property
    def spans(self) -> int:
        """How many spans the export requests hold in all."""
        downstream = sum(1 for request in self.traffic.requests if request.failed_downstream)
        return len(self.traffic.requests) + downstream + len(self.traffic.lifecycle)


def generate(
    *,
    now_ns: int,
    tokens: int = DEFAULT_TOKENS,
    days: float = DEFAULT_DAYS,
    seed: int = 7,
    rate_scale: float = 1.0,
) -> History:
    """``tokens`` tokens' ordinary traffic over the ``days`` before ``now_ns`` (their
    rates scaled by ``rate_scale``) and one incident of every anomaly kind in the last
    :data:`INCIDENT_HOURS` hours."""
    rng = random.Random(seed)  # noqa: S311 (generated traffic, not secrets)
    start_ns = now_ns - int(days * DAY_NS)
    made = [
        replace(habit, requests_per_hour=habit.requests_per_hour * rate_scale)
        for habit in habits(tokens, rng)
    ]
    traffic = Traffic()
    for habit in made:
        requests = list(ordinary(habit, start_ns, now_ns, rng))
        if requests:
            # Its first use opens the history: every token has all of it as its baseline.
            first = start_ns + rng.randrange(MINUTE_NS)
            traffic.requests.append(replace(requests[0], start_ns=first, failed_downstream=False))
        traffic.requests.extend(requests)
    history = History(traffic, start_ns, now_ns, len(made))

    kinds = list(AnomalyKind)
    # Incident i starts in clock hour hours[i]: the hours before the current one, the
    # latest last, cycled when there are more kinds than hours; spread within the hour.
    current_hour = now_ns - now_ns % HOUR_NS
    hours = [current_hour - (INCIDENT_HOURS - i) * HOUR_NS for i in range(INCIDENT_HOURS)]
    free = list(made)
    rng.shuffle(free)
    for index, kind in enumerate(kinds):
        hour = hours[index % len(hours)]
        at = hour + (index // len(hours)) * 20 * MINUTE_NS + rng.randrange(5 * MINUTE_NS)
        if kind is AnomalyKind.ODD_HOURS:
            _inject_odd_hours(history, free, hours, rng)
            continue
        active = _active_habit(free, hour, start_ns)
        if active is None:
            history.skipped[kind] = "no token of the history is active in the last hours"
            continue
        before = len(traffic.incidents)
        # inject() makes no requests for a kind it does not know yet: min() of nothing.
        with contextlib.suppress(ValueError):
            inject(kind, active, at, rng, traffic)
        if len(traffic.incidents) == before:
            history.skipped[kind] = "incidents.inject() does not generate this kind yet"
            continue
        free.remove(active)
    return history


def _active_habit(free: list[Habit], hour_ns: int, start_ns: int) -> Habit | None:
    """A free token busy in the hour (and the next): round-the-clock ones first."""
    ranked = sorted(free, key=lambda habit: habit.rhythm != ALWAYS)
    for habit in ranked:
        rates = [habit.rate(hour_ns + step * HOUR_NS, start_ns) for step in (0, 1)]
        if min(rates) >= 0.3 * habit.requests_per_hour:
            return habit
    return None


def _silent(habit: Habit, hour_ns: int, start_ns: int) -> bool:
    """Whether the token is ordinarily silent in that hour of the week and either side
    of it (its rhythm repeats every week)."""
    return all(habit.rate(hour_ns + step * HOUR_NS, start_ns) == 0 for step in (-1, 0, 1))


def _inject_odd_hours(
    history: History, free: list[Habit], hours: Sequence[int], rng: random.Random
) -> None:
    """``inject``'s odd_hours traffic, moved from its Sunday 03:00 to the start of the
    latest of ``hours`` in which a free token is silent every week."""
    needed = int(DetectionThresholds().odd_hours_min_history_days * DAY_NS)
    for hour in reversed(hours):
        if hour - history.start_ns < needed + HOUR_NS:
            history.skipped[AnomalyKind.ODD_HOURS] = (
                f"a token is judged after {needed // DAY_NS} days of history: raise the days"
            )
            return
        for habit in sorted(free, key=lambda habit: habit.rhythm != OFFICE):
            if not _silent(habit, hour, history.start_ns):
                continue
            scratch = Traffic()
            inject(AnomalyKind.ODD_HOURS, habit, hour, rng, scratch)
            (incident,) = scratch.incidents
            shift = hour + rng.randrange(2 * MINUTE_NS) - incident.start_ns
            history.traffic.requests.extend(
                replace(request, start_ns=request.start_ns + shift) for request in scratch.requests
            )
            history.traffic.incidents.append(
                replace(
                    incident, start_ns=incident.start_ns + shift, end_ns=incident.end_ns + shift
                )
            )
            free.remove(habit)
            return
    history.skipped[AnomalyKind.ODD_HOURS] = "no token of the history is silent in the last hours"


def export_batches(history: History, per_export: int = PER_EXPORT) -> Iterator[tuple[bytes, int]]:
    """The history as serialized OTLP export requests, oldest first, each with the number
    of spans it holds."""
    requests = sorted(history.traffic.requests, key=lambda request: request.start_ns)
    counts = [
        len(chunk) + sum(1 for request in chunk if request.failed_downstream)
        for chunk in (requests[i : i + per_export] for i in range(0, len(requests), per_export))
    ]
    lifecycle = len(history.traffic.lifecycle)
    for index, body in enumerate(export_requests(history.traffic, per_request=per_export)):
        # Lifecycle spans ride with the requests of their time; counted with the last one.
        spans = counts[index] if index < len(counts) else 0
        if index == len(counts) - 1 or index >= len(counts):
            spans += lifecycle
            lifecycle = 0
        yield body, spans


class Loader:
    """Sends a history to a backend: :meth:`start` begins serializing its export requests
    in a thread (before the backend is up, if need be), :meth:`send` posts them as they
    come, each after the backend acknowledged the last (it answers after its commit)."""

    def __init__(self, history: History, per_export: int = PER_EXPORT) -> None:
        self.history = history
        self.per_export = per_export
        self._bodies: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Loader:
        """Start serializing (at most once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="history", daemon=True)
            self._thread.start()
        return self

    def _produce(self) -> None:
        try:
            for item in export_batches(self.history, self.per_export):
                if self._stop.is_set():
                    return
                self._bodies.put(item)
            self._bodies.put(None)
        except BaseException as error:  # handed to send(), raised there
            self._bodies.put(error)

    def send(
        self,
        traces_url: str,
        *,
        progress: Callable[[int], None] | None = None,
        timeout: float = 120.0,
    ) -> int:
        """POST every export request to ``traces_url`` (OTLP/HTTP protobuf); calls
        ``progress`` with the spans sent so far after each acknowledgement. Returns how
        many spans were sent."""
        self.start()
        sent = 0
        try:
            with httpx.Client(timeout=timeout) as client:
                while (item := self._bodies.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    body, spans = item
                    answer = client.post(
                        traces_url,
                        content=body,
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    answer.raise_for_status()
                    sent += spans
                    if progress is not None:
                        progress(sent)
        finally:
            self.close()
        return sent

    def close(self) -> None:
        """Stop serializing (what was not sent is dropped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def load(
    traces_url: str,
    history: History,
    *,
    progress: Callable[[int], None] | None = None,
    timeout: float = 120.0,
) -> int:
    """POST the history to ``traces_url``, the next export requests serialized while the
    backend stores the last; see :meth:`Loader.send`."""
    return Loader(history).send(traces_url, progress=progress, timeout=timeout)


def incident_subject(incident: Incident) -> str:
    """What a finding of the incident names: its token id, or its client address."""
    return incident.token_id or incident.client_address or ""


def finding_subject(finding: Mapping[str, Any]) -> str:
    """What a finding names: its token id, or its client address (per-address kinds)."""
    return str(finding.get("token_id") or finding.get("client_address") or "")


def found(incident: Incident, findings: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The finding of the incident's kind on its token (or address), if any."""
    for finding in findings:
        if finding.get("kind") == incident.kind.value and finding_subject(finding) == (
            incident_subject(incident)
        ):
            return finding
    return None


def missing(incidents: Sequence[Incident], findings: Sequence[Mapping[str, Any]]) -> list[Incident]:
    """The incidents no finding has found yet."""
    return [incident for incident in incidents if found(incident, findings) is None]
