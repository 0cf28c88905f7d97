"""When the background refresh of the derived tables runs, against the writer's activity."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tokentrace_backend.derived import RefreshSchedule
from tokentrace_backend.derived.background import BackgroundRefresh
from tokentrace_backend.storage import Database


def test_without_a_writer_it_runs_every_interval() -> None:
    schedule = RefreshSchedule(interval=1.0)
    assert schedule.due(100.0, None)
    schedule.record(100.0, 103.0)  # a slow refresh does not hold back the next one
    assert not schedule.due(103.5, None)
    assert schedule.due(104.0, None)


def test_an_idle_writer_lets_it_run_every_interval() -> None:
    schedule = RefreshSchedule(interval=1.0, idle_after=0.3, busy_duty=0.2)
    schedule.record(100.0, 102.0)
    assert not schedule.due(102.5, 5.0)
    assert schedule.due(103.0, 0.3)


def test_a_busy_writer_holds_it_to_its_duty_cycle() -> None:
    schedule = RefreshSchedule(interval=1.0, idle_after=0.3, busy_duty=0.2)
    assert schedule.due(100.0, 0.0)  # never refreshed: the first one runs at once
    schedule.record(100.0, 102.0)  # 2 s of refresh -> 8 s of ingest alone (20 %)
    assert not schedule.due(103.0, 0.0)
    assert not schedule.due(109.9, 0.1)
    assert schedule.due(110.0, 0.0)
    assert schedule.due(103.0, 0.5)  # ...unless the writer goes idle first


def test_a_quick_refresh_under_load_still_waits_an_interval() -> None:
    schedule = RefreshSchedule(interval=1.0, busy_duty=0.5)
    schedule.record(100.0, 100.01)
    assert not schedule.due(100.5, 0.0)
    assert schedule.due(101.01, 0.0)


@pytest.mark.parametrize("duty", [0.0, -0.1, 1.5])
def test_the_duty_cycle_must_be_a_fraction(duty: float) -> None:
    with pytest.raises(ValueError, match="busy_duty"):
        RefreshSchedule(busy_duty=duty)


class _CountingDerived:
    """Stands in for ``DerivedTables``: counts the refreshes the thread asked for."""

    def __init__(self) -> None:
        self.catch_ups = 0

    def catch_up(self, cursor: object, *, compact: bool, max_spans: int | None) -> None:
        self.catch_ups += 1


def _run_briefly(leads: Callable[[], bool], database: Database) -> tuple[int, int, int]:
    derived = _CountingDerived()
    calls = {"stage": 0, "observer": 0}
    refresher = BackgroundRefresh(
        database,
        derived,  # type: ignore[arg-type]
        RefreshSchedule(interval=0.01, idle_after=0.0),
        stages=[lambda _: calls.__setitem__("stage", calls["stage"] + 1)],
        observers=[lambda _: calls.__setitem__("observer", calls["observer"] + 1)],
        leads=leads,
    )
    refresher.start()
    deadline = time.monotonic() + 10
    while calls["observer"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    refresher.stop()
    return derived.catch_ups, calls["stage"], calls["observer"]


def test_a_node_that_does_not_lead_derives_nothing_but_still_observes(
    database: Database,
) -> None:
    """Lake mode: only the leader refreshes and runs the stages; the change feed (an
    observer) runs on every node."""
    catch_ups, stages, observers = _run_briefly(lambda: False, database)
    assert (catch_ups, stages) == (0, 0)
    assert observers >= 2


def test_the_leader_derives_and_runs_the_stages(database: Database) -> None:
    catch_ups, stages, observers = _run_briefly(lambda: True, database)
    assert catch_ups >= 1
    assert stages >= 1
    assert observers >= 2


def test_rounds_are_skipped_while_the_data_version_stays(database: Database) -> None:
    """Lake mode: while the lake's snapshot id does not move, the refresh and the stages
    do not run (each query over a lake costs catalog round trips); a new version wakes
    them."""
    derived = _CountingDerived()
    version = [5]
    stages = [0]
    refresher = BackgroundRefresh(
        database,
        derived,  # type: ignore[arg-type]
        RefreshSchedule(interval=0.01, idle_after=0.0),
        stages=[lambda _: stages.__setitem__(0, stages[0] + 1)],
        data_version=lambda _: version[0],
    )
    refresher.start()
    try:
        time.sleep(1.0)  # dozens of due rounds
        assert derived.catch_ups == 1
        assert stages[0] <= 1
        version[0] = 6  # another node committed
        deadline = time.monotonic() + 10
        while derived.catch_ups < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        assert derived.catch_ups == 2
    finally:
        refresher.stop()
