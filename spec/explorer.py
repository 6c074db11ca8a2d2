"""The exhaustive small-scope explorer: every event sequence up to a bound, every step checked.

From each reached session the explorer tries every event over a few jobs (submits, each job
event for each job, close, cancel, advance), each at the boundary times of the armed timer
(deadline - 1, deadline, deadline + 1; the core's and the reference model's) and at "now",
plus a duplicate id, a foreign target and a time in the past. Refused events are checked and
not expanded (they change nothing). Sessions equal up to a shift of time, in the core and in
the reference model, are explored once. The depth bounds every run, and the checker refuses
to loop on a deadline that does not advance, so an exploration always ends.
"""

from __future__ import annotations

from typing import Any

import attrs
from qsession.core.events import (
    Advance,
    Cancel,
    Close,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from qsession.core.policies import Policy
from qsession.core.records import SessionRecord

from .checker import Checker
from .coverage import EXPLORATIONS

JOB_EVENTS = (JobStarted, JobCompleted, JobFailed, JobCancelled)


@attrs.frozen
class Exploration:
    """What one exploration covered."""

    depth: int
    max_jobs: int
    states: int
    traces: int
    steps: int
    violations: tuple[str, ...]


def candidates(checker: Checker, max_jobs: int) -> list[Event]:
    """Every event tried from the checker's current session."""
    session = checker.session
    now = session.last_event_at
    times = {now, now + 1}
    for deadline in (session.next_deadline, checker.next_deadline()):
        if deadline is not None:
            times |= {deadline - 1, deadline, deadline + 1}
    jobs = list(session.jobs)
    events: list[Event] = []
    for at in sorted(t for t in times if t >= now):
        if len(jobs) < max_jobs:
            events.append(Submit(f"j{len(jobs)}", at))
        events.extend(kind(job_id, at) for job_id in jobs for kind in JOB_EVENTS)
        events.extend((Close(at), Cancel(at), Advance(at)))
    events.append(Submit(f"j{len(jobs)}", now, target="elsewhere.qpu"))
    events.append(Submit(f"j{len(jobs)}", now - 1))
    if jobs:
        events.append(Submit(jobs[0], now))
    return events


def _key(rec: SessionRecord[Any]) -> tuple[Any, ...]:
    """The record with every time shifted so that the last event is at 0."""
    now = rec.last_at

    def rel(at: float | None) -> float | None:
        return None if at is None else at - now

    jobs = tuple(
        (job_id, job.state, rel(job.submitted_at), rel(job.started_at), rel(job.ended_at))
        for job_id, job in rec.jobs.items()
    )
    return (
        rec.state,
        rec.accepting_jobs,
        rec.exclusive,
        rec.failures,
        rec.active_seconds,
        *map(
            rel,
            (
                rec.created_at,
                rec.started_at,
                rec.activated_at,
                rec.closed_at,
                rec.last_submitted_at,
                rec.last_job_started,
                rec.last_job_completed,
            ),
        ),
        jobs,
    )


def explore(
    policy: Policy, *, depth: int, max_jobs: int = 2, stop_at_first: bool = False
) -> Exploration:
    """Check every event sequence of length <= ``depth`` over ``max_jobs`` jobs (or stop at
    the first violation, when ``stop_at_first``)."""
    root = Checker(policy)
    seen = {(_key(root.session.snapshot()), root.reference.key())}
    frontier = [root]
    traces = steps = 0
    violations: list[str] = []

    def result() -> Exploration:
        found = Exploration(depth, max_jobs, len(seen), traces, steps, tuple(violations))
        EXPLORATIONS.append(
            f"{policy.machine.name} {policy!r}: depth {depth}, {max_jobs} jobs:"
            f" {found.states} sessions, {found.traces} traces, {found.steps} steps,"
            f" {len(found.violations)} violations"
        )
        return found

    for _ in range(depth):
        next_frontier: list[Checker] = []
        for node in frontier:
            for event in candidates(node, max_jobs):
                child = node.copy()
                child.violations = []
                _, error = child.feed(event)
                traces += 1
                steps += child.steps - node.steps
                violations.extend(child.violations)
                if stop_at_first and violations:
                    return result()
                if error is not None:
                    continue
                key = (_key(child.session.snapshot()), child.reference.key())
                if key not in seen:
                    seen.add(key)
                    next_frontier.append(child)
        frontier = next_frontier
    return result()
