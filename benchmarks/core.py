"""Benchmark: the compiled core against a hand-written dict table and python-statemachine.

All three run the same IBM dedicated-session rules (premium plan) on one VQE-like trace and
print a Markdown table: events/s, sessions created/s and bytes per live idle session. Before
timing anything, the three are replayed side by side and must agree step by step, so a broken
path cannot be measured.

    python benchmarks/core.py            # full run, best of 5 repeats
    python benchmarks/core.py --quick    # smoke run (best of 2, short timings)
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from functools import partial
from importlib.metadata import version

from qsession.core import Session, SessionError, StateChanged, policies
from qsession.core.events import (
    Advance,
    Cancel,
    Close,
    Event,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from qsession.spec.oracle import OracleSession

POLICY = policies.ibm_session(plan="premium")
SEED = 20240611
ITERATIONS = 200

#: One trace step as the baseline takes it: (event name, time, job id or "").
Step = tuple[str, float, str]
#: A job as the baseline keeps it: (state, submitted_at, started_at, ended_at).
BaseJob = tuple[str, float, float | None, float | None]
#: What must agree between implementations: state, accepting_jobs, jobs, next deadline.
View = tuple[str, bool, dict[str, BaseJob], float]

# --------------------------------------------------------------------------------------------
# The baseline: a minimal hand-written dict table of the same IBM rules.
#
# Does, like the core: refuses time going backwards; fires every due timer (max TTL, interactive
# TTL, unused 30 min), each at its own deadline and in the core's tie order, before the event;
# checks unknown and duplicate job ids and the job state each job event needs; keeps each job's
# state and submit/start/end times in a dict; takes the (state, event) transition from a
# dict-of-dicts table; re-arms the earliest deadline after every transition.
# Does not, unlike the core: build effect objects (StateChanged, JobsFailed, ...); copy the record
# for all-or-nothing rollback (timers fired before a refused event stay fired); track
# exclusivity, usage time, activated/closed times, state timestamps or failure counts; check id
# types or the job's target; build helpful error messages; handle job_cancelled or batch/Azure
# policies (the premium-plan TTLs are constants).
# --------------------------------------------------------------------------------------------

INTERACTIVE_TTL = 60.0
MAX_TTL = 28800.0
UNUSED_TIMEOUT = 1800.0
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
CAN_START = frozenset({QUEUED})
CAN_COMPLETE = frozenset({RUNNING})
CAN_FAIL = frozenset({QUEUED, RUNNING})


class BaselineError(Exception):
    """The baseline refused an event."""


class DictSession:
    """The baseline's per-session record."""

    __slots__ = (
        "accepting_jobs",
        "created_at",
        "deadline",
        "in_flight",
        "jobs",
        "last_at",
        "last_completed_at",
        "last_submitted_at",
        "session_id",
        "started_at",
        "state",
        "timer",
    )

    def __init__(self, session_id: str, at: float) -> None:
        self.session_id = session_id
        self.state = "open"
        self.accepting_jobs = True
        self.created_at = at
        self.last_at = at
        self.started_at: float | None = None
        self.last_submitted_at: float | None = None
        self.last_completed_at: float | None = None
        self.in_flight = 0
        self.jobs: dict[str, BaseJob] = {}
        self.deadline = at + UNUSED_TIMEOUT
        self.timer = "unused_timeout"


def base_handle(rec: DictSession, name: str, at: float, job_id: str) -> None:
    """Apply one event: check time, fire due timers, then take the table's transition."""
    if not rec.last_at <= at < math.inf:
        raise BaselineError(f"time {at} is before {rec.last_at}")
    while rec.deadline <= at:
        rec.last_at = rec.deadline
        TABLE[rec.state][rec.timer](rec, rec.deadline, "")
        _rearm(rec)
    if name != "advance":
        handler = TABLE[rec.state].get(name)
        if handler is None:
            raise BaselineError(f"{rec.state} refuses {name}")
        handler(rec, at, job_id)
        _rearm(rec)
    rec.last_at = at


def _rearm(rec: DictSession) -> None:
    deadline, timer = math.inf, ""
    state = rec.state
    if state == "closed":
        rec.deadline, rec.timer = deadline, timer
        return
    if rec.started_at is not None:
        deadline, timer = rec.started_at + MAX_TTL, "max_ttl_reached"
    if state == "active" and not rec.in_flight and rec.last_completed_at is not None:
        due = rec.last_completed_at + INTERACTIVE_TTL
        if due < deadline:
            deadline, timer = due, "interactive_ttl_expired"
    elif state == "open" and rec.last_submitted_at is None:
        due = rec.created_at + UNUSED_TIMEOUT
        if due < deadline:
            deadline, timer = due, "unused_timeout"
    rec.deadline, rec.timer = deadline, timer


def _job(rec: DictSession, job_id: str, allowed: frozenset[str]) -> BaseJob:
    job = rec.jobs.get(job_id)
    if job is None or job[0] not in allowed:
        raise BaselineError(f"job {job_id!r} is unknown or in the wrong state")
    return job


def _submit(rec: DictSession, at: float, job_id: str) -> None:
    if not rec.accepting_jobs:
        raise BaselineError("the session does not accept jobs")
    if not job_id or job_id in rec.jobs:
        raise BaselineError(f"job {job_id!r} is a duplicate")
    rec.jobs[job_id] = (QUEUED, at, None, None)
    rec.in_flight += 1
    rec.last_submitted_at = at


def _start(rec: DictSession, at: float, job_id: str) -> None:
    job = _job(rec, job_id, CAN_START)
    rec.jobs[job_id] = (RUNNING, job[1], at, None)
    if rec.started_at is None:
        rec.started_at = at
    rec.state = "active"


def _end(rec: DictSession, at: float, job_id: str, allowed: frozenset[str], end: str) -> None:
    job = _job(rec, job_id, allowed)
    rec.jobs[job_id] = (end, job[1], job[2], at)
    rec.in_flight -= 1
    rec.last_completed_at = at
    if not rec.accepting_jobs and not rec.in_flight and rec.state != "closed":
        _finish(rec, at, job_id)


def _complete(rec: DictSession, at: float, job_id: str) -> None:
    _end(rec, at, job_id, CAN_COMPLETE, COMPLETED)


def _fail(rec: DictSession, at: float, job_id: str) -> None:
    _end(rec, at, job_id, CAN_FAIL, FAILED)


def _close(rec: DictSession, at: float, job_id: str) -> None:
    if rec.in_flight:
        rec.accepting_jobs = False
    else:
        _finish(rec, at, job_id)


def _end_queued(rec: DictSession, at: float, end: str) -> None:
    for queued_id, job in rec.jobs.items():
        if job[0] == QUEUED:
            rec.jobs[queued_id] = (end, job[1], None, at)
            rec.in_flight -= 1


def _cancel(rec: DictSession, at: float, job_id: str) -> None:
    _end_queued(rec, at, CANCELLED)
    _finish(rec, at, job_id)


def _max_ttl(rec: DictSession, at: float, job_id: str) -> None:
    _end_queued(rec, at, FAILED)
    _finish(rec, at, job_id)


def _deactivate(rec: DictSession, at: float, job_id: str) -> None:
    rec.state = "inactive"


def _finish(rec: DictSession, at: float, job_id: str) -> None:
    rec.state = "closed"
    rec.accepting_jobs = False


def _ignore(rec: DictSession, at: float, job_id: str) -> None:
    """``close`` or ``cancel`` on a closed session changes nothing."""


Handler = Callable[[DictSession, float, str], None]
_LIVE: dict[str, Handler] = {
    "submit": _submit,
    "job_started": _start,
    "job_completed": _complete,
    "job_failed": _fail,
    "close": _close,
    "cancel": _cancel,
}
#: ``TABLE[state][event]``; timers are events of the states that arm them.
TABLE: Mapping[str, Mapping[str, Handler]] = {
    "open": {**_LIVE, "unused_timeout": _finish},
    "active": {**_LIVE, "max_ttl_reached": _max_ttl, "interactive_ttl_expired": _deactivate},
    "inactive": {**_LIVE, "max_ttl_reached": _max_ttl},
    "closed": {
        "job_completed": _complete,
        "job_failed": _fail,
        "close": _ignore,
        "cancel": _ignore,
    },
}

# --------------------------------------------------------------------------------------------
# Traces and verification.
# --------------------------------------------------------------------------------------------

JOB_EVENTS: Mapping[str, type[Submit | JobStarted | JobCompleted | JobFailed]] = {
    "submit": Submit,
    "job_started": JobStarted,
    "job_completed": JobCompleted,
    "job_failed": JobFailed,
}
SESSION_EVENTS: Mapping[str, type[Close | Cancel | Advance]] = {
    "close": Close,
    "cancel": Cancel,
    "advance": Advance,
}

#: Short traces for the rules the VQE trace never reaches: (steps, whether each is refused).
EDGE_CASES: tuple[list[Step], ...] = (
    # Unused for 30 minutes: closes itself; a late submit is refused.
    [("advance", 1800.0, ""), ("submit", 1801.0, "a")],
    # Max TTL: the queued job fails, the running one finishes in the closed session.
    [
        ("submit", 0.0, "a"),
        ("job_started", 10.0, "a"),
        ("submit", 20.0, "b"),
        ("advance", 28811.0, ""),
        ("job_completed", 28815.0, "a"),
        ("submit", 28816.0, "c"),
    ],
    # Close drains: no new jobs, closes when the last in-flight job ends.
    [
        ("submit", 1.0, "a"),
        ("submit", 2.0, "b"),
        ("job_started", 3.0, "a"),
        ("close", 4.0, ""),
        ("submit", 5.0, "c"),
        ("job_completed", 6.0, "a"),
        ("job_failed", 7.0, "b"),
        ("close", 8.0, ""),
    ],
    # Refusals, then cancel: queued jobs are cancelled, the running one finishes.
    [
        ("submit", 1.0, "a"),
        ("submit", 2.0, "a"),
        ("job_started", 3.0, "x"),
        ("job_completed", 3.0, "a"),
        ("job_started", 4.0, "a"),
        ("submit", 5.0, "b"),
        ("cancel", 6.0, ""),
        ("job_completed", 7.0, "a"),
        ("advance", 5.0, ""),
    ],
)


def to_event(step: Step) -> Event:
    """The core event for a baseline step."""
    name, at, job_id = step
    if name in JOB_EVENTS:
        return JOB_EVENTS[name](job_id, at)
    return SESSION_EVENTS[name](at)


def vqe_trace(seed: int, iterations: int) -> list[Step]:
    """A VQE-like loop: submit, queue, run 2-5 s, think; 15% of thinks outlast the 60 s TTL."""
    rng = random.Random(seed)
    steps: list[Step] = []
    t = 0.0
    queue = (20.0, 90.0)  # the first job, and a job after deactivation, queue normally
    for i in range(iterations):
        job_id = f"job-{i:03d}"
        t += rng.uniform(0.1, 1.0)
        steps.append(("submit", t, job_id))
        t += rng.uniform(*queue)
        steps.append(("job_started", t, job_id))
        t += rng.uniform(2.0, 5.0)
        steps.append(("job_completed", t, job_id))
        if rng.random() < 0.15:
            think = rng.uniform(61.0, 600.0)
            if rng.random() < 0.5:  # the host polls its clock while waiting
                steps.append(("advance", t + rng.uniform(60.5, think), ""))
            queue = (20.0, 90.0)
        else:
            think = rng.uniform(0.5, 45.0)
            queue = (0.2, 2.0)
        t += think
    steps.append(("close", t, ""))
    return steps


def core_view(session: Session) -> View:
    """What the baseline must match, read from a core session."""
    jobs = {
        job_id: (str(job.state), job.submitted_at, job.started_at, job.ended_at)
        for job_id, job in session.jobs.items()
    }
    deadline = session.next_deadline
    return (
        str(session.state),
        session.accepting_jobs,
        jobs,
        math.inf if deadline is None else deadline,
    )


def base_view(rec: DictSession) -> View:
    """The same view of a baseline session."""
    return rec.state, rec.accepting_jobs, dict(rec.jobs), rec.deadline


def verify(steps: list[Step]) -> int:
    """Replay ``steps`` on all three, asserting agreement after every step (the core and the
    oracle on effects and the whole record, the core and the baseline on state, jobs and
    deadline); return how many times the interactive TTL deactivated the session."""
    core = Session.open(POLICY, session_id="verify", at=0.0)
    oracle = OracleSession(POLICY, session_id="verify", at=0.0)
    base = DictSession("verify", 0.0)
    deactivations = 0
    for step in steps:
        event = to_event(step)
        outcomes: list[object] = []
        for apply in (
            partial(core.handle, event),
            partial(oracle.handle, event),
            partial(base_handle, base, *step),
        ):
            try:
                outcomes.append(apply())
            except (SessionError, BaselineError) as error:
                outcomes.append(type(error))
        core_out, oracle_out, base_out = outcomes
        assert core_out == oracle_out, (step, core_out, oracle_out)
        assert (base_out is BaselineError) == isinstance(core_out, type), (step, core_out)
        assert core.snapshot() == oracle.snapshot(), step
        assert core_view(core) == base_view(base), (step, core_view(core), base_view(base))
        if isinstance(core_out, tuple):
            deactivations += sum(
                isinstance(effect, StateChanged) and effect.cause == "interactive_ttl_expired"
                for effect in core_out
            )
    return deactivations


# --------------------------------------------------------------------------------------------
# Measurement.
# --------------------------------------------------------------------------------------------


def best_rate(work: Callable[[int], None], units: int, repeats: int, min_time: float) -> float:
    """Units per second of ``work(n)`` (``units`` per call), best of ``repeats`` timings, with
    ``n`` doubled until one timing takes at least ``min_time`` seconds."""
    n = 1
    while True:
        start = time.perf_counter()
        work(n)
        if time.perf_counter() - start >= min_time:
            break
        n *= 2
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work(n)
        best = min(best, time.perf_counter() - start)
    return units * n / best


def bytes_per_session(make: Callable[[str], object], count: int) -> float:
    """Traced bytes per session of ``count`` just-opened sessions kept alive (ids and the list
    holding them are allocated before measuring)."""
    ids = [f"session-{i:06d}" for i in range(count)]
    alive: list[object] = [None] * count
    make("warm-up")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, session_id in enumerate(ids):
        alive[i] = make(session_id)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / count


def main() -> None:
    """Verify, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter repeats")
    quick = parser.parse_args().quick
    repeats, min_time, memory_count = (2, 0.01, 1000) if quick else (5, 0.2, 20000)

    steps = vqe_trace(SEED, ITERATIONS)
    events = [to_event(step) for step in steps]
    deactivations = verify(steps)
    assert deactivations > 0, "the trace must exercise the interactive TTL"
    for edge in EDGE_CASES:
        verify(edge)

    def replay_core(n: int) -> None:
        for _ in range(n):
            handle = Session.open(POLICY, session_id="bench", at=0.0).handle
            for event in events:
                handle(event)

    def replay_base(n: int) -> None:
        for _ in range(n):
            rec = DictSession("bench", 0.0)
            for name, at, job_id in steps:
                base_handle(rec, name, at, job_id)

    def replay_oracle(n: int) -> None:
        for _ in range(n):
            handle = OracleSession(POLICY, session_id="bench", at=0.0).handle
            for event in events:
                handle(event)

    def open_core(session_id: str) -> object:
        return Session.open(POLICY, session_id=session_id, at=0.0)

    def open_base(session_id: str) -> object:
        return DictSession(session_id, 0.0)

    def open_oracle(session_id: str) -> object:
        return OracleSession(POLICY, session_id=session_id, at=0.0)

    rows = [
        ("qsession.core (compiled table)", replay_core, open_core, memory_count),
        ("hand-written dict table (baseline)", replay_base, open_base, memory_count),
        ("python-statemachine directly", replay_oracle, open_oracle, memory_count // 100),
    ]
    results = []
    for label, replay, make, count in rows:

        def create(n: int, make: Callable[[str], object] = make) -> None:
            for _ in range(n):
                make("bench")

        results.append(
            (
                label,
                best_rate(replay, len(steps), repeats, min_time),
                best_rate(create, 1, repeats, min_time),
                bytes_per_session(make, count),
            )
        )

    cpu = platform.processor() or platform.machine()
    print(f"Python {platform.python_version()} ({sys.implementation.name}), {platform.platform()}")
    print(
        f"CPU: {cpu}, {os.cpu_count()} cores; python-statemachine {version('python-statemachine')}"
    )
    print(
        f"Trace: VQE-like IBM dedicated session (premium), {ITERATIONS} jobs, {len(steps)} events,"
        f" {deactivations} interactive-TTL deactivations, seed {SEED}; best of {repeats} repeats,"
        " gc enabled"
    )
    print()
    print("| implementation | events/s | % of baseline | sessions created/s | bytes/idle session |")
    print("|---|---:|---:|---:|---:|")
    baseline_rate = results[1][1]
    for label, rate, created, size in results:
        print(
            f"| {label} | {rate:,.0f} | {100 * rate / baseline_rate:.1f}% | {created:,.0f}"
            f" | {size:,.0f} |"
        )
    print()
    core_share = 100 * results[0][1] / baseline_rate
    core_bytes = results[0][3]
    for ok, target, got in (
        (core_share >= 50, "compiled core events/s >= 50% of baseline", f"{core_share:.0f}%"),
        (core_bytes <= 512, "compiled core bytes per idle session <= 512", f"{core_bytes:.0f} B"),
    ):
        print(f"{'PASS' if ok else 'FAIL'}: {target} (got {got})")


if __name__ == "__main__":
    main()
