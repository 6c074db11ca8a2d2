"""The local scheduler carries out the core's rules on fake QPUs (null jobs, virtual time)."""

from __future__ import annotations

import time

import pytest
from qsession.adapters.local import BackgroundLoad, DurationModel, Scheduler, VirtualClock
from qsession.core import Session as CoreSession
from qsession.core import SessionClosedError, SessionError, policies

FIVE_SECONDS = DurationModel(overhead=5.0, per_shot=0.0)


def make(name: str = "qpu", duration: DurationModel = FIVE_SECONDS) -> Scheduler:
    scheduler = Scheduler(VirtualClock())
    scheduler.add_backend(name, duration=duration)
    return scheduler


def ibm(scheduler: Scheduler, max_time: int | str | None = None, name: str = "qpu"):
    return scheduler.open_session(
        policies.ibm_session(max_time=max_time, backend=name), scheduler.backend(name)
    )


def test_job_runs_for_the_overhead_plus_its_shots_times_the_per_shot_time() -> None:
    scheduler = make(duration=DurationModel(overhead=2.0, per_shot=0.001))
    job = scheduler.backend("qpu").submit(shots=3000).wait()
    assert (job.started_at, job.ended_at) == (0.0, pytest.approx(5.0))


def test_eight_hour_max_ttl_expires_in_virtual_time_within_milliseconds() -> None:
    scheduler = make()
    session = ibm(scheduler)
    session.submit().wait()
    begun = time.perf_counter()
    scheduler.clock.advance(8 * 3600 + 1)
    assert time.perf_counter() - begun < 0.5
    assert session.core.state == "closed"
    assert session.timeline().states[-1].cause == "max_ttl_reached"


def test_active_ibm_session_holds_the_qpu_until_its_interactive_ttl_lapses() -> None:
    scheduler = make()
    session = ibm(scheduler)
    session.submit().wait()
    other = scheduler.backend("qpu").submit()
    other.wait()
    assert other.started_at == pytest.approx(5.0 + 60.0)
    assert session.core.state == "inactive"


def test_active_ibm_session_job_overtakes_jobs_queued_before_it() -> None:
    scheduler = make()
    session = ibm(scheduler)
    session.submit().wait()
    other = scheduler.backend("qpu").submit()
    scheduler.clock.advance(10)
    mine = session.submit().wait()
    assert mine.started_at == pytest.approx(15.0)
    assert other.state == "queued"


def test_batch_jobs_queue_without_exclusivity() -> None:
    scheduler = make()
    batch = scheduler.open_session(policies.ibm_batch(backend="qpu"), scheduler.backend("qpu"))
    first = batch.submit()
    other = scheduler.backend("qpu").submit()
    second = batch.submit()
    scheduler.run()
    assert [first.started_at, other.started_at, second.started_at] == [0.0, 5.0, 10.0]
    assert not any(
        entry for entry in batch.timeline() if type(entry).__name__ == "ExclusivityEntry"
    )


def test_first_job_waits_behind_other_users_backlog() -> None:
    scheduler = Scheduler(VirtualClock())
    scheduler.add_backend(
        "qpu", duration=FIVE_SECONDS, load=BackgroundLoad(every=1e9, duration=20.0, backlog=2)
    )
    assert ibm(scheduler).submit().wait().started_at == pytest.approx(40.0)


def test_inactive_session_job_goes_through_the_normal_queue() -> None:
    scheduler = make(duration=DurationModel(overhead=5.0, per_shot=0.01))
    session = ibm(scheduler)
    session.submit().wait()
    other = scheduler.backend("qpu").submit(shots=2000)
    scheduler.clock.advance(70)
    assert other.started_at == pytest.approx(5.0 + 60.0)
    second = session.submit().wait()
    assert second.started_at == pytest.approx(other.ended_at) == pytest.approx(65.0 + 25.0)


def test_quantinuum_session_holds_the_hardware_while_jobs_come_within_a_minute() -> None:
    scheduler = make("quantinuum.qpu")
    backend = scheduler.backend("quantinuum.qpu")
    session = scheduler.open_session(policies.azure_session("quantinuum.qpu"), backend)
    session.submit().wait()
    other = backend.submit()
    scheduler.clock.advance(50)
    mine = session.submit().wait()
    assert mine.started_at == pytest.approx(55.0)
    other.wait()
    assert other.started_at == pytest.approx(60.0 + 60.0)


def test_ionq_session_never_holds_the_hardware() -> None:
    scheduler = make("ionq.qpu")
    backend = scheduler.backend("ionq.qpu")
    session = scheduler.open_session(policies.azure_session("ionq.qpu"), backend)
    session.submit().wait()
    other = backend.submit().wait()
    assert other.started_at == pytest.approx(5.0)


def three_jobs(max_time: int | None = None):
    scheduler = make()
    session = ibm(scheduler, max_time=max_time)
    return scheduler, session, [session.submit() for _ in range(3)]


def test_close_lets_queued_and_running_jobs_finish_then_closes() -> None:
    scheduler, session, jobs = three_jobs()
    scheduler.clock.advance(1)
    session.close()
    assert session.core.status == "In progress, not accepting new jobs"
    scheduler.run()
    assert [job.state for job in jobs] == ["completed"] * 3
    assert session.core.state == "closed"
    assert session.core.details()["closed_at"] == pytest.approx(15.0)


def test_cancel_cancels_queued_jobs_and_lets_the_running_one_finish() -> None:
    scheduler, session, jobs = three_jobs()
    scheduler.clock.advance(1)
    session.cancel()
    assert session.core.status == "Closed"
    scheduler.run()
    assert [job.state for job in jobs] == ["completed", "cancelled", "cancelled"]
    assert jobs[0].ended_at == pytest.approx(5.0)


def test_max_ttl_fails_queued_jobs_and_lets_the_running_one_finish() -> None:
    scheduler, _, jobs = three_jobs(max_time=8)
    scheduler.run()
    assert [job.state for job in jobs] == ["completed", "completed", "failed"]
    assert jobs[1].ended_at == pytest.approx(10.0)
    assert (jobs[2].ended_at, jobs[2].reason) == (pytest.approx(8.0), "max TTL reached")


def test_submission_to_a_closed_session_is_refused_before_anything_is_queued() -> None:
    scheduler, session, _ = three_jobs()
    session.cancel()
    with pytest.raises(SessionClosedError):
        session.submit()
    assert len(session.jobs) == 3
    assert scheduler.backend("qpu").queue_length == 0


def test_timer_due_when_the_qpu_frees_fires_before_the_next_job_starts() -> None:
    scheduler = make()
    backend = scheduler.backend("qpu")

    def cancel_the_running_job() -> None:
        assert backend.running is not None
        backend.running.cancel()

    scheduler.call_at(10.0, cancel_the_running_job)
    batch = scheduler.open_session(policies.ibm_batch(max_time=10, backend="qpu"), backend)
    batch.submit()
    other = backend.submit()
    scheduler.clock.advance(1)
    late = batch.submit()
    scheduler.run()
    assert other.state == "cancelled"
    assert (late.state, late.started_at, late.reason) == ("failed", None, "max TTL reached")


def test_azure_abort_cancels_jobs_in_flight_and_ends_the_session_failed() -> None:
    scheduler = make("ionq.qpu")
    backend = scheduler.backend("ionq.qpu")
    session = scheduler.open_session(policies.azure_session("ionq.qpu", "abort"), backend)
    backend.fail_next_job("boom")
    failing, queued = session.submit(), session.submit()
    scheduler.run()
    assert (failing.state, failing.reason) == ("failed", "boom")
    assert queued.state == "cancelled"
    assert session.core.state == "Failed"


def test_azure_continue_keeps_accepting_after_a_failure() -> None:
    scheduler = make("ionq.qpu")
    backend = scheduler.backend("ionq.qpu")
    session = scheduler.open_session(policies.azure_session("ionq.qpu", "continue"), backend)
    backend.fail_next_job()
    session.submit().wait()
    assert session.core.state == "Failure(s)"
    assert session.submit().wait().state == "completed"
    session.close()
    assert session.core.state == "Failed"


def test_azure_idle_session_times_out_after_ten_minutes() -> None:
    scheduler = make("ionq.qpu")
    session = scheduler.open_session(
        policies.azure_session("ionq.qpu"), scheduler.backend("ionq.qpu")
    )
    session.submit().wait()
    scheduler.clock.advance(600 + 5)
    assert session.core.state == "TimedOut"


def test_cancelling_a_running_job_frees_the_qpu_at_once() -> None:
    scheduler = make()
    backend = scheduler.backend("qpu")
    running, waiting = backend.submit(), backend.submit()
    scheduler.clock.advance(2)
    assert running.cancel()
    assert not running.cancel()
    assert waiting.wait().started_at == pytest.approx(2.0)


def test_done_callbacks_run_from_the_loop_at_the_job_end_time() -> None:
    scheduler = make()
    seen: list[float] = []
    job = scheduler.backend("qpu").submit()
    job.add_done_callback(lambda j: seen.append(scheduler.now()))
    scheduler.run()
    assert seen == [5.0]


def test_run_without_a_limit_stops_when_only_other_users_jobs_remain() -> None:
    scheduler = Scheduler(VirtualClock())
    scheduler.add_backend("qpu", duration=FIVE_SECONDS, load=BackgroundLoad(every=30, duration=10))
    ibm(scheduler).submit()
    scheduler.run()
    assert scheduler.now() < 8 * 3600 + 100


def test_trace_replayed_on_a_fresh_core_session_reaches_the_same_state() -> None:
    scheduler, session, _ = three_jobs(max_time=8)
    scheduler.run()
    with pytest.raises(SessionClosedError):
        session.submit()
    trace = session.trace()
    replay = CoreSession.open(trace.policy, session_id=trace.session_id, at=trace.opened_at)
    for event in trace.events:
        try:
            replay.handle(event)
        except SessionError:
            assert event is trace.events[-1]
    assert replay.state == session.core.state
    assert dict(replay.jobs) == dict(session.core.jobs)
    assert any(type(event).__name__ == "Advance" for event in trace.events)


def test_superseded_deadlines_do_not_pile_up_in_the_event_heap() -> None:
    scheduler = make()
    backend = scheduler.backend("qpu")
    for _ in range(1000):
        session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)
        session.submit().wait()
        session.close()
    assert len(scheduler._heap) < 600
    scheduler.run()
    assert scheduler.now() == pytest.approx(5000.0)


def test_a_clock_drives_one_scheduler_only() -> None:
    clock = VirtualClock()
    Scheduler(clock)
    with pytest.raises(ValueError, match="another scheduler"):
        Scheduler(clock)


def test_callbacks_cannot_be_scheduled_in_the_past() -> None:
    scheduler = make()
    scheduler.clock.advance(10)
    with pytest.raises(ValueError, match="before now"):
        scheduler.call_at(5, lambda: None)
