"""Virtual time jumps between events; wall time runs at a chosen speed."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from qsession.adapters.local import DurationModel, Scheduler, VirtualClock, WallClock
from qsession.core import policies


def test_virtual_advance_fires_each_due_timer_at_its_own_time() -> None:
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)
    session.submit().wait()
    scheduler.clock.advance(70)
    assert scheduler.now() == 75.0
    assert session.timeline().states[-1].at == 65.0


def test_virtual_clock_does_not_move_by_itself() -> None:
    clock = VirtualClock(start=10.0)
    Scheduler(clock)
    time.sleep(0.01)
    assert clock.now() == 10.0


def test_clocks_refuse_negative_advances() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        VirtualClock().advance(-1)
    with pytest.raises(ValueError, match="non-negative"):
        WallClock().advance(-1)


def test_wall_clock_speed_factor_scales_real_time() -> None:
    clock = WallClock(speed=1000.0)
    begun = time.perf_counter()
    clock.advance(20.0)
    assert 0.015 <= time.perf_counter() - begun < 0.5
    assert clock.now() >= 20.0


def test_wall_clock_job_waits_real_time_for_its_duration() -> None:
    scheduler = Scheduler(WallClock(speed=500.0))
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=10.0, per_shot=0.0))
    begun = time.perf_counter()
    job = backend.submit().wait()
    assert 0.015 <= time.perf_counter() - begun < 0.5
    assert job.ended_at == pytest.approx(job.started_at + 10.0)


def test_wall_clock_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        WallClock(speed=0)


def test_threads_waiting_on_the_wall_clock_each_get_their_job() -> None:
    scheduler = Scheduler(WallClock(speed=1000.0))
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)

    def workload() -> list[str]:
        return [session.submit().wait().state for _ in range(3)]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: workload(), range(2)))
    assert results == [["completed"] * 3] * 2
    starts = sorted(job.started_at for job in session.jobs)
    assert all(b - a >= 5.0 - 1e-9 for a, b in itertools.pairwise(starts))
