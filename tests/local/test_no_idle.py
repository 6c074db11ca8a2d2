"""The no-idle invariant: whenever a QPU is idle, no job that the rules let it run is queued.

Random workloads on several QPUs (sessions of every policy kind, other users' load, job-mode
jobs, closes, cancels, job cancels, failures, reads at arbitrary times) on a virtual and on a
wall clock; jobs carry real work, so they execute in the scheduler's pool. The invariant is
checked after every action and every read, from the scheduler's state, so it holds whatever
the real delays are. Then every job ends, and no session breaks the spec.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsession.adapters.local import (
    BackgroundLoad,
    DurationModel,
    LocalJob,
    LocalSession,
    Scheduler,
    VirtualClock,
    WallClock,
)
from qsession.adapters.local.scheduler import _live
from qsession.core import SessionClosedError, policies
from qsession.core.policies import IBMPolicy
from qsession.spec import check_trace

BACKENDS = {
    "qpu": (DurationModel(overhead=5.0, per_shot=0.01), None),
    "busy_qpu": (
        DurationModel(overhead=3.0, per_shot=0.0),
        BackgroundLoad(every=20.0, duration=8.0),
    ),
    "quantinuum.qpu.h2-1": (DurationModel(overhead=7.0, per_shot=0.0), None),
}
KINDS = ("ibm_session", "ibm_batch", "azure_abort", "azure_continue")
GAPS = (0.0, 0.5, 3.0, 5.0, 30.0, 59.0, 60.0, 61.0, 300.0, 600.0, 601.0, 1800.0)
#: A wall clock this fast plays the longest gap in 18 ms of real time.
WALL_SPEED = 1e5

#: QPU choices, the plain one (where the first session lives) weighing most.
qpus = st.sampled_from(("qpu", "qpu", "busy_qpu", "quantinuum.qpu.h2-1"))
opens = st.tuples(st.just("open"), st.sampled_from(KINDS), qpus)
submits = st.tuples(st.just("submit"), st.integers(0, 5), st.integers(0, 2000))
advances = st.tuples(st.just("advance"), st.sampled_from(GAPS))
job_modes = st.tuples(st.just("job_mode"), qpus, st.integers(0, 2000))
#: User actions; submissions, think times and other users' jobs weigh most.
actions = st.lists(
    st.one_of(
        submits,
        advances,
        job_modes,
        submits,
        advances,
        job_modes,
        st.tuples(st.just("read"), st.integers(0, 5)),
        st.tuples(st.just("wait"), st.integers(0, 40)),
        opens,
        st.tuples(st.just("close"), st.integers(0, 5)),
        st.tuples(st.just("cancel"), st.integers(0, 5)),
        st.tuples(st.just("cancel_job"), st.integers(0, 40)),
        st.tuples(st.just("cancel"), st.integers(0, 2)),
        st.tuples(st.just("cancel_job"), st.integers(0, 40)),
        st.tuples(st.just("fail_next"), qpus),
    ),
    min_size=4,
    max_size=40,
)


def policy_for(kind: str, backend: str) -> Any:
    if kind == "ibm_session":
        return policies.ibm_session(max_time="1h", backend=backend)
    if kind == "ibm_batch":
        return policies.ibm_batch(max_time="1h", backend=backend)
    return policies.azure_session(backend, kind.removeprefix("azure_"))


def assert_no_idle_qpu(scheduler: Scheduler) -> None:
    violations = scheduler.idle_violations()
    assert violations == [], f"idle QPUs with runnable jobs queued: {violations}"
    # White box: the loop's counts of dead and foreground heap entries stay exact.
    with scheduler._lock:
        live = [entry for entry in scheduler._heap if _live(entry)]
        assert scheduler._stale == len(scheduler._heap) - len(live)
        assert scheduler._fg_events == sum(1 for entry in live if entry[4])


def play(scheduler: Scheduler, script: list[tuple[Any, ...]]) -> list[LocalSession]:
    for name, (duration, load) in BACKENDS.items():
        scheduler.add_backend(name, duration=duration, load=load)
    sessions: list[LocalSession] = []
    jobs: list[LocalJob] = []
    for action, *args in [("open", "ibm_session", "qpu"), *script]:
        if action == "open":
            policy = policy_for(args[0], args[1])
            sessions.append(scheduler.open_session(policy, scheduler.backend(args[1])))
        elif action == "submit":
            session = sessions[args[0] % len(sessions)]
            with contextlib.suppress(SessionClosedError):
                jobs.append(session.submit(lambda shots=args[1]: shots, shots=args[1]))
        elif action == "job_mode":
            backend = scheduler.backend(args[0])
            jobs.append(backend.submit(lambda shots=args[1]: shots, shots=args[1]))
        elif action == "advance":
            scheduler.clock.advance(args[0])
        elif action == "read":
            session = sessions[args[0] % len(sessions)]
            scheduler.sync()
            assert_no_idle_qpu(scheduler)
            session.timeline()
        elif action in ("close", "cancel"):
            session = sessions[args[0] % len(sessions)]
            if action == "close" or isinstance(session.policy, IBMPolicy):
                getattr(session, action)()
        elif action in ("cancel_job", "wait") and jobs:
            job = jobs[args[0] % len(jobs)]
            job.wait() if action == "wait" else job.cancel()
        elif action == "fail_next":
            scheduler.backend(args[0]).fail_next_job()
        assert_no_idle_qpu(scheduler)
    for session in sessions:
        session.close()
        assert_no_idle_qpu(scheduler)
    scheduler.run()
    assert all(job.done for job in jobs)
    for job in jobs:
        assert job.work is None, "a job's input is dropped once it has run or ended"
        if job.state == "completed":
            assert job.value == job.shots
    return sessions


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_no_qpu_idles_while_a_job_it_may_run_is_queued_in_virtual_time(
    script: list[tuple[Any, ...]],
) -> None:
    scheduler = Scheduler(VirtualClock(), workers=2)
    sessions = play(scheduler, script)
    scheduler.close()
    for session in sessions:
        assert check_trace(session.trace()) == [], session.session_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_no_qpu_idles_while_a_job_it_may_run_is_queued_on_a_wall_clock(
    script: list[tuple[Any, ...]],
) -> None:
    scheduler = Scheduler(WallClock(speed=WALL_SPEED), workers=2)
    sessions = play(scheduler, script)
    scheduler.close()
    for session in sessions:
        assert check_trace(session.trace()) == [], session.session_id
