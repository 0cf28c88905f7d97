"""When the background refresh of the derived tables runs, against the writer's activity."""

from __future__ import annotations

import pytest

from tokentrace_backend.derived import RefreshSchedule


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
