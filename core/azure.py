"""Azure Quantum sessions.

Theory of operation
-------------------
A session belongs to exactly one target (AZ-ONE-TARGET) and opens ``Waiting``; its first job
submission turns it ``Executing`` (AZ-WAITING-UNTIL-FIRST-JOB). Closing it stops submissions:
with nothing in flight it ends at once, ``Succeeded`` (``Failed`` if any job failed); with jobs
in flight it keeps its status until the last one ends (AZ-CLOSE-IDLE, AZ-CLOSE-DRAINS).

A failed job under ``job_failure_policy="abort"`` (the service default) ends the session
``Failed`` at once and cancels the jobs still in flight (AZ-ABORT); under ``"continue"`` the
session shows ``Failure(s)``, keeps accepting, and ends ``Failed`` when closed (AZ-CONTINUE).
With no job in flight and no new submission for 10 minutes the session ends ``TimedOut``, even
after failures (AZ-TIMEOUT-10MIN). On Quantinuum targets the session holds the hardware
exclusively from its first job while jobs are queued within one minute of each other
(AZ-QUANTINUUM-EXCLUSIVE). ``Succeeded``, ``Failed`` and ``TimedOut`` are terminal: they accept
nothing and are never left (AZ-TERMINAL). There is no cancel verb (AZ-NO-CANCEL). Sources:
Microsoft Learn "Interactive quantum computing: sessions" and the azure-quantum SDK's recorded
service traces; each rule's source is in ``qsession.spec.catalogue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from statemachine import State, StateMachine

from .effects import Effect, JobsCancelled
from .engine import Action, Deadline, Guard, Machine, end_jobs
from .events import Event, Expire
from .records import JobState, SessionRecord

if TYPE_CHECKING:
    from .policies import AzurePolicy

    Record = SessionRecord[AzurePolicy]


class AzureState(StrEnum):
    """``SessionStatus`` values exactly as the service sends them (``_client/models/_enums.py``)."""

    #: Opened; no job submitted yet.
    WAITING = "Waiting"
    #: Has had jobs; stays so until closed or timed out.
    EXECUTING = "Executing"
    #: A job failed under the ``continue`` policy; still accepting jobs.
    FAILURES = "Failure(s)"
    #: Ended after close with no failed job.
    SUCCEEDED = "Succeeded"
    #: Ended by a failure under ``abort``, or closed after failures under ``continue``.
    FAILED = "Failed"
    #: Ended by the 10-minute timeout.
    TIMED_OUT = "TimedOut"


def _job_end(executing: State, failures: State, succeeded: State, failed: State) -> Any:
    """A job completing or cancelled: the last job of a closing session ends it, Succeeded or
    Failed after failures (AZ-CLOSE-DRAINS); otherwise the state stays."""
    return (
        executing.to(succeeded, cond="last_to_drain", on="finish")
        | executing.to.itself(internal=True)
        | failures.to(failed, cond="last_to_drain", on="finish")
        | failures.to.itself(internal=True)
    )


class AzureSessionChart(StateMachine):
    """The Azure Quantum session chart; the compiled table and the diagram come from it."""

    allow_event_without_transition = False
    catch_errors_as_events = False

    waiting = State("Waiting", initial=True, value=AzureState.WAITING)
    executing = State("Executing", value=AzureState.EXECUTING)
    failures = State("Failure(s)", value=AzureState.FAILURES)
    succeeded = State("Succeeded", value=AzureState.SUCCEEDED)
    failed = State("Failed", value=AzureState.FAILED)
    timed_out = State("TimedOut", value=AzureState.TIMED_OUT)

    submit = (
        waiting.to(executing, cond="accepting", on="first_job")
        | executing.to.itself(cond="accepting", internal=True)
        | failures.to.itself(cond="accepting", internal=True)
    )
    job_started = executing.to.itself(internal=True) | failures.to.itself(internal=True)
    job_completed = _job_end(executing, failures, succeeded, failed)
    job_cancelled = _job_end(executing, failures, succeeded, failed)
    job_failed = (
        executing.to(failed, cond="aborts", on="abort")
        | failed.from_(executing, failures, cond="last_to_drain", on="finish")
        | executing.to(failures)
        | failures.to.itself(internal=True)
    )
    close = (
        waiting.to(succeeded, on="finish")
        | executing.to(succeeded, cond="idle", on="finish")
        | executing.to.itself(on="stop_accepting", internal=True)
        | failures.to(failed, cond="idle", on="finish")
        | failures.to.itself(on="stop_accepting", internal=True)
        | succeeded.to.itself(internal=True)
        | failed.to.itself(internal=True)
        | timed_out.to.itself(internal=True)
    )
    idle_timeout = timed_out.from_(waiting, executing, failures, on="finish")
    exclusivity_lapsed = executing.to.itself(
        on="lapse_exclusivity", internal=True
    ) | failures.to.itself(on="lapse_exclusivity", internal=True)


def _accepting(rec: Record, event: Event | Expire) -> bool:
    return rec.accepting_jobs


def _idle(rec: Record, event: Event | Expire) -> bool:
    return rec.in_flight == 0


def _last_to_drain(rec: Record, event: Event | Expire) -> bool:
    return not rec.accepting_jobs and rec.in_flight == 1


def _aborts(rec: Record, event: Event | Expire) -> bool:
    return rec.policy.job_failure_policy == "abort"


def _first_job(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.exclusive = rec.policy.exclusive_window is not None


def _stop_accepting(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.accepting_jobs = False


def _finish(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.accepting_jobs = False
    rec.exclusive = False
    rec.closed_at = event.at


def _abort(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    reason = f"session aborted: job {getattr(event, 'job_id', '?')!r} failed"
    ids = end_jobs(rec, event.at, (JobState.QUEUED, JobState.RUNNING), JobState.CANCELLED, reason)
    if ids:
        effects.append(JobsCancelled(rec.session_id, event.at, ids, reason))
    _finish(rec, event, effects)


def _lapse_exclusivity(rec: Record, event: Event | Expire, effects: list[Effect]) -> None:
    rec.exclusive = False


def _last_activity(rec: Record) -> float:
    """The later of opening, the last submission and the last job end (AZ-TIMEOUT-10MIN)."""
    latest = rec.created_at
    for at in (rec.last_submitted_at, rec.last_job_completed):
        if at is not None and at > latest:
            latest = at
    return latest


# Deadlines. Each is only asked in the states whose chart row takes its timer event
# (``Machine.armed``): the timeout before the session ends, exclusivity while executing.


def _idle_timeout(rec: Record) -> float | None:
    if rec.in_flight:
        return None
    return _last_activity(rec) + rec.policy.idle_timeout


def _exclusivity(rec: Record) -> float | None:
    window = rec.policy.exclusive_window
    if not rec.exclusive or rec.in_flight or window is None:
        return None
    return _last_activity(rec) + window


TERMINAL = frozenset({AzureState.SUCCEEDED, AzureState.FAILED, AzureState.TIMED_OUT})

GUARDS: Mapping[str, Guard] = {
    "accepting": _accepting,
    "idle": _idle,
    "last_to_drain": _last_to_drain,
    "aborts": _aborts,
}
ACTIONS: Mapping[str, Action] = {
    "first_job": _first_job,
    "stop_accepting": _stop_accepting,
    "finish": _finish,
    "abort": _abort,
    "lapse_exclusivity": _lapse_exclusivity,
}
#: Timer events and their deadlines; on a tie the earlier row fires first.
TIMERS: tuple[tuple[str, Deadline], ...] = (
    ("idle_timeout", _idle_timeout),
    ("exclusivity_lapsed", _exclusivity),
)


def details(rec: Record) -> dict[str, Any]:
    """The service's ``SessionDetails`` fields, times on the caller's clock."""
    policy = rec.policy
    return {
        "id": rec.session_id,
        "providerId": policy.provider_id,
        "target": policy.target,
        "itemType": "Session",
        "jobFailurePolicy": policy.job_failure_policy.capitalize(),
        "priority": policy.priority,
        "status": str(rec.state),
        "creationTime": rec.created_at,
        "beginExecutionTime": rec.started_at,
        "endExecutionTime": rec.closed_at,
    }


MACHINE = Machine(
    name="Azure Quantum",
    chart=AzureSessionChart,
    guards=GUARDS,
    actions=ACTIONS,
    timers=TIMERS,
    terminal=TERMINAL,
    refusal_hints={
        "submit": "Session is already in a terminal state or closed; open a new session"
        " (target.open_session(...)) to submit more jobs",
        "cancel": "Azure Quantum sessions have no cancel verb; call close() to stop accepting"
        " jobs and let the submitted ones finish",
    },
    status=lambda rec: str(rec.state),
    details=details,
)
