"""Benchmark: the compiled core against hand-written implementations of the same rules.

Every path runs the IBM dedicated-session rules (premium plan). Two traces: a VQE-like session
(200 jobs) and a long one (5,000 jobs); both call the public verbs (``session.submit(...)``).
The compiled core is compared with a hand-written dict-table baseline, a minimal slotted hand
class, the core's own generic interpreter (the generated code's fallback) and
python-statemachine driven directly. It prints events/s, the ratios the core is judged by,
sessions opened/s and bytes per live idle session.

Times are CPU time (``time.process_time``), the paths interleaved in one process, each figure
the median of the repeats (at least 9), the garbage collector on as users have it. Before
timing anything every path is replayed side by side and must agree step by step, so a broken
path cannot be measured.

    python benchmarks/core.py            # full run, median of 9 repeats
    python benchmarks/core.py --quick    # smoke run (3 short repeats)
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import statistics
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
from qsession.spec.properties import core_effects, core_jobs

POLICY = policies.ibm_session(plan="premium")
SEED = 20240611
ITERATIONS = 200
LONG_ITERATIONS = 5000

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


def long_trace(seed: int, jobs: int) -> list[Step]:
    """A long session within the 8 h max TTL: short jobs back to back, two in flight at a time,
    and one think in a hundred outlasting the 60 s interactive TTL."""
    rng = random.Random(seed)
    steps: list[Step] = [("submit", 0.0, "job-0000")]
    t = 0.0
    for i in range(jobs):
        job_id = f"job-{i:04d}"
        t += rng.uniform(0.1, 0.5)
        steps.append(("job_started", t, job_id))
        if i + 1 < jobs:
            t += rng.uniform(0.1, 0.5)
            steps.append(("submit", t, f"job-{i + 1:04d}"))
        t += rng.uniform(1.0, 2.0)
        steps.append(("job_completed", t, job_id))
        if rng.random() < 0.01 and i + 1 < jobs:
            t += rng.uniform(61.0, 120.0)
            steps.append(("advance", t, ""))
    steps.append(("close", t + 1.0, ""))
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
    oracle, the chart driven by the reference model, on effects, state and jobs; the core and
    the baseline on state, jobs and deadline); return how many times the interactive TTL
    deactivated the session."""
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
        core_effects_out = core_effects(core_out) if isinstance(core_out, tuple) else core_out
        assert core_effects_out == oracle_out, (step, core_out, oracle_out)
        assert (base_out is BaselineError) == isinstance(core_out, type), (step, core_out)
        assert str(core.state) == oracle.state, step
        assert core_jobs(core.snapshot()) == tuple(oracle.reference.jobs.items()), step
        assert core_view(core) == base_view(base), (step, core_view(core), base_view(base))
        if isinstance(core_out, tuple):
            deactivations += sum(
                isinstance(effect, StateChanged) and effect.cause == "interactive_ttl_expired"
                for effect in core_out
            )
    return deactivations


# --------------------------------------------------------------------------------------------
# The slotted hand class: the same rules as the baseline, one method per verb, as someone who
# needed only this would write it. Refuses what the baseline refuses (with ``BaselineError``).
# --------------------------------------------------------------------------------------------


class HandSession:
    """A minimal IBM session: one slotted object, jobs as tuples in a dict."""

    __slots__ = (
        "accepting_jobs", "created_at", "deadline", "in_flight", "jobs", "last_at",
        "last_completed_at", "last_submitted_at", "started_at", "state", "timer",
    )  # fmt: skip

    def __init__(self, at: float) -> None:
        self.state, self.accepting_jobs, self.jobs, self.in_flight = "open", True, {}, 0
        self.created_at = self.last_at = at
        self.started_at = self.last_submitted_at = self.last_completed_at = None
        self.deadline, self.timer = at + UNUSED_TIMEOUT, "unused_timeout"

    def _now(self, at: float) -> None:
        if not self.last_at <= at < math.inf:
            raise BaselineError(f"time {at} is before {self.last_at}")
        while self.deadline <= at:  # the rare path: the same handlers as the dict table
            self.last_at = self.deadline
            TABLE[self.state][self.timer](self, self.deadline, "")  # type: ignore[arg-type]
            _rearm(self)  # type: ignore[arg-type]
        self.last_at = at

    def submit(self, job_id: str, at: float) -> None:
        self._now(at)
        if not self.accepting_jobs or not job_id or job_id in self.jobs:
            raise BaselineError(f"job {job_id!r} refused")
        self.jobs[job_id] = (QUEUED, at, None, None)
        self.in_flight += 1
        self.last_submitted_at = at
        if self.state == "open":
            self.deadline = math.inf if self.started_at is None else self.deadline
        elif self.state == "active":
            self.deadline, self.timer = self.started_at + MAX_TTL, "max_ttl_reached"

    def job_started(self, job_id: str, at: float) -> None:
        self._now(at)
        job = self.jobs.get(job_id)
        if job is None or job[0] != QUEUED or self.state == "closed":
            raise BaselineError(f"job {job_id!r} cannot start")
        self.jobs[job_id] = (RUNNING, job[1], at, None)
        if self.started_at is None:
            self.started_at = at
        self.state = "active"
        self.deadline, self.timer = self.started_at + MAX_TTL, "max_ttl_reached"

    def job_completed(self, job_id: str, at: float) -> None:
        self._now(at)
        job = self.jobs.get(job_id)
        if job is None or job[0] != RUNNING:
            raise BaselineError(f"job {job_id!r} is not running")
        self.jobs[job_id] = (COMPLETED, job[1], job[2], at)
        self.in_flight -= 1
        self.last_completed_at = at
        if not self.accepting_jobs and not self.in_flight and self.state != "closed":
            self.state, self.accepting_jobs, self.deadline = "closed", False, math.inf
        elif self.state == "active" and not self.in_flight:
            due = at + INTERACTIVE_TTL
            if due < self.deadline:
                self.deadline, self.timer = due, "interactive_ttl_expired"

    def close(self, at: float) -> None:
        self._now(at)
        if self.in_flight:
            self.accepting_jobs = False
        else:
            self.state, self.accepting_jobs, self.deadline = "closed", False, math.inf

    def advance(self, to: float) -> None:
        self._now(to)


def hand_view(rec: HandSession) -> View:
    return rec.state, rec.accepting_jobs, dict(rec.jobs), rec.deadline


# --------------------------------------------------------------------------------------------
# Measurement.
# --------------------------------------------------------------------------------------------

SUBMIT, STARTED, COMPLETED_, ADVANCE, CLOSE = range(5)
VERB_CODES = {
    "submit": SUBMIT,
    "job_started": STARTED,
    "job_completed": COMPLETED_,
    "advance": ADVANCE,
    "close": CLOSE,
}
Call = tuple[int, float, str]


def verb_calls(steps: list[Step]) -> list[Call]:
    """The steps as (verb code, time, job id), for the replays through public verbs."""
    return [(VERB_CODES[name], at, job_id) for name, at, job_id in steps]


def replay_core_verbs(calls: list[Call]) -> None:
    """One session through ``Session``'s public verbs."""
    s = Session.open(POLICY, session_id="bench", at=0.0)
    submit, started, completed = s.submit, s.job_started, s.job_completed
    for code, at, job_id in calls:
        if code == SUBMIT:
            submit(job_id, at=at)
        elif code == STARTED:
            started(job_id, at=at)
        elif code == COMPLETED_:
            completed(job_id, at=at)
        elif code == ADVANCE:
            s.advance(to=at)
        else:
            s.close(at=at)


def replay_hand(calls: list[Call]) -> None:
    """The same calls on the slotted hand class."""
    s = HandSession(0.0)
    submit, started, completed = s.submit, s.job_started, s.job_completed
    for code, at, job_id in calls:
        if code == SUBMIT:
            submit(job_id, at)
        elif code == STARTED:
            started(job_id, at)
        elif code == COMPLETED_:
            completed(job_id, at)
        elif code == ADVANCE:
            s.advance(at)
        else:
            s.close(at)


def replay_base(steps: list[Step]) -> None:
    rec = DictSession("bench", 0.0)
    for name, at, job_id in steps:
        base_handle(rec, name, at, job_id)


def replay_events(events: list[Event]) -> None:
    """One session through ``Session.handle(event)``."""
    handle = Session.open(POLICY, session_id="bench", at=0.0).handle
    for event in events:
        handle(event)


def replay_interpreter(events: list[Event]) -> None:
    """The generic interpreter alone: the base class's ``handle`` skips the generated verbs."""
    s = Session.open(POLICY, session_id="bench", at=0.0)
    interpret = Session.handle
    for event in events:
        interpret(s, event)


def replay_oracle(events: list[Event]) -> None:
    handle = OracleSession(POLICY, session_id="bench", at=0.0).handle
    for event in events:
        handle(event)


def verify_hand(steps: list[Step]) -> None:
    """The hand class agrees with the core on every step of ``steps``."""
    core = Session.open(POLICY, session_id="verify", at=0.0)
    hand = HandSession(0.0)
    for step in steps:
        name, at, job_id = step
        outcomes: list[bool] = []
        for apply in (
            partial(core.handle, to_event(step)),
            partial(getattr(hand, name), *((job_id, at) if job_id else (at,))),
        ):
            try:
                apply()
                outcomes.append(True)
            except (SessionError, BaselineError):
                outcomes.append(False)
        assert outcomes[0] == outcomes[1], (step, outcomes)
        assert core_view(core) == hand_view(hand), step


def call_verb(session: Session, event: Event) -> tuple[object, ...]:
    """``event`` applied through the public verb it stands for."""
    if isinstance(event, Advance):
        return session.advance(to=event.at)
    if isinstance(event, Close | Cancel):
        return getattr(session, event.name)(at=event.at)  # type: ignore[no-any-return]
    return getattr(session, event.name)(event.job_id, at=event.at)  # type: ignore[no-any-return]


def verify_paths(events: list[Event]) -> None:
    """The generated verbs, ``handle`` and the interpreter agree on effects, errors and
    records."""
    sessions = [Session.open(POLICY, session_id="verify", at=0.0) for _ in range(3)]
    for event in events:
        outcomes: list[object] = []
        for apply in (
            partial(call_verb, sessions[0], event),
            partial(sessions[1].handle, event),
            partial(Session.handle, sessions[2], event),
        ):
            try:
                outcomes.append(apply())
            except SessionError as error:
                outcomes.append((type(error), str(error)))
        assert outcomes[0] == outcomes[1] == outcomes[2], (event, outcomes)
        assert sessions[0].snapshot() == sessions[1].snapshot() == sessions[2].snapshot(), event


def cpu_seconds(work: Callable[[], None], loops: int) -> float:
    """CPU seconds for ``loops`` calls of ``work``."""
    start = time.process_time()
    for _ in range(loops):
        work()
    return time.process_time() - start


def calibrate(work: Callable[[], None], min_time: float) -> int:
    """Loops of ``work`` that take at least ``min_time`` CPU seconds."""
    loops = 1
    while cpu_seconds(work, loops) < min_time:
        loops *= 2
    return loops


def interleaved(
    paths: Mapping[str, tuple[Callable[[], None], int]], repeats: int, min_time: float
) -> dict[str, list[float]]:
    """Units per CPU second of each path, one timing of each per repeat, the paths taking turns
    (``paths`` maps a label to its work and the units one call of it does)."""
    loops = {label: calibrate(work, min_time) for label, (work, _) in paths.items()}
    rates: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(repeats):
        for label, (work, units) in paths.items():
            rates[label].append(units * loops[label] / cpu_seconds(work, loops[label]))
    return rates


def ratio(rates: dict[str, list[float]], label: str, against: str) -> float:
    """The median over repeats of ``label``'s rate over ``against``'s in the same repeat."""
    return statistics.median(a / b for a, b in zip(rates[label], rates[against], strict=True))


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


CORE, EVENTS, INTERP, BASE, HAND, ORACLE = (
    "qsession.core, public verbs (generated)",
    "qsession.core, handle(event)",
    "qsession.core, generic interpreter only",
    "hand-written dict table (baseline)",
    "slotted hand class",
    "python-statemachine directly",
)


def main() -> None:
    """Verify, measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter repeats")
    quick = parser.parse_args().quick
    repeats, min_time, memory_count = (3, 0.01, 1000) if quick else (9, 0.2, 20000)

    steps = vqe_trace(SEED, ITERATIONS)
    events = [to_event(step) for step in steps]
    long_steps = long_trace(SEED, LONG_ITERATIONS)
    long_events = [to_event(step) for step in long_steps]
    deactivations = verify(steps)
    assert deactivations > 0, "the trace must exercise the interactive TTL"
    for edge in EDGE_CASES:
        verify(edge)
        if all(name in VERB_CODES for name, _, _ in edge):
            verify_hand(edge)
        verify_paths([to_event(step) for step in edge])
    for trace, trace_events in ((steps, events), (long_steps, long_events)):
        verify_hand(trace)
        verify_paths(trace_events)
    calls, long_calls = verb_calls(steps), verb_calls(long_steps)

    vqe = interleaved(
        {
            CORE: (partial(replay_core_verbs, calls), len(steps)),
            EVENTS: (partial(replay_events, events), len(steps)),
            INTERP: (partial(replay_interpreter, events), len(steps)),
            BASE: (partial(replay_base, steps), len(steps)),
            HAND: (partial(replay_hand, calls), len(steps)),
            ORACLE: (partial(replay_oracle, events), len(steps)),
        },
        repeats,
        min_time,
    )
    long = interleaved(
        {
            CORE: (partial(replay_core_verbs, long_calls), len(long_steps)),
            HAND: (partial(replay_hand, long_calls), len(long_steps)),
            BASE: (partial(replay_base, long_steps), len(long_steps)),
            INTERP: (partial(replay_interpreter, long_events), len(long_steps)),
        },
        repeats,
        min_time,
    )
    makers: dict[str, Callable[[str], object]] = {
        CORE: lambda session_id: Session.open(POLICY, session_id=session_id, at=0.0),
        BASE: lambda session_id: DictSession(session_id, 0.0),
        HAND: lambda _: HandSession(0.0),
        ORACLE: lambda session_id: OracleSession(POLICY, session_id=session_id, at=0.0),
    }
    opened = interleaved(
        {
            label: (partial(lambda make, n: [make("bench") for _ in range(n)], make, 100), 100)
            for label, make in makers.items()
        },
        repeats,
        min_time,
    )
    sizes = {
        label: bytes_per_session(make, memory_count // 100 if label == ORACLE else memory_count)
        for label, make in makers.items()
    }

    cpu = platform.processor() or platform.machine()
    print(f"Python {platform.python_version()} ({sys.implementation.name}), {platform.platform()}")
    print(
        f"CPU: {cpu}, {os.cpu_count()} cores; python-statemachine {version('python-statemachine')}"
    )
    print(
        f"CPU time, paths interleaved, median of {repeats} repeats, gc enabled. VQE trace: IBM"
        f" dedicated session, {ITERATIONS} jobs, {len(steps)} events, {deactivations}"
        f" interactive-TTL deactivations, seed {SEED}. Long trace: {LONG_ITERATIONS} jobs,"
        f" {len(long_steps)} events."
    )
    print()
    print("| path | VQE events/s | % of baseline | 5,000-job events/s | % of hand class |")
    print("|---|---:|---:|---:|---:|")
    for label in (CORE, EVENTS, INTERP, BASE, HAND, ORACLE):
        long_rate = (
            f"{statistics.median(long[label]):,.0f} | {100 * ratio(long, label, HAND):.1f}%"
            if label in long
            else "| "
        )
        print(
            f"| {label} | {statistics.median(vqe[label]):,.0f}"
            f" | {100 * ratio(vqe, label, BASE):.1f}% | {long_rate} |"
        )
    print()
    print("| path | sessions opened/s | bytes/idle session |")
    print("|---|---:|---:|")
    for label in makers:
        print(f"| {label} | {statistics.median(opened[label]):,.0f} | {sizes[label]:,.0f} |")
    print()
    checks = (
        (ratio(vqe, CORE, BASE), 0.75, "VQE trace, compiled core / dict-table baseline"),
        (ratio(long, CORE, HAND), 0.50, "5,000-job session, compiled core / slotted hand class"),
    )
    for got, target, what in checks:
        verdict = "PASS" if got >= target else "FAIL"
        print(f"{verdict}: {what} = {100 * got:.1f}% (target >= {100 * target:.0f}%)")
    print(
        f"{'PASS' if sizes[CORE] <= 256 else 'FAIL'}: bytes per idle session ="
        f" {sizes[CORE]:.0f} (target <= 256)"
    )
    print(
        f"VQE trace through handle(event), the baseline's own call shape:"
        f" {100 * ratio(vqe, EVENTS, BASE):.1f}% of the baseline; generated / interpreter-only:"
        f" {ratio(vqe, CORE, INTERP):.2f}x (VQE), {ratio(long, CORE, INTERP):.2f}x (5,000 jobs)"
    )


if __name__ == "__main__":
    main()
