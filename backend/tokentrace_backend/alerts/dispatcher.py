"""The alert dispatcher: reads new findings and evaluates the lifecycle states of tokens,
records one delivery per matching rule, and posts them to the rules' webhooks, in a thread
of its own with its own event loop.

- **Reading findings.** Every ``poll_seconds`` (or at once while a full page came back) it
  reads the findings with an id above its mark (``alert_state``) and those it has seen
  whose detectors changed them since, matches each against every rule, and records the
  pending deliveries together with the new marks in one short transaction
  (``delivery_log.record_handled``). A (rule, finding) is recorded once, however often
  the finding is updated: an update only reaches a rule the finding did not match before
  (its severity rose past the rule's ``min_severity``). A restart resumes from the marks.
- **Evaluating lifecycle states.** Every ``lifecycle_poll_seconds`` it evaluates the
  states of every token at its clock's now (``lifecycle.state_changes``: one read
  transaction), and records the (token, state) pairs that turned on, those that turned
  off, and one delivery per rule matching a pair that turned on, in one write transaction
  (``delivery_log.record_lifecycle_changes``). A pair on is not alerted again until it has
  turned off. The first evaluation of a database only records the pairs on.
- **Sending.** Each rule has its own sender task, which takes its pending deliveries from
  the log in the order they were recorded, at most ``page`` at a time (the only queue in
  memory, so it is bounded), and posts them one after another with retries and
  exponential back-off (``webhook.DeliveryPolicy``). A webhook that fails or hangs holds
  up only its own rule: every attempt ends by its deadline, and the other rules' tasks go
  on.
- **The database.** Every read and write runs on one executor thread of the dispatcher,
  through ``Database.reader()`` cursors, in transactions that never wait for the network:
  ingest and detection are never slowed by a webhook, nor by an evaluation (it reads the
  derived tables in a snapshot, and writes only alerting's tables).

Delivery is at least once per (rule, alert): a process that dies between the webhook's
answer and recording it sends that alert again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

import duckdb
import httpx

from tokentrace_backend.queries.lifecycle import LifecycleThresholds
from tokentrace_backend.storage.database import ReadableDatabase

from .delivery_log import (
    DELIVERED,
    FAILED,
    FINDING,
    PENDING,
    Marks,
    PendingDelivery,
    pending_deliveries,
    read_marks,
    record_attempt,
    record_handled,
    record_lifecycle_changes,
)
from .findings import Finding, new_findings, updated_findings
from .lifecycle import state_changes
from .message import alert_body, lifecycle_alert_body
from .rules import AlertRule
from .webhook import AttemptResult, DeliveryPolicy, post_once

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_P = ParamSpec("_P")

DEFAULT_PAGE = 100
DEFAULT_LIFECYCLE_POLL_SECONDS = 60.0


class AlertDispatcher:
    """Delivers the findings and the tokens entering lifecycle states that match
    ``rules``; :meth:`start`, then :meth:`stop`.

    With no rules it still reads the findings and moves its mark, and evaluates the
    lifecycle states, so that rules added later alert on what happens from then on rather
    than on the whole backlog. ``clock_ns`` is its now (unix ns): when the states are
    evaluated, and the times of the delivery log; ``thresholds`` those of the states
    (``settings.LifecycleSettings``, as the API's).
    """

    def __init__(
        self,
        database: ReadableDatabase,
        rules: Sequence[AlertRule],
        *,
        thresholds: LifecycleThresholds,
        policy: DeliveryPolicy | None = None,
        poll_seconds: float = 1.0,
        lifecycle_poll_seconds: float = DEFAULT_LIFECYCLE_POLL_SECONDS,
        page: int = DEFAULT_PAGE,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._database = database
        self._rules = tuple(rules)
        self._policy = policy or DeliveryPolicy()
        self._poll_seconds = poll_seconds
        self._lifecycle_poll_seconds = lifecycle_poll_seconds
        self._thresholds = thresholds
        self._page = page
        self._clock_ns = clock_ns
        self._thread = threading.Thread(target=self._run, name="tokentrace-alerts", daemon=True)
        self._storage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokentrace-alerts-db")
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    def start(self) -> None:
        """Start the dispatcher's thread (returns once its event loop runs)."""
        self._thread.start()
        self._ready.wait(10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and sending (an attempt in flight is abandoned: its delivery stays
        pending and is resumed at the next start), then wait for the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._storage.shutdown(wait=True)

    # --- the dispatcher's thread ---------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        wakeups = {rule.name: asyncio.Event() for rule in self._rules}
        async with httpx.AsyncClient(follow_redirects=False) as client:
            tasks = [
                asyncio.create_task(self._read_findings(wakeups), name="alerts-reader"),
                asyncio.create_task(self._evaluate_lifecycle(wakeups), name="alerts-lifecycle"),
            ]
            tasks += [
                asyncio.create_task(self._send(rule, client, wakeups[rule.name]), name=rule.name)
                for rule in self._rules
            ]
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _storage_call(
        self,
        function: Callable[Concatenate[duckdb.DuckDBPyConnection, _P], _T],
        *arguments: _P.args,
        **keywords: _P.kwargs,
    ) -> _T:
        """Run ``function(cursor, ...)`` on the dispatcher's database thread."""

        def call() -> _T:
            with self._database.reader() as cursor:
                return function(cursor, *arguments, **keywords)

        return await asyncio.get_running_loop().run_in_executor(self._storage, call)

    async def _read_findings(self, wakeups: dict[str, asyncio.Event]) -> None:
        while True:
            full_page = False
            try:
                handled, woken = await self._storage_call(self._handle_new_findings)
            except Exception:
                logger.exception("reading new findings for alerting failed")
            else:
                full_page = handled >= self._page
                for rule_name in woken:
                    wakeups[rule_name].set()
            if not full_page:
                await asyncio.sleep(self._poll_seconds)

    def _handle_new_findings(self, cursor: duckdb.DuckDBPyConnection) -> tuple[int, set[str]]:
        """(new findings handled, rules that got deliveries) for one page of new findings
        and the recent updates of those handled before."""
        marks = read_marks(cursor)
        new = new_findings(cursor, marks.finding_id, self._page)
        updated = (
            updated_findings(cursor, marks.finding_id, marks.updated_ns) if self._rules else []
        )
        if not new and not updated:
            return 0, set()
        deliveries = [
            (rule.name, finding.id)
            for finding in (*updated, *new)
            for rule in self._rules
            if rule.matches(finding)
        ]
        newest_update = max(finding.updated_at_ns for finding in (*updated, *new))
        moved = Marks(
            finding_id=new[-1].id if new else marks.finding_id,
            updated_ns=max(marks.updated_ns, newest_update),
        )
        if not deliveries and moved == marks:
            return len(new), set()
        added = record_handled(cursor, deliveries, moved, self._clock_ns())
        return len(new), added

    async def _evaluate_lifecycle(self, wakeups: dict[str, asyncio.Event]) -> None:
        while True:
            try:
                woken = await self._storage_call(self._handle_lifecycle_states)
            except Exception:
                logger.exception("evaluating the lifecycle states for alerting failed")
            else:
                for rule_name in woken:
                    wakeups[rule_name].set()
            await asyncio.sleep(self._lifecycle_poll_seconds)

    def _handle_lifecycle_states(self, cursor: duckdb.DuckDBPyConnection) -> set[str]:
        """The rules that got deliveries, from one evaluation of the lifecycle states."""
        started = time.perf_counter()
        changes = state_changes(cursor, now_ns=self._clock_ns(), thresholds=self._thresholds)
        deliveries = (
            []
            if changes.first
            else [
                (rule.name, index)
                for index, entered in enumerate(changes.entered)
                for rule in self._rules
                if rule.matches_lifecycle(entered.state, entered.token_id, entered.owner)
            ]
        )
        added = record_lifecycle_changes(cursor, changes, deliveries, self._clock_ns())
        logger.debug(
            "lifecycle states evaluated in %.1f ms: %d pairs on, %d entered, %d left",
            (time.perf_counter() - started) * 1000,
            changes.on,
            len(changes.entered),
            len(changes.left),
        )
        return added

    async def _send(
        self, rule: AlertRule, client: httpx.AsyncClient, wakeup: asyncio.Event
    ) -> None:
        while True:
            wakeup.clear()  # before reading: a delivery recorded after the read wakes us
            try:
                pending = await self._storage_call(pending_deliveries, rule.name, self._page)
            except Exception:
                logger.exception("reading the pending alerts of rule %r failed", rule.name)
                pending = []
            if not pending:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_seconds):
                        await wakeup.wait()
                continue
            for delivery in pending:
                try:
                    await self._deliver(rule, client, delivery)
                except Exception:  # keep the rule's task alive; the row stays pending
                    logger.exception("delivering alert of rule %r failed", rule.name)
                    await asyncio.sleep(self._poll_seconds)

    async def _deliver(
        self, rule: AlertRule, client: httpx.AsyncClient, delivery: PendingDelivery
    ) -> None:
        """Attempt ``delivery`` until it is delivered, refused or out of attempts, recording
        each attempt."""
        if delivery.alert is None:
            gone = "the finding was deleted" if delivery.source == FINDING else "no such alert"
            await self._record(delivery, FAILED, delivery.attempts, None, gone)
            return
        if isinstance(delivery.alert, Finding):
            body = alert_body(rule.name, delivery.alert)
        else:
            body = lifecycle_alert_body(rule.name, delivery.alert)
        attempts = delivery.attempts
        result = AttemptResult(False, True, error="no attempt left")
        while attempts < self._policy.attempts:
            if attempts:
                await asyncio.sleep(self._policy.backoff(attempts))
            attempts += 1
            result = await post_once(client, rule, body, self._policy.timeout_seconds)
            if result.delivered:
                await self._record(delivery, DELIVERED, attempts, result.http_status, None)
                return
            if not result.retryable:
                break
            if attempts < self._policy.attempts:
                await self._record(delivery, PENDING, attempts, result.http_status, result.error)
        logger.warning(
            "alert of %s %d to rule %r failed after %d attempt(s): %s",
            delivery.source,
            delivery.source_id,
            rule.name,
            attempts,
            result.error,
        )
        await self._record(delivery, FAILED, attempts, result.http_status, result.error)

    async def _record(
        self,
        delivery: PendingDelivery,
        status: str,
        attempts: int,
        http_status: int | None,
        error: str | None,
    ) -> None:
        await self._storage_call(
            record_attempt,
            delivery,
            status=status,
            attempts=attempts,
            http_status=http_status,
            error=error,
            now_ns=self._clock_ns(),
        )
