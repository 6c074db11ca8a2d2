"""One executable property per rule of the catalogue, and the comparison with the reference.

A property looks at one ``Step`` (the core's record before and after, the event, its effects
or error, and the reference model's views before and after with its outcome) and answers
``None`` when the rule does not apply to that step, else whether the rule held. The checker
feeds it steps in which only ``Advance`` steps fire timers, each at its own deadline.

Properties read from the core only what it reports (state, ``accepting_jobs``, exclusivity,
jobs, effects, errors, ``status``, ``details()``, ``next_deadline``); every time and constant
they need comes from the reference model (``reference``), which recomputes it from the trace.
``agreement`` compares everything the core reports with the reference at every step and names
the rules each difference breaks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from qsession.core.azure import AzureState
from qsession.core.effects import (
    Effect,
    ExclusivityChanged,
    JobsCancelled,
    JobsFailed,
    StateChanged,
)
from qsession.core.errors import InvalidEventError, SessionClosedError, SessionError
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
from qsession.core.ibm import IBMState
from qsession.core.policies import AzurePolicy, IBMPolicy
from qsession.core.records import JobState, SessionRecord
from qsession.core.session import Session

from . import reference as ref
from .reference import Outcome, RefEffect, View

Record = SessionRecord[Any]


@attrs.frozen
class Step:
    """One event applied to a session: the core's records around it, its effects or error,
    and the reference model's views around it with its outcome."""

    before: Record
    event: Event
    after: Record
    effects: tuple[Effect, ...]
    error: SessionError | None
    ref_before: View
    ref_after: View
    outcome: Outcome


Property = Callable[[Step], bool | None]

IN_FLIGHT = (JobState.QUEUED, JobState.RUNNING)
JOB_EVENTS = (JobStarted, JobCompleted, JobFailed, JobCancelled)
#: The keys of qiskit_ibm_runtime.Session.details() (qiskit-ibm-runtime 0.51.0, session.py).
IBM_DETAILS_KEYS = frozenset(
    {
        "id",
        "backend_name",
        "interactive_timeout",
        "max_time",
        "active_timeout",
        "state",
        "accepting_jobs",
        "last_job_started",
        "last_job_completed",
        "started_at",
        "closed_at",
        "activated_at",
        "mode",
        "usage_time",
        "timestamps",
    }
)
#: azure-quantum 3.13.0, _client/models/_enums.py: SessionStatus.
AZURE_STATUSES = frozenset(
    {"Waiting", "Executing", "Succeeded", "Failed", "Failure(s)", "TimedOut"}
)
AZURE_TERMINAL = frozenset({AzureState.SUCCEEDED, AzureState.FAILED, AzureState.TIMED_OUT})


def ids(rec: Record, *states: JobState) -> set[str]:
    return {job_id for job_id, job in rec.jobs.items() if job.state in states}


def ok(step: Step) -> bool:
    return step.error is None


def is_ibm(step: Step) -> bool:
    return isinstance(step.before.policy, IBMPolicy)


def is_azure(step: Step) -> bool:
    return isinstance(step.before.policy, AzurePolicy)


def in_order(step: Step) -> bool:
    """The event's time is not before the session's last event (reference's clock)."""
    return step.ref_before.now <= step.event.at < math.inf


def new_submission(step: Step) -> bool:
    """A submit the generic job rules accept: new id, the session's own target (if any)."""
    event, before = step.event, step.before
    if not isinstance(event, Submit) or event.job_id in before.jobs:
        return False
    own = before.policy.target
    return event.target is None or own is None or event.target == own


def core_details(rec: Record) -> dict[str, Any]:
    details: dict[str, Any] = rec.policy.machine.details(rec)
    return details


def core_status(rec: Record) -> str:
    status: str = rec.policy.machine.status(rec)
    return status


def core_deadline(rec: Record) -> float | None:
    """``next_deadline`` as ``Session`` reports it."""
    return Session(rec).next_deadline


def armed(view: View, timer: str) -> float | None:
    """The reference's deadline for ``timer``, or None when it is not armed."""
    return next((at for name, at in view.deadlines if name == timer), None)


def due(view: View, timer: str, at: float) -> bool:
    deadline = armed(view, timer)
    return deadline is not None and deadline <= at


def max_ttl_due(step: Step) -> bool:
    return due(step.ref_before, "max_ttl_reached", step.event.at)


def interactive_ttl(rec: Record) -> float:
    policy = rec.policy
    assert isinstance(policy, IBMPolicy)
    return ref.BATCH_INTERACTIVE_TTL if policy.mode == "batch" else ref.PREMIUM_INTERACTIVE_TTL


# -- generic rules -------------------------------------------------------------------------


def event_time_order(step: Step) -> bool | None:
    if in_order(step):
        return None
    return isinstance(step.error, InvalidEventError)


def event_unknown_job(step: Step) -> bool | None:
    event = step.event
    if not isinstance(event, JOB_EVENTS) or event.job_id in step.before.jobs:
        return None
    if not in_order(step):
        return None
    return isinstance(step.error, InvalidEventError)


def event_duplicate_job(step: Step) -> bool | None:
    event = step.event
    if not isinstance(event, Submit) or event.job_id not in step.before.jobs:
        return None
    if not in_order(step):
        return None
    return isinstance(step.error, InvalidEventError)


def event_error_no_change(step: Step) -> bool | None:
    if step.error is None:
        return None
    return step.after == step.before and not step.effects


def job_lifecycle(step: Step) -> bool | None:
    event = step.event
    if not isinstance(event, JOB_EVENTS) or event.job_id not in step.before.jobs:
        return None
    if not in_order(step):
        return None
    state = step.before.jobs[event.job_id].state
    allowed = {
        JobStarted: (JobState.QUEUED,),
        JobCompleted: (JobState.RUNNING,),
        JobFailed: IN_FLIGHT,
        JobCancelled: IN_FLIGHT,
    }[type(event)]
    if state not in allowed:
        return isinstance(step.error, InvalidEventError)
    if step.error is not None:
        return True
    expected = {
        JobStarted: JobState.RUNNING,
        JobCompleted: JobState.COMPLETED,
        JobFailed: JobState.FAILED,
        JobCancelled: JobState.CANCELLED,
    }[type(event)]
    return step.after.jobs[event.job_id].state is expected


def job_terminal_final(step: Step) -> bool | None:
    ended = {job_id: job for job_id, job in step.before.jobs.items() if job.state not in IN_FLIGHT}
    if not ended:
        return None
    return all(step.after.jobs.get(job_id) == job for job_id, job in ended.items())


def job_times(step: Step) -> bool | None:
    event = step.event
    if not ok(step) or not isinstance(event, (Submit, *JOB_EVENTS)):
        return None
    job = step.after.jobs[event.job_id]
    if isinstance(event, Submit):
        return job.submitted_at == event.at and job.started_at is None and job.ended_at is None
    if isinstance(event, JobStarted):
        return job.started_at == event.at and job.ended_at is None
    return job.ended_at == event.at


def job_conservation(step: Step) -> bool | None:
    if not ok(step):
        return None
    expected = set(step.before.jobs)
    if isinstance(step.event, Submit):
        expected.add(step.event.job_id)
    in_flight = len(ids(step.after, *IN_FLIGHT))
    return set(step.after.jobs) == expected and step.after.in_flight == in_flight


# -- IBM -----------------------------------------------------------------------------------


def ibm_start_on_first_job_start(step: Step) -> bool | None:
    """Two-sided: the first job start starts the session, and nothing else does (an open
    session never closes with a job still queued, nor starts before a job runs)."""
    if not is_ibm(step) or not ok(step) or step.ref_before.first_start is not None:
        return None
    started = core_details(step.after)["started_at"]
    if isinstance(step.event, JobStarted):
        return started == step.event.at and step.after.state is IBMState.ACTIVE
    if step.after.state is IBMState.CLOSED:
        return started is None and not ids(step.after, JobState.QUEUED)
    return started is None and step.after.state is IBMState.OPEN


def ibm_maxttl_from_start(step: Step) -> bool | None:
    """Two-sided: at first start + max_time the session closes (nothing late), and the max
    TTL never closes it before then (nothing early)."""
    if not is_ibm(step) or not ok(step) or step.ref_after.first_start is None:
        return None
    end = step.ref_after.first_start + step.after.policy.max_time
    closed_by_ttl = any(
        isinstance(e, StateChanged) and e.cause == "max_ttl_reached" for e in step.effects
    )
    if max_ttl_due(step):
        return step.after.state is IBMState.CLOSED and core_details(step.after)["closed_at"] == end
    if closed_by_ttl:
        return False
    if step.after.state is IBMState.CLOSED:
        return None
    deadline = core_deadline(step.after)
    return deadline is not None and deadline <= end


def ibm_maxttl_queued_fail(step: Step) -> bool | None:
    if not is_ibm(step) or not ok(step) or not max_ttl_due(step):
        return None
    queued = {i for i, job in step.ref_before.jobs if job.state == "queued"}
    failed = set().union(*(e.job_ids for e in step.effects if isinstance(e, JobsFailed)))
    return (
        all(step.after.jobs[job_id].state is JobState.FAILED for job_id in queued)
        and failed == queued
        and not step.after.accepting_jobs
    )


def ibm_running_finishes(step: Step) -> bool | None:
    if not is_ibm(step) or not ok(step):
        return None
    ending = isinstance(step.event, Cancel) or max_ttl_due(step)
    if not ending or step.ref_before.state == "closed":
        return None
    running = ids(step.before, JobState.RUNNING)
    return all(step.after.jobs[job_id].state is JobState.RUNNING for job_id in running)


def ibm_ittl_deactivate(step: Step) -> bool | None:
    """Two-sided: an idle active session turns inactive at its last job end plus the
    interactive TTL, not before and not after (the max TTL at the same instant wins)."""
    before, after = step.ref_before, step.after
    if not is_ibm(step) or not ok(step) or before.state != "active":
        return None
    last_end = before.last_job_end
    idle = not before.job_ids(*ref.IN_FLIGHT) and last_end is not None
    lapse = last_end + interactive_ttl(step.before) if idle and last_end is not None else math.inf
    lapsed = isinstance(step.event, Advance) and step.event.at >= lapse
    if lapsed:
        return (
            None if max_ttl_due(step) else after.state is IBMState.INACTIVE and not after.exclusive
        )
    return None if after.state is not IBMState.INACTIVE else False


def ibm_reactivate(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or step.ref_before.state != "inactive" or not ok(step):
        return None
    if isinstance(step.event, JobStarted):
        return after.state is IBMState.ACTIVE and (
            core_details(after)["activated_at"] == step.event.at
        )
    if new_submission(step):
        return after.state is IBMState.INACTIVE and after.jobs.keys() > before.jobs.keys()
    return None


def ibm_close_drains(step: Step) -> bool | None:
    before, after, event = step.before, step.after, step.event
    if not is_ibm(step) or not ok(step) or step.ref_before.state == "closed":
        return None
    if isinstance(event, Close):
        if ids(before, *IN_FLIGHT):
            return (
                after.state is before.state
                and not after.accepting_jobs
                and after.jobs == before.jobs
            )
        return after.state is IBMState.CLOSED and core_details(after)["closed_at"] == event.at
    if isinstance(event, JOB_EVENTS[1:]) and not step.ref_before.accepting_jobs:
        last = step.ref_before.job_ids(*ref.IN_FLIGHT) == {event.job_id}
        return (after.state is IBMState.CLOSED) is last
    return None


def ibm_batch_ends(step: Step) -> bool | None:
    """A batch: closed, it ends with its last job; idle, it goes inactive 1 s after it."""
    if not is_ibm(step) or step.before.policy.mode != "batch" or not ok(step):
        return None
    if step.ref_before.state == "closed":
        return None
    event, before = step.event, step.ref_before
    if isinstance(event, JOB_EVENTS[1:]) and not before.accepting_jobs:
        last = before.job_ids(*ref.IN_FLIGHT) == {event.job_id}
        return (step.after.state is IBMState.CLOSED) is last
    if isinstance(event, Advance) and before.state == "active" and before.last_job_end:
        if before.job_ids(*ref.IN_FLIGHT) or max_ttl_due(step):
            return None
        lapsed = event.at >= before.last_job_end + ref.BATCH_INTERACTIVE_TTL
        return (step.after.state is IBMState.INACTIVE) is lapsed
    return None


def ibm_cancel(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or not isinstance(step.event, Cancel) or not ok(step):
        return None
    if step.ref_before.state == "closed":
        return None
    queued = ids(before, JobState.QUEUED)
    cancelled = set().union(*(e.job_ids for e in step.effects if isinstance(e, JobsCancelled)))
    return (
        after.state is IBMState.CLOSED
        and cancelled == queued
        and all(after.jobs[job_id].state is JobState.CANCELLED for job_id in queued)
    )


def ibm_cost_limit(step: Step) -> bool | None:
    """The cost limit ends the session as cancel() does: closed at once, queued jobs
    cancelled, running jobs run to completion."""
    cancel, running = ibm_cancel(step), ibm_running_finishes(step)
    if cancel is None:
        return None
    return cancel and running is not False


def ibm_job_max_execution_time(step: Step) -> bool | None:
    """A running job the service cancels for exceeding max_execution_time ends cancelled;
    the session carries on and its interactive TTL restarts from that end."""
    event = step.event
    if not is_ibm(step) or not isinstance(event, JobCancelled) or not ok(step):
        return None
    if step.before.jobs[event.job_id].state is not JobState.RUNNING:
        return None
    if step.after.jobs[event.job_id].state is not JobState.CANCELLED:
        return False
    if step.ref_after.state != "active" or step.ref_after.job_ids(*ref.IN_FLIGHT):
        return None
    ttl_end = event.at + interactive_ttl(step.before)
    return core_deadline(step.after) == min(
        ttl_end, armed(step.ref_after, "max_ttl_reached") or ttl_end
    )


def ibm_unused_30min(step: Step) -> bool | None:
    """Two-sided: an open session nothing was submitted to closes 30 minutes after opening,
    not before; once a job was submitted, time alone never closes an open session."""
    before, after = step.ref_before, step.after
    if not is_ibm(step) or not ok(step) or before.state != "open":
        return None
    if not isinstance(step.event, Advance):
        return None
    if before.last_submission is not None:
        return after.state is IBMState.OPEN
    elapsed = step.event.at >= before.created_at + ref.UNUSED_CLOSE
    return (after.state is IBMState.CLOSED) is elapsed


def ibm_submit_closed(step: Step) -> bool | None:
    if not is_ibm(step) or not new_submission(step) or not in_order(step):
        return None
    if step.ref_before.accepting_jobs and not max_ttl_due(step):
        return step.error is None
    if not step.ref_before.accepting_jobs:
        return isinstance(step.error, SessionClosedError)
    return None


def ibm_one_backend(step: Step) -> bool | None:
    event = step.event
    if not is_ibm(step) or not isinstance(event, Submit) or event.target is None:
        return None
    if event.job_id in step.before.jobs or not in_order(step):
        return None
    own = step.before.policy.target
    if own is not None and event.target != own:
        return isinstance(step.error, InvalidEventError)
    return None


def ibm_status(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    return core_status(step.after) == step.ref_after.status


def ibm_details_keys(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    details = core_details(step.after)
    return set(details) == IBM_DETAILS_KEYS and details == step.ref_after.details


def ibm_exclusive_when_active(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    after = step.after
    dedicated = after.policy.mode == "dedicated"
    return after.exclusive is (dedicated and after.state is IBMState.ACTIVE)


def ibm_closed_terminal(step: Step) -> bool | None:
    """A closed session stays closed, never accepts, and holds no queued job."""
    if not is_ibm(step):
        return None
    if step.after.state is IBMState.CLOSED and ids(step.after, JobState.QUEUED):
        return False
    if step.ref_before.state != "closed":
        return None
    return step.after.state is IBMState.CLOSED and not step.after.accepting_jobs


# -- Azure ---------------------------------------------------------------------------------


def az_status_strings(step: Step) -> bool | None:
    if not is_azure(step):
        return None
    status = core_status(step.after)
    return status in AZURE_STATUSES and status == step.ref_after.status


def az_details(step: Step) -> bool | None:
    """Every details() value as the reference computes it; an end time exactly on the
    terminal states (the recorded traces)."""
    if not is_azure(step):
        return None
    details = core_details(step.after)
    terminal = step.after.state in AZURE_TERMINAL
    return (details["endExecutionTime"] is not None) is terminal and (
        details == step.ref_after.details
    )


def az_waiting_until_first_job(step: Step) -> bool | None:
    if not is_azure(step) or not ok(step) or step.after.state in AZURE_TERMINAL:
        return None
    return (step.after.state is AzureState.WAITING) is (not step.after.jobs)


def az_close_idle(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_azure(step) or not isinstance(step.event, Close) or not ok(step):
        return None
    if step.ref_before.state in ref.AZURE_TERMINAL or ids(before, *IN_FLIGHT):
        return None
    expected = AzureState.FAILED if step.ref_before.failures else AzureState.SUCCEEDED
    end = core_details(after)["endExecutionTime"]
    return after.state is expected and end == step.event.at


def az_close_drains(step: Step) -> bool | None:
    before, after, event = step.before, step.after, step.event
    if not is_azure(step) or not ok(step) or step.ref_before.state in ref.AZURE_TERMINAL:
        return None
    if isinstance(event, Close) and ids(before, *IN_FLIGHT):
        return after.state is before.state and not after.accepting_jobs
    aborts = isinstance(event, JobFailed) and before.policy.job_failure_policy == "abort"
    if isinstance(event, JOB_EVENTS[1:]) and not step.ref_before.accepting_jobs and not aborts:
        if step.ref_before.job_ids(*ref.IN_FLIGHT) != {event.job_id}:
            return after.state not in AZURE_TERMINAL
        expected = AzureState.FAILED if step.ref_after.failures else AzureState.SUCCEEDED
        return after.state is expected
    return None


def az_abort(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_azure(step) or not isinstance(step.event, JobFailed) or not ok(step):
        return None
    if before.policy.job_failure_policy != "abort":
        return None
    others = ids(before, *IN_FLIGHT) - {step.event.job_id}
    cancelled = set().union(*(e.job_ids for e in step.effects if isinstance(e, JobsCancelled)))
    return (
        after.state is AzureState.FAILED
        and not after.accepting_jobs
        and cancelled == others
        and all(after.jobs[job_id].state is JobState.CANCELLED for job_id in others)
    )


def az_continue(step: Step) -> bool | None:
    """A failure under continue shows Failure(s), which later successes never clear."""
    before, after = step.before, step.after
    if not is_azure(step) or not ok(step) or before.policy.job_failure_policy != "continue":
        return None
    if not isinstance(step.event, JobFailed):
        if before.state is AzureState.FAILURES and after.state not in AZURE_TERMINAL:
            return after.state is AzureState.FAILURES
        return None
    if not step.ref_before.accepting_jobs and step.ref_before.job_ids(*ref.IN_FLIGHT) == {
        step.event.job_id
    }:
        return after.state is AzureState.FAILED
    return after.state is AzureState.FAILURES and after.accepting_jobs is before.accepting_jobs


def az_timeout_10min(step: Step) -> bool | None:
    """Two-sided: with nothing in flight the session times out exactly 10 minutes after its
    last activity (opening, submission, job end), never earlier and never with a job in
    flight."""
    before, after = step.ref_before, step.after
    if not is_azure(step) or not ok(step) or before.state in ref.AZURE_TERMINAL:
        return None
    if before.job_ids(*ref.IN_FLIGHT):
        return None if after.state is not AzureState.TIMED_OUT else False
    activity = [before.created_at, before.last_submission, before.last_job_end]
    deadline = max(t for t in activity if t is not None) + ref.AZURE_TIMEOUT
    if isinstance(step.event, Advance):
        timed_out = after.state is AzureState.TIMED_OUT
        end = core_details(after)["endExecutionTime"]
        return timed_out is (step.event.at >= deadline) and (not timed_out or end == deadline)
    return None if after.state is not AzureState.TIMED_OUT else False


def az_one_target(step: Step) -> bool | None:
    event = step.event
    if not is_azure(step) or not isinstance(event, Submit) or event.target is None:
        return None
    if event.job_id in step.before.jobs or not in_order(step):
        return None
    if event.target != step.before.policy.target:
        return isinstance(step.error, InvalidEventError)
    return None


def az_no_cancel(step: Step) -> bool | None:
    if not is_azure(step) or not isinstance(step.event, Cancel) or not in_order(step):
        return None
    return isinstance(step.error, InvalidEventError) and "close" in str(step.error)


def az_submit_closed(step: Step) -> bool | None:
    if not is_azure(step) or not new_submission(step) or not in_order(step):
        return None
    if due(step.ref_before, "idle_timeout", step.event.at):
        return isinstance(step.error, SessionClosedError)
    open_ = step.ref_before.accepting_jobs and step.ref_before.state not in ref.AZURE_TERMINAL
    return step.error is None if open_ else isinstance(step.error, SessionClosedError)


def az_terminal(step: Step) -> bool | None:
    """A terminal session never leaves its state and holds no job in flight."""
    if not is_azure(step):
        return None
    if step.after.state in AZURE_TERMINAL and ids(step.after, *IN_FLIGHT):
        return False
    if step.ref_before.state not in ref.AZURE_TERMINAL:
        return None
    return step.after.state is step.before.state and not step.after.accepting_jobs


def az_quantinuum_exclusive(step: Step) -> bool | None:
    """Two-sided: exclusive from the first job on Quantinuum only, lapsing exactly one
    minute after the last submission or job end with nothing in flight, for good."""
    before, after = step.ref_before, step.after
    if not is_azure(step) or not ok(step):
        return None
    quantinuum = before.details["providerId"] == "quantinuum"
    if not quantinuum or after.state in AZURE_TERMINAL:
        return not after.exclusive
    if not step.before.jobs:
        return after.exclusive is bool(after.jobs)
    if not before.exclusive:
        return not after.exclusive
    activity = max(t for t in (before.last_submission, before.last_job_end) if t is not None)
    lapsed = (
        isinstance(step.event, Advance)
        and not before.job_ids(*ref.IN_FLIGHT)
        and step.event.at >= activity + ref.QUANTINUUM_WINDOW
    )
    changed = any(isinstance(e, ExclusivityChanged) for e in step.effects)
    return after.exclusive is not lapsed and changed is lapsed


PROPERTIES: dict[str, Property] = {
    "EVENT-TIME-ORDER": event_time_order,
    "EVENT-UNKNOWN-JOB": event_unknown_job,
    "EVENT-DUPLICATE-JOB": event_duplicate_job,
    "EVENT-ERROR-NO-CHANGE": event_error_no_change,
    "JOB-LIFECYCLE": job_lifecycle,
    "JOB-TERMINAL-FINAL": job_terminal_final,
    "JOB-TIMES": job_times,
    "JOB-CONSERVATION": job_conservation,
    "IBM-START-ON-FIRST-JOB-START": ibm_start_on_first_job_start,
    "IBM-MAXTTL-FROM-START": ibm_maxttl_from_start,
    "IBM-MAXTTL-QUEUED-FAIL": ibm_maxttl_queued_fail,
    "IBM-RUNNING-FINISHES": ibm_running_finishes,
    "IBM-ITTL-DEACTIVATE": ibm_ittl_deactivate,
    "IBM-REACTIVATE": ibm_reactivate,
    "IBM-CLOSE-DRAINS": ibm_close_drains,
    "IBM-BATCH-ENDS": ibm_batch_ends,
    "IBM-CANCEL": ibm_cancel,
    "IBM-COST-LIMIT": ibm_cost_limit,
    "IBM-JOB-MAX-EXECUTION-TIME": ibm_job_max_execution_time,
    "IBM-UNUSED-30MIN": ibm_unused_30min,
    "IBM-SUBMIT-CLOSED": ibm_submit_closed,
    "IBM-ONE-BACKEND": ibm_one_backend,
    "IBM-STATUS": ibm_status,
    "IBM-DETAILS-KEYS": ibm_details_keys,
    "IBM-EXCLUSIVE-WHEN-ACTIVE": ibm_exclusive_when_active,
    "IBM-CLOSED-TERMINAL": ibm_closed_terminal,
    "AZ-STATUS-STRINGS": az_status_strings,
    "AZ-DETAILS": az_details,
    "AZ-WAITING-UNTIL-FIRST-JOB": az_waiting_until_first_job,
    "AZ-CLOSE-IDLE": az_close_idle,
    "AZ-CLOSE-DRAINS": az_close_drains,
    "AZ-ABORT": az_abort,
    "AZ-CONTINUE": az_continue,
    "AZ-TIMEOUT-10MIN": az_timeout_10min,
    "AZ-ONE-TARGET": az_one_target,
    "AZ-NO-CANCEL": az_no_cancel,
    "AZ-SUBMIT-CLOSED": az_submit_closed,
    "AZ-TERMINAL": az_terminal,
    "AZ-QUANTINUUM-EXCLUSIVE": az_quantinuum_exclusive,
}


# -- the comparison with the reference model -------------------------------------------------


def core_effects(effects: tuple[Effect, ...]) -> tuple[RefEffect, ...]:
    """The core's effects in the reference's terms (reasons are prose and not compared)."""
    out: list[RefEffect] = []
    for e in effects:
        if isinstance(e, StateChanged):
            out.append(("state", e.at, e.previous, e.state, e.accepting_jobs, e.cause))
        elif isinstance(e, ExclusivityChanged):
            out.append(("exclusive", e.at, e.exclusive))
        elif isinstance(e, JobsFailed):
            out.append(("failed", e.at, e.job_ids))
        else:
            out.append(("cancelled", e.at, e.job_ids))
    return tuple(out)


def core_jobs(rec: Record) -> tuple[tuple[str, ref.RefJob], ...]:
    return tuple(
        (job_id, ref.RefJob(str(job.state), job.submitted_at, job.started_at, job.ended_at))
        for job_id, job in rec.jobs.items()
    )


def timer_firings(effects: tuple[RefEffect, ...]) -> list[tuple[str, float]]:
    """The timers that changed something, with their instants: a state change names its
    timer as cause; an exclusivity change with no state change at its instant is the
    Quantinuum window lapsing."""
    fired = [(e[5], e[1]) for e in effects if e[0] == "state" and e[5] in ref.TIMER_RULES]
    state_times = {e[1] for e in effects if e[0] == "state"}
    fired += [
        ("exclusivity_lapsed", e[1])
        for e in effects
        if e[0] == "exclusive" and not e[2] and e[1] not in state_times
    ]
    return sorted(fired)


def agreement(step: Step) -> Iterator[tuple[str, bool, str]]:
    """Compare the core with the reference after ``step``: yields ``(rule, held, what)`` for
    every rule a comparison speaks for (``what`` says what differed; empty when it held)."""
    outcome, want = step.outcome, step.ref_after
    provider = "IBM" if is_ibm(step) else "AZ"
    decided = outcome.rules or ("TIMER-DEADLINE",)
    got_refusal = None
    if step.error is not None:
        kinds = {SessionClosedError: "closed", InvalidEventError: "invalid"}
        got_refusal = kinds.get(type(step.error), type(step.error).__name__)
    want_refusal = None if outcome.refusal is None else outcome.refusal.kind
    held = got_refusal == want_refusal
    verdicts = {None: "accepted", "closed": "refused (closed)", "invalid": "refused (invalid)"}
    what = (
        ""
        if held
        else f"the reference {verdicts.get(want_refusal, want_refusal)} the event, the core"
        f" {verdicts.get(got_refusal, got_refusal)} it"
    )
    for rule in decided:
        yield rule, held, what
    got_effects, want_effects = core_effects(step.effects), outcome.effects
    got_fired, want_fired = timer_firings(got_effects), timer_firings(want_effects)
    for timer, rule in ref.TIMER_RULES.items():
        mine = [at for name, at in got_fired if name == timer]
        theirs = [at for name, at in want_fired if name == timer]
        if mine or theirs or armed(step.ref_before, timer) is not None:
            held = mine == theirs
            yield (
                rule,
                held,
                ""
                if held
                else (
                    f"timer {timer} fired at {mine} in the core and at {theirs} in the reference"
                    " (nothing early, nothing late)"
                ),
            )
    got = (str(step.after.state), step.after.accepting_jobs, step.after.exclusive)
    expected = (want.state, want.accepting_jobs, want.exclusive)
    same_state, same_effects = got == expected, got_effects == want_effects
    for rule in decided:
        yield (
            rule,
            same_state,
            "" if same_state else (f"(state, accepting_jobs, exclusive) {got} != {expected}"),
        )
        yield (
            rule,
            same_effects,
            "" if same_effects else (f"effects {got_effects} != {want_effects}"),
        )
    jobs = core_jobs(step.after)
    held = jobs == want.jobs
    yield "JOB-TIMES", held, "" if held else f"jobs {jobs} != {want.jobs}"
    status = core_status(step.after)
    held = status == want.status
    status_rule = "IBM-STATUS" if provider == "IBM" else "AZ-STATUS-STRINGS"
    yield status_rule, held, "" if held else f"status {status!r} != {want.status!r}"
    details = core_details(step.after)
    details_rule = "IBM-DETAILS-KEYS" if provider == "IBM" else "AZ-DETAILS"
    if details == want.details:
        yield details_rule, True, ""
    else:
        diff = {k: (details.get(k), want.details.get(k)) for k in {*details, *want.details}}
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}
        yield details_rule, False, f"details differ (core, reference): {diff}"
    deadline = core_deadline(step.after)
    if deadline == want.deadline:
        yield "TIMER-DEADLINE", True, ""
        return
    late_or_early = f"next_deadline {deadline} != {want.deadline} ({want.deadlines})"
    yield "TIMER-DEADLINE", False, late_or_early
    for timer, at in want.deadlines:
        if at == want.deadline or deadline is None or at > deadline:
            yield ref.TIMER_RULES[timer], False, late_or_early
