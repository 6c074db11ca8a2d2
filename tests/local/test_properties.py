"""Random workloads on the scheduler never break the spec and never lose a job."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsession.adapters.local import (
    DurationModel,
    ExclusivityEntry,
    LocalJob,
    LocalSession,
    Scheduler,
    VirtualClock,
)
from qsession.adapters.local.scheduler import _live
from qsession.core import Session as CoreSession
from qsession.core import SessionClosedError, SessionError, policies
from qsession.core.policies import IBMPolicy
from qsession.spec import check_trace

BACKENDS = {
    "qpu": DurationModel(overhead=5.0, per_shot=0.01),
    "quantinuum.qpu": DurationModel(overhead=7.0, per_shot=0.0),
}
KINDS = ("ibm_session", "ibm_batch", "azure_abort", "azure_continue")
#: Think times on the timers' boundaries: interactive TTLs, Quantinuum window, idle timeouts.
GAPS = (0.0, 0.5, 1.0, 5.0, 30.0, 59.0, 60.0, 61.0, 300.0, 599.0, 600.0, 601.0, 1800.0)

opens = st.tuples(
    st.sampled_from(KINDS), st.sampled_from(sorted(BACKENDS)), st.sampled_from((None, 20, 300))
)
submits = st.tuples(st.just("submit"), st.integers(0, 3), st.integers(0, 2000))
advances = st.tuples(st.just("advance"), st.sampled_from(GAPS))
#: Sessions opened at the start, then user actions (submissions and think times weigh most).
workloads = st.tuples(
    st.lists(opens, min_size=1, max_size=3),
    st.lists(
        st.one_of(
            submits,
            advances,
            submits,
            advances,
            st.tuples(st.just("open"), opens),
            st.tuples(st.just("job_mode"), st.sampled_from(sorted(BACKENDS)), st.integers(0, 2000)),
            st.tuples(st.just("close"), st.integers(0, 5)),
            st.tuples(st.just("cancel"), st.integers(0, 5)),
            st.tuples(st.just("cancel_job"), st.integers(0, 40)),
            st.tuples(st.just("fail_next"), st.sampled_from(sorted(BACKENDS))),
            st.tuples(st.just("wait"), st.integers(0, 40)),
        ),
        min_size=8,
        max_size=60,
    ),
)


def policy_for(kind: str, backend: str, max_time: int | None) -> Any:
    if kind == "ibm_session":
        return policies.ibm_session(max_time=max_time, backend=backend)
    if kind == "ibm_batch":
        return policies.ibm_batch(max_time=max_time, backend=backend)
    return policies.azure_session(backend, kind.removeprefix("azure_"))


Workload = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def play(workload: Workload) -> tuple[Scheduler, list[LocalSession], list[LocalJob]]:
    """Open the sessions, run the user actions, checking refusals and jobs as it goes."""
    scheduler = Scheduler(VirtualClock())
    for name, duration in BACKENDS.items():
        scheduler.add_backend(name, duration=duration)
    sessions: list[LocalSession] = []
    jobs: list[LocalJob] = []

    def open_session(kind: str, backend: str, max_time: int | None) -> None:
        policy = policy_for(kind, backend, max_time)
        sessions.append(scheduler.open_session(policy, scheduler.backend(backend)))

    specs, script = workload
    for spec in specs:
        open_session(*spec)
    for action, *args in script:
        if action == "open":
            open_session(*args[0])
        elif action == "submit":
            session = sessions[args[0] % len(sessions)]
            scheduler.run(until=scheduler.now())
            accepting = session.core.accepting_jobs
            try:
                jobs.append(session.submit(shots=args[1]))
            except SessionClosedError:
                assert not accepting
            else:
                assert accepting
        elif action == "job_mode":
            jobs.append(scheduler.backend(args[0]).submit(shots=args[1]))
        elif action == "advance":
            scheduler.clock.advance(args[0])
        elif action in ("close", "cancel"):
            session = sessions[args[0] % len(sessions)]
            if action == "close" or isinstance(session.policy, IBMPolicy):
                getattr(session, action)()
        elif action in ("cancel_job", "wait") and jobs:
            job = jobs[args[0] % len(jobs)]
            if action == "wait":
                job.wait()
            else:
                job.cancel()
        elif action == "fail_next":
            scheduler.backend(args[0]).fail_next_job()
        assert_no_job_lost(scheduler, jobs)
        assert_event_heap_consistent(scheduler)
    return scheduler, sessions, jobs


def assert_no_job_lost(scheduler: Scheduler, jobs: list[LocalJob]) -> None:
    """Each job is in exactly one state; the live ones are exactly those queued or running."""
    live = [job for job in jobs if not job.done]
    running = [b.running for b in scheduler.backends if b.running is not None]
    assert len(live) == sum(b.queue_length for b in scheduler.backends) + len(running)
    assert all(job in live for job in running)
    for job in jobs:
        assert (job.ended_at is None) == (job.state in ("queued", "running"))
        assert (job.started_at is None) == (job.state == "queued") or job.done
        if job.session is not None:
            assert job.session.core.job_state(job.job_id) == job.state


def assert_event_heap_consistent(scheduler: Scheduler) -> None:
    """White box: the loop's counts of dead and of foreground heap entries are exact."""
    live = [entry for entry in scheduler._heap if _live(entry)]
    assert scheduler._stale == len(scheduler._heap) - len(live)
    assert scheduler._fg_events == sum(1 for entry in live if entry[4])


def assert_one_job_at_a_time(scheduler: Scheduler, jobs: list[LocalJob]) -> None:
    for backend in scheduler.backends:
        spans = sorted(
            (job.started_at, job.ended_at)
            for job in jobs
            if job.backend is backend and job.started_at is not None
        )
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end is not None and end <= start


def assert_ibm_exclusivity_respected(session: LocalSession, jobs: list[LocalJob]) -> None:
    """While an IBM dedicated session holds its QPU, no one else's job starts on it."""
    if not isinstance(session.policy, IBMPolicy) or session.policy.mode != "dedicated":
        return
    marks = [e for e in session.timeline() if isinstance(e, ExclusivityEntry)]
    for gain, lose in zip(marks[::2], marks[1::2], strict=False):
        for job in jobs:
            if job.backend is session.backend and job.session is not session:
                assert job.started_at is None or not gain.at < job.started_at < lose.at


def assert_trace_replays(session: LocalSession) -> None:
    trace = session.trace()
    replay = CoreSession.open(trace.policy, session_id=trace.session_id, at=trace.opened_at)
    for event in trace.events:
        try:
            replay.handle(event)
        except SessionError:
            assert event.name == "submit"
    assert (replay.state, dict(replay.jobs)) == (session.core.state, dict(session.core.jobs))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads)
def test_random_workloads_never_lose_a_job_and_keep_the_qpu_rules(workload: Workload) -> None:
    scheduler, sessions, jobs = play(workload)
    scheduler.run()
    assert all(job.done for job in jobs)
    assert_no_job_lost(scheduler, jobs)
    assert_event_heap_consistent(scheduler)
    assert_one_job_at_a_time(scheduler, jobs)
    for session in sessions:
        assert_ibm_exclusivity_respected(session, jobs)
        assert_trace_replays(session)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads)
def test_random_workloads_never_violate_the_spec(workload: Workload) -> None:
    scheduler, sessions, _ = play(workload)
    scheduler.run()
    for session in sessions:
        assert check_trace(session.trace()) == [], session.session_id
