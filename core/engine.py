"""The table interpreter every provider machine runs on.

Theory of operation
-------------------
A provider module (``ibm``, ``azure``) declares its chart once with python-statemachine: states,
events, and for each transition an ordered list of guard names and at most one action name.
``compile_chart`` reads that declaration into a plain nested dict, ``table[state][event]`` ->
transitions in declaration order, built once at import and shared by every session. The live
path never touches python-statemachine; ``qsession.spec.oracle`` drives the chart itself and a
differential test proves both agree.

Handling an event is all-or-nothing:

1. the time must not go backwards;
2. timers due by the event's time fire first, each at its own deadline (on a fork of the record
   when any is due, so a refused event leaves the session untouched);
3. the generic job rules check the job (JOB-LIFECYCLE);
4. the first transition of ``table[state][event]`` whose guards all pass is taken; if none is,
   the event is refused with the provider's hint;
5. job bookkeeping, then the transition's action, then the new state; ``StateChanged`` and
   ``ExclusivityChanged`` effects are derived by comparing before and after.

Timers are data: each provider lists ``(timer event, deadline function)`` pairs; the record
caches the earliest deadline so the common case costs one comparison.

This interpreter is the fallback and the second implementation of the generated hot path
(``qsession.core.compiled``): the generated verbs hand it every event they do not take
themselves (a bad, unknown or duplicate job id, a foreign target, anything refused), and
``Session.handle(session, event)``, called on the base class, runs it alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs
from statemachine import StateMachine

from .effects import Effect, ExclusivityChanged, StateChanged
from .errors import InvalidEventError, SessionClosedError, SessionError
from .events import Advance, Event, Expire, JobFailed
from .records import JobRow, JobState, SessionRecord

if TYPE_CHECKING:
    from .policies import Policy

    Record = SessionRecord[Policy]

Guard = Callable[[SessionRecord[Any], Event | Expire], bool]
Action = Callable[[SessionRecord[Any], Event | Expire, list[Effect]], None]
Deadline = Callable[[SessionRecord[Any]], float | None]

#: Job state each job event needs, and the state it leaves the job in (JOB-LIFECYCLE).
JOB_TRANSITIONS: Mapping[str, tuple[frozenset[JobState], JobState]] = {
    "job_started": (frozenset({JobState.QUEUED}), JobState.RUNNING),
    "job_completed": (frozenset({JobState.RUNNING}), JobState.COMPLETED),
    "job_failed": (frozenset({JobState.QUEUED, JobState.RUNNING}), JobState.FAILED),
    "job_cancelled": (frozenset({JobState.QUEUED, JobState.RUNNING}), JobState.CANCELLED),
}


@attrs.frozen
class Transition:
    """One compiled row: go to ``target`` if the guard passes (or there is none), running
    ``action``."""

    target: StrEnum
    guard: Guard | None
    action: Action | None


@attrs.frozen
class Machine:
    """A provider's machine: its chart, the guards and actions the chart names, its timers,
    and the table compiled from all three."""

    name: str
    chart: type[StateMachine]
    guards: Mapping[str, Guard]
    actions: Mapping[str, Action]
    timers: tuple[tuple[str, Deadline], ...]
    terminal: frozenset[StrEnum]
    refusal_hints: Mapping[str, str]
    status: Callable[[SessionRecord[Any]], str]
    details: Callable[[SessionRecord[Any]], dict[str, Any]]
    table: Mapping[StrEnum, Mapping[str, tuple[Transition, ...]]] = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: compile_chart(self.chart, self.guards, self.actions), takes_self=True
        ),
    )
    #: The timers each state arms: those whose event the chart takes in that state, so a
    #: deadline function is only ever asked in a state where its timer can fire.
    armed: Mapping[StrEnum, tuple[tuple[str, Deadline], ...]] = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: {
                state: tuple(timer for timer in self.timers if timer[0] in rows)
                for state, rows in self.table.items()
            },
            takes_self=True,
        ),
    )


def compile_chart(
    chart: type[StateMachine],
    guards: Mapping[str, Guard],
    actions: Mapping[str, Action],
) -> dict[StrEnum, dict[str, tuple[Transition, ...]]]:
    """Read a python-statemachine declaration into ``table[state][event]`` rows."""
    table: dict[StrEnum, dict[str, tuple[Transition, ...]]] = {}
    for state in chart.states:
        rows: dict[str, tuple[Transition, ...]] = {}
        for transition in state.transitions:
            conds = [spec.func for spec in transition.cond if not spec.is_convention]
            acts = [spec.func for spec in transition.on if not spec.is_convention]
            if len(conds) > 1 or len(acts) > 1:
                raise ValueError(
                    f"{chart.__name__}: a transition takes at most one guard and one action,"
                    f" got guards {conds} and actions {acts}"
                )
            row = Transition(
                target=transition.target.value,
                guard=guards[conds[0]] if conds else None,
                action=actions[acts[0]] if acts else None,
            )
            for event in transition.events:
                rows[event.id] = (*rows.get(event.id, ()), row)
        table[state.value] = rows
    return table


def next_deadline(rec: Record) -> float:
    """The earliest armed timer's deadline, or infinity when no timer is armed."""
    earliest = math.inf
    for _, deadline in rec.policy.machine.armed[rec.state]:
        due = deadline(rec)
        if due is not None and due < earliest:
            earliest = due
    return earliest


def handle(rec: Record, event: Event) -> tuple[Record, list[Effect]]:
    """Apply ``event``; return the record to keep (``rec`` or an updated copy) and the effects.

    Raises a ``SessionError`` subclass, with ``rec`` untouched, when the event is refused.
    """
    at = event.at
    if not rec.last_at <= at < math.inf:
        raise _refusal(
            InvalidEventError,
            rec,
            event.name,
            f"its time {at!r} is before the session's last event at {rec.last_at!r} or is not"
            " a finite number; events must arrive in time order on one monotonic clock",
        )
    effects: list[Effect] = []
    if rec.deadline <= at:
        if not isinstance(event, Advance):
            rec = rec.fork()
        fire_timers(rec, at, effects)
    if not isinstance(event, Advance):
        _step(rec, event, effects)
    rec.last_at = at
    return rec, effects


def fire_timers(rec: Record, upto: float, effects: list[Effect]) -> None:
    """Fire every timer due by ``upto`` in deadline order, each at its own deadline."""
    armed = rec.policy.machine.armed
    while rec.deadline <= upto:
        due_at = rec.deadline
        for timer, deadline in armed[rec.state]:
            if deadline(rec) == due_at:
                rec.last_at = due_at
                _step(rec, Expire(timer, due_at), effects)
                break


def _step(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    machine = rec.policy.machine
    name = event.name
    job = check_job(rec, event)
    for row in machine.table[rec.state].get(name, ()):
        if row.guard is None or row.guard(rec, event):
            break
    else:
        raise refusal(rec, name)
    before = (rec.state, rec.accepting_jobs, rec.exclusive)
    book(rec, event, job)
    if row.action is not None:
        row.action(rec, event, effects)
    settle(rec, event, before, row.target, effects)


def settle(
    rec: Record,
    event: Event | Expire,
    before: tuple[StrEnum, bool, bool],
    target: StrEnum,
    effects: list[Effect],
) -> None:
    """Enter ``target``, derive the effects of what changed, and re-arm the timers."""
    previous, accepting, exclusive = before
    rec.state = target
    if previous is not target or accepting is not rec.accepting_jobs:
        if previous is not target:
            if rec.timestamps:
                rec.timestamps.append((str(target), event.at))
            else:
                rec.timestamps = [(str(target), event.at)]
        effects.append(
            StateChanged(
                rec.session_id, event.at, str(previous), str(target), rec.accepting_jobs, event.name
            )
        )
    if exclusive is not rec.exclusive:
        effects.append(ExclusivityChanged(rec.session_id, event.at, rec.exclusive))
    rec.deadline = next_deadline(rec)


def check_job(rec: Record, event: Event | Expire) -> JobRow | None:
    """Return the job an event concerns (``None`` for a new submission or a session event),
    or refuse the event (JOB-LIFECYCLE, EVENT-UNKNOWN-JOB, EVENT-DUPLICATE-JOB)."""
    name = event.name
    rule = JOB_TRANSITIONS.get(name)
    if rule is None and name != "submit":
        return None
    job_id = getattr(event, "job_id")  # noqa: B009 - every job event has one
    if type(job_id) is not str or not job_id:
        raise _refusal(InvalidEventError, rec, name, f"job id {job_id!r} is not a non-empty str")
    job = rec.job_rows.get(job_id)
    if rule is not None:
        if job is None:
            raise _refusal(
                InvalidEventError, rec, name, f"job {job_id!r} was never submitted to it"
            )
        if job[0] not in rule[0]:
            raise _refusal(
                InvalidEventError,
                rec,
                name,
                f"job {job_id!r} is {job[0]}, and {name} needs it " + " or ".join(sorted(rule[0])),
            )
        return job
    if job is not None:
        raise _refusal(
            InvalidEventError,
            rec,
            name,
            f"job {job_id!r} was already submitted; job ids are unique within a session",
        )
    target, own = getattr(event, "target"), rec.policy.target  # noqa: B009
    if target is not None and own is not None and target != own:
        raise _refusal(
            InvalidEventError,
            rec,
            name,
            f"job {job_id!r} is for {target!r} but the session runs on {own!r};"
            " open a session on that target instead",
        )
    return None


def book(rec: Record, event: Event | Expire, job: JobRow | None) -> None:
    """Generic job bookkeeping, done after the guards and before the provider's action
    (JOB-LIFECYCLE, JOB-TIMES). ``job`` is what ``check_job`` returned."""
    at = event.at
    if job is None:
        if event.name == "submit":
            if not rec.job_rows:
                rec.job_rows = {}
            rec.job_rows[getattr(event, "job_id")] = (JobState.QUEUED, at, None, None, None)  # noqa: B009
            rec.in_flight += 1
            rec.last_submitted_at = at
        return
    job_id: str = getattr(event, "job_id")  # noqa: B009 - checked by check_job
    state = JOB_TRANSITIONS[event.name][1]
    if state is JobState.RUNNING:
        rec.job_rows[job_id] = (state, job[1], at, None, None)
        rec.last_job_started = at
        if rec.started_at is None:
            rec.started_at = at
        return
    reason = event.reason if isinstance(event, JobFailed) else None
    rec.job_rows[job_id] = (state, job[1], job[2], at, reason)
    rec.in_flight -= 1
    rec.last_job_completed = at
    if state is JobState.FAILED:
        rec.failures += 1


def end_jobs(
    rec: SessionRecord[Any], at: float, states: tuple[JobState, ...], end: JobState, reason: str
) -> tuple[str, ...]:
    """End every job in ``states`` as ``end`` (the session did it); return their ids. The
    jobs go into a new job map, as a fork may share the old one (``SessionRecord.fork``)."""
    ids = rec.in_flight_ids(*states)
    if ids:
        rec.job_rows = rows = dict(rec.job_rows)
        for job_id in ids:
            row = rows[job_id]
            rows[job_id] = (end, row[1], row[2], at, reason)
    rec.in_flight -= len(ids)
    return ids


def refusal(rec: Record, event: str) -> SessionError:
    """The error for an event no transition of the current state takes."""
    hint = rec.policy.machine.refusal_hints.get(event)
    if event == "submit":
        return _refusal(SessionClosedError, rec, event, hint or "it does not accept jobs")
    return _refusal(InvalidEventError, rec, event, hint or "this state does not allow it")


def _refusal(
    kind: type[SessionError], rec: SessionRecord[Any], event: str, why: str
) -> SessionError:
    message = (
        f"session {rec.session_id!r} ({rec.policy.machine.name}) is {str(rec.state)!r}"
        f"{'' if rec.accepting_jobs else ' and not accepting jobs'}; cannot take {event!r}: {why}"
    )
    return kind(message, session_id=rec.session_id, state=str(rec.state), event=event)
