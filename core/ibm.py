"""IBM Qiskit Runtime sessions and batches.

Theory of operation
-------------------
A session (``mode="dedicated"``) or batch (``mode="batch"``) is created ``open``. Its first job
goes through the normal queue; when that job starts running the session becomes ``active``, and
the max TTL timer starts and never pauses (IBM-START-ON-FIRST-JOB-START, IBM-MAXTTL-FROM-START).
While active, a dedicated session holds the QPU exclusively (IBM-EXCLUSIVE-WHEN-ACTIVE). After
each job ends, the interactive TTL runs; if no job is queued or running when it lapses, the
session turns ``inactive`` and its next job queues normally and reactivates it when it starts
(IBM-ITTL-DEACTIVATE, IBM-REACTIVATE). A session no job was ever submitted to closes itself
30 minutes after opening (IBM-UNUSED-30MIN).

Three verbs end it: ``close()`` stops accepting and drains, closing when the last job ends
(IBM-CLOSE-DRAINS); ``cancel()`` closes at once and cancels queued jobs (IBM-CANCEL); the max TTL
closes it at once and fails queued jobs (IBM-MAXTTL-QUEUED-FAIL). In the last two the running
job finishes (IBM-MAXTTL-RUNNING-FINISHES), which is why ``closed`` still takes job-end events.
``closed`` accepts nothing and is never left (IBM-CLOSED-TERMINAL). Sources: IBM Quantum docs
"Introduction to execution modes", "Run jobs in a session" and the qiskit-ibm-runtime
``Session`` API reference; each rule's source is in ``qsession.spec.catalogue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from statemachine import State, StateMachine

from .effects import Effect, JobsCancelled, JobsFailed
from .engine import Action, Deadline, Guard, Machine, end_jobs
from .events import Event, Expire
from .records import JobState, SessionRecord

if TYPE_CHECKING:
    from .policies import IBMPolicy

    Record = SessionRecord[IBMPolicy]


class IBMState(StrEnum):
    """Server session states (the Runtime REST API's ``CreateSession200Response.state``)."""

    #: Created; waiting for its first job to start.
    OPEN = "open"
    #: Has priority; running jobs or within the interactive TTL.
    ACTIVE = "active"
    #: Interactive TTL lapsed: no priority; the next job queues normally.
    INACTIVE = "inactive"
    #: Will not accept or run new jobs.
    CLOSED = "closed"


def _job_end(open_: State, active: State, inactive: State, closed: State) -> Any:
    """A job ending, the same rows for completed, failed and cancelled: the last job of a
    closing session closes it (IBM-CLOSE-DRAINS); otherwise the state stays."""
    return (
        closed.from_(open_, active, inactive, cond="last_to_drain", on="finish")
        | open_.to.itself(internal=True)
        | active.to.itself(internal=True)
        | inactive.to.itself(internal=True)
        | closed.to.itself(internal=True)
    )


class IBMSessionChart(StateMachine):
    """The IBM session/batch chart; the compiled table and the Mermaid diagram come from it."""

    allow_event_without_transition = False
    catch_errors_as_events = False

    open = State("open", initial=True, value=IBMState.OPEN)
    active = State("active", value=IBMState.ACTIVE)
    inactive = State("inactive", value=IBMState.INACTIVE)
    closed = State("closed", value=IBMState.CLOSED)

    submit = (
        open.to.itself(cond="accepting", internal=True)
        | active.to.itself(cond="accepting", internal=True)
        | inactive.to.itself(cond="accepting", internal=True)
    )
    job_started = (
        open.to(active, on="activate")
        | inactive.to(active, on="activate")
        | active.to.itself(internal=True)
    )
    job_completed = _job_end(open, active, inactive, closed)
    job_failed = _job_end(open, active, inactive, closed)
    job_cancelled = _job_end(open, active, inactive, closed)
    close = (
        closed.from_(open, active, inactive, cond="idle", on="finish")
        | open.to.itself(on="stop_accepting", internal=True)
        | active.to.itself(on="stop_accepting", internal=True)
        | inactive.to.itself(on="stop_accepting", internal=True)
        | closed.to.itself(internal=True)
    )
    cancel = closed.from_(open, active, inactive, on="cancel_queued") | closed.to.itself(
        internal=True
    )
    max_ttl_reached = closed.from_(active, inactive, on="fail_queued")
    interactive_ttl_expired = active.to(inactive, on="deactivate")
    unused_timeout = open.to(closed, on="finish")


def _accepting(rec: Record, event: Event | Expire) -> bool:
    return rec.accepting_jobs


def _idle(rec: Record, event: Event | Expire) -> bool:
    return rec.in_flight == 0


def _last_to_drain(rec: Record, event: Event | Expire) -> bool:
    return not rec.accepting_jobs and rec.in_flight == 1


def _activate(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.activated_at = event.at
    rec.exclusive = rec.policy.exclusive


def _deactivate(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    _leave_active(rec, event.at)


def _stop_accepting(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.accepting_jobs = False


def _finish(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    if rec.state is IBMState.ACTIVE:
        _leave_active(rec, event.at)
    rec.accepting_jobs = False
    rec.closed_at = event.at


def _cancel_queued(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    ids = end_jobs(rec, event.at, (JobState.QUEUED,), JobState.CANCELLED, "session cancelled")
    if ids:
        effects.append(JobsCancelled(rec.session_id, event.at, ids, "session cancelled"))
    _finish(rec, event, effects)


def _fail_queued(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    ids = end_jobs(rec, event.at, (JobState.QUEUED,), JobState.FAILED, "max TTL reached")
    if ids:
        effects.append(JobsFailed(rec.session_id, event.at, ids, "max TTL reached"))
    _finish(rec, event, effects)


def _leave_active(rec: Record, at: float) -> None:
    assert rec.activated_at is not None
    rec.active_seconds += at - rec.activated_at
    rec.exclusive = False


# Deadlines. Each is only asked in the states whose chart row takes its timer event
# (``Machine.armed``): max TTL in active and inactive, the interactive TTL in active, the
# unused timeout in open.


def _max_ttl(rec: Record) -> float | None:
    return None if rec.started_at is None else rec.started_at + rec.policy.max_time


def _interactive_ttl(rec: Record) -> float | None:
    if rec.in_flight or rec.last_job_completed is None:
        return None
    return rec.last_job_completed + rec.policy.interactive_ttl


def _unused(rec: Record) -> float | None:
    if rec.last_submitted_at is not None:
        return None
    return rec.created_at + rec.policy.unused_timeout


GUARDS: Mapping[str, Guard] = {
    "accepting": _accepting,
    "idle": _idle,
    "last_to_drain": _last_to_drain,
}
ACTIONS: Mapping[str, Action] = {
    "activate": _activate,
    "deactivate": _deactivate,
    "stop_accepting": _stop_accepting,
    "finish": _finish,
    "cancel_queued": _cancel_queued,
    "fail_queued": _fail_queued,
}
#: Timer events and their deadlines; on a tie the earlier row fires first.
TIMERS: tuple[tuple[str, Deadline], ...] = (
    ("max_ttl_reached", _max_ttl),
    ("interactive_ttl_expired", _interactive_ttl),
    ("unused_timeout", _unused),
)


def ibm_status(state: str, accepting_jobs: bool) -> str:
    """``Session.status()`` exactly as qiskit-ibm-runtime computes it from ``details()``
    (IBM-STATUS; it also maps the server-only ``pending_*`` states)."""
    if state in ("open", "inactive"):
        return "Pending"
    if (state == "active" and accepting_jobs) or state == "pending_inactive":
        return "In progress, accepting new jobs"
    if (state == "active" and not accepting_jobs) or state == "pending_closed":
        return "In progress, not accepting new jobs"
    return state.capitalize()


def details(rec: Record) -> dict[str, Any]:
    """``Session.details()``: the same keys as qiskit-ibm-runtime, times on the caller's clock
    (IBM-DETAILS-KEYS). ``active_timeout`` is not documented by IBM and is reported as None."""
    policy = rec.policy
    usage = rec.active_seconds
    if rec.state is IBMState.ACTIVE and rec.activated_at is not None:
        usage += rec.last_at - rec.activated_at
    return {
        "id": rec.session_id,
        "backend_name": policy.target,
        "interactive_timeout": policy.interactive_ttl,
        "max_time": policy.max_time,
        "active_timeout": None,
        "state": str(rec.state),
        "accepting_jobs": rec.accepting_jobs,
        "last_job_started": rec.last_job_started,
        "last_job_completed": rec.last_job_completed,
        "started_at": rec.started_at,
        "closed_at": rec.closed_at,
        "activated_at": rec.activated_at,
        "mode": policy.mode,
        "usage_time": usage,
        "timestamps": [
            {"status": status, "timestamp": at}
            for status, at in [(str(IBMState.OPEN), rec.created_at), *rec.timestamps]
        ],
    }


MACHINE = Machine(
    name="IBM Qiskit Runtime",
    chart=IBMSessionChart,
    guards=GUARDS,
    actions=ACTIONS,
    timers=TIMERS,
    terminal=frozenset({IBMState.CLOSED}),
    refusal_hints={
        "submit": "The session is closed: it no longer accepts jobs (closed, cancelled or past"
        " its max TTL); open a new Session to run more jobs",
    },
    status=lambda rec: ibm_status(str(rec.state), rec.accepting_jobs),
    details=details,
)
