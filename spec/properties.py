"""One executable property per rule of the catalogue.

A property looks at one ``Step`` (record before, event, record after, effects, error) and
answers ``None`` when the rule does not apply to that step, else whether the rule held. The
checker feeds it steps in which only ``Advance`` steps fire timers, each at its own deadline.
Properties recompute what the rule says from the records; they never call the engine's
guards, actions or deadline functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
from qsession.core.azure import AzureState
from qsession.core.effects import Effect, ExclusivityChanged, JobsCancelled, JobsFailed
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

Record = SessionRecord[Any]


@attrs.frozen
class Step:
    """One event applied to a session: the records around it, its effects or its error."""

    before: Record
    event: Event
    after: Record
    effects: tuple[Effect, ...]
    error: SessionError | None


Property = Callable[[Step], bool | None]

IN_FLIGHT = (JobState.QUEUED, JobState.RUNNING)
JOB_EVENTS = (JobStarted, JobCompleted, JobFailed, JobCancelled)
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
IBM_STATUS = {
    ("open", True): "Pending",
    ("open", False): "Pending",
    ("inactive", True): "Pending",
    ("inactive", False): "Pending",
    ("active", True): "In progress, accepting new jobs",
    ("active", False): "In progress, not accepting new jobs",
    ("closed", False): "Closed",
}
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


def new_submission(step: Step) -> bool:
    """A submit the generic job rules accept: new id, the session's own target (if any)."""
    event, before = step.event, step.before
    if not isinstance(event, Submit) or event.job_id in before.jobs:
        return False
    own = before.policy.target
    return event.target is None or own is None or event.target == own


def max_ttl_due(rec: Record, at: float) -> bool:
    policy = rec.policy
    return (
        isinstance(policy, IBMPolicy)
        and rec.started_at is not None
        and rec.state is not IBMState.CLOSED
        and at >= rec.started_at + policy.max_time
    )


# -- generic rules -------------------------------------------------------------------------


def event_time_order(step: Step) -> bool | None:
    if step.before.last_at <= step.event.at < math.inf:
        return None
    return isinstance(step.error, InvalidEventError)


def event_unknown_job(step: Step) -> bool | None:
    event = step.event
    if not isinstance(event, JOB_EVENTS) or event.job_id in step.before.jobs:
        return None
    if not step.before.last_at <= event.at:
        return None
    return isinstance(step.error, InvalidEventError)


def event_duplicate_job(step: Step) -> bool | None:
    event = step.event
    if not isinstance(event, Submit) or event.job_id not in step.before.jobs:
        return None
    if not step.before.last_at <= event.at:
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
    if not step.before.last_at <= event.at:
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
    if not is_ibm(step) or not ok(step) or step.before.started_at is not None:
        return None
    if isinstance(step.event, JobStarted):
        return step.after.started_at == step.event.at and step.after.state is IBMState.ACTIVE
    return step.after.started_at is None and step.after.state in (IBMState.OPEN, IBMState.CLOSED)


def ibm_maxttl_from_start(step: Step) -> bool | None:
    if not is_ibm(step) or not ok(step) or step.after.started_at is None:
        return None
    end: float = step.after.started_at + step.after.policy.max_time
    if max_ttl_due(step.before, step.event.at):
        return step.after.state is IBMState.CLOSED and step.after.closed_at == end
    if step.after.state is IBMState.CLOSED:
        return None
    return step.after.deadline <= end


def ibm_maxttl_queued_fail(step: Step) -> bool | None:
    if not is_ibm(step) or not ok(step) or not max_ttl_due(step.before, step.event.at):
        return None
    queued = ids(step.before, JobState.QUEUED)
    failed = set().union(*(e.job_ids for e in step.effects if isinstance(e, JobsFailed)))
    return (
        all(step.after.jobs[job_id].state is JobState.FAILED for job_id in queued)
        and failed == queued
        and not step.after.accepting_jobs
    )


def ibm_running_finishes(step: Step) -> bool | None:
    if not is_ibm(step) or not ok(step):
        return None
    ending = isinstance(step.event, Cancel) or max_ttl_due(step.before, step.event.at)
    if not ending or step.before.state is IBMState.CLOSED:
        return None
    running = ids(step.before, JobState.RUNNING)
    return all(step.after.jobs[job_id].state is JobState.RUNNING for job_id in running)


def ibm_ittl_deactivate(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or not ok(step) or before.state is not IBMState.ACTIVE:
        return None
    idle = not ids(before, *IN_FLIGHT) and before.last_job_completed is not None
    lapse = before.last_job_completed + before.policy.interactive_ttl if idle else math.inf
    lapsed = isinstance(step.event, Advance) and step.event.at >= lapse
    if lapsed and not max_ttl_due(before, step.event.at):
        return after.state is IBMState.INACTIVE and not after.exclusive
    return None if after.state is not IBMState.INACTIVE else lapsed


def ibm_reactivate(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or before.state is not IBMState.INACTIVE or not ok(step):
        return None
    if isinstance(step.event, JobStarted):
        return after.state is IBMState.ACTIVE and after.activated_at == step.event.at
    if new_submission(step):
        return after.state is IBMState.INACTIVE
    return None


def ibm_close_drains(step: Step) -> bool | None:
    before, after, event = step.before, step.after, step.event
    if not is_ibm(step) or not ok(step) or before.state is IBMState.CLOSED:
        return None
    if isinstance(event, Close):
        if ids(before, *IN_FLIGHT):
            return (
                after.state is before.state
                and not after.accepting_jobs
                and after.jobs == before.jobs
            )
        return after.state is IBMState.CLOSED and after.closed_at == event.at
    if isinstance(event, JOB_EVENTS[1:]) and not before.accepting_jobs:
        last = ids(before, *IN_FLIGHT) == {event.job_id}
        return (after.state is IBMState.CLOSED) is last
    return None


def ibm_cancel(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or not isinstance(step.event, Cancel) or not ok(step):
        return None
    if before.state is IBMState.CLOSED:
        return None
    queued = ids(before, JobState.QUEUED)
    cancelled = set().union(*(e.job_ids for e in step.effects if isinstance(e, JobsCancelled)))
    return (
        after.state is IBMState.CLOSED
        and cancelled == queued
        and all(after.jobs[job_id].state is JobState.CANCELLED for job_id in queued)
    )


def ibm_unused_30min(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_ibm(step) or not ok(step) or before.state is not IBMState.OPEN or before.jobs:
        return None
    due = step.event.at >= before.created_at + before.policy.unused_timeout
    if isinstance(step.event, Advance):
        return (after.state is IBMState.CLOSED) is due
    return None


def ibm_submit_closed(step: Step) -> bool | None:
    if not is_ibm(step) or not new_submission(step):
        return None
    if not step.before.last_at <= step.event.at:
        return None
    if step.before.accepting_jobs:
        return step.error is None
    return isinstance(step.error, SessionClosedError)


def ibm_status(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    after = step.after
    expected = IBM_STATUS.get((str(after.state), after.accepting_jobs))
    return expected is not None and after.policy.machine.status(after) == expected


def ibm_details_keys(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    details = step.after.policy.machine.details(step.after)
    return set(details) == IBM_DETAILS_KEYS and details["state"] == str(step.after.state)


def ibm_exclusive_when_active(step: Step) -> bool | None:
    if not is_ibm(step):
        return None
    after = step.after
    dedicated = after.policy.mode == "dedicated"
    return after.exclusive is (dedicated and after.state is IBMState.ACTIVE)


def ibm_closed_terminal(step: Step) -> bool | None:
    if not is_ibm(step) or step.before.state is not IBMState.CLOSED:
        return None
    return step.after.state is IBMState.CLOSED and not step.after.accepting_jobs


# -- Azure ---------------------------------------------------------------------------------


def az_status_strings(step: Step) -> bool | None:
    if not is_azure(step):
        return None
    status = step.after.policy.machine.status(step.after)
    return status in AZURE_STATUSES and status == str(step.after.state)


def az_waiting_until_first_job(step: Step) -> bool | None:
    if not is_azure(step) or not ok(step) or step.after.state in AZURE_TERMINAL:
        return None
    return (step.after.state is AzureState.WAITING) is (not step.after.jobs)


def az_close_idle(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_azure(step) or not isinstance(step.event, Close) or not ok(step):
        return None
    if before.state in AZURE_TERMINAL or ids(before, *IN_FLIGHT):
        return None
    expected = AzureState.FAILED if before.failures else AzureState.SUCCEEDED
    return after.state is expected and after.closed_at == step.event.at


def az_close_drains(step: Step) -> bool | None:
    before, after, event = step.before, step.after, step.event
    if not is_azure(step) or not ok(step) or before.state in AZURE_TERMINAL:
        return None
    if isinstance(event, Close) and ids(before, *IN_FLIGHT):
        return after.state is before.state and not after.accepting_jobs
    aborts = isinstance(event, JobFailed) and before.policy.job_failure_policy == "abort"
    if isinstance(event, JOB_EVENTS[1:]) and not before.accepting_jobs and not aborts:
        if ids(before, *IN_FLIGHT) != {event.job_id}:
            return after.state not in AZURE_TERMINAL
        expected = AzureState.FAILED if after.failures else AzureState.SUCCEEDED
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
    before, after = step.before, step.after
    if not is_azure(step) or not isinstance(step.event, JobFailed) or not ok(step):
        return None
    if before.policy.job_failure_policy != "continue":
        return None
    if not before.accepting_jobs and ids(before, *IN_FLIGHT) == {step.event.job_id}:
        return after.state is AzureState.FAILED
    return after.state is AzureState.FAILURES and after.accepting_jobs is before.accepting_jobs


def az_timeout_10min(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_azure(step) or not ok(step) or before.state in AZURE_TERMINAL:
        return None
    if ids(before, *IN_FLIGHT):
        return None if after.state is not AzureState.TIMED_OUT else False
    activity = [before.created_at, before.last_submitted_at, before.last_job_completed]
    due = max(t for t in activity if t is not None) + before.policy.idle_timeout
    if isinstance(step.event, Advance):
        return (after.state is AzureState.TIMED_OUT) is (step.event.at >= due)
    return None if after.state is not AzureState.TIMED_OUT else False


def az_one_target(step: Step) -> bool | None:
    event = step.event
    if not is_azure(step) or not isinstance(event, Submit) or event.target is None:
        return None
    if event.job_id in step.before.jobs or not step.before.last_at <= event.at:
        return None
    if event.target != step.before.policy.target:
        return isinstance(step.error, InvalidEventError)
    return None


def az_no_cancel(step: Step) -> bool | None:
    if not is_azure(step) or not isinstance(step.event, Cancel):
        return None
    if not step.before.last_at <= step.event.at:
        return None
    return isinstance(step.error, InvalidEventError) and "close" in str(step.error)


def az_submit_closed(step: Step) -> bool | None:
    if not is_azure(step) or not new_submission(step):
        return None
    if not step.before.last_at <= step.event.at:
        return None
    open_ = step.before.accepting_jobs and step.before.state not in AZURE_TERMINAL
    return step.error is None if open_ else isinstance(step.error, SessionClosedError)


def az_terminal(step: Step) -> bool | None:
    if not is_azure(step) or step.before.state not in AZURE_TERMINAL:
        return None
    return step.after.state is step.before.state and not step.after.accepting_jobs


def az_quantinuum_exclusive(step: Step) -> bool | None:
    before, after = step.before, step.after
    if not is_azure(step) or not ok(step):
        return None
    window = before.policy.exclusive_window
    if window is None:
        return not after.exclusive
    if after.state in AZURE_TERMINAL:
        return not after.exclusive
    if not before.jobs:
        return after.exclusive is bool(after.jobs)
    if not before.exclusive:
        return not after.exclusive
    activity = max(
        t for t in (before.last_submitted_at, before.last_job_completed) if t is not None
    )
    lapsed = (
        isinstance(step.event, Advance)
        and not ids(before, *IN_FLIGHT)
        and step.event.at >= activity + window
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
    "IBM-CANCEL": ibm_cancel,
    "IBM-UNUSED-30MIN": ibm_unused_30min,
    "IBM-SUBMIT-CLOSED": ibm_submit_closed,
    "IBM-STATUS": ibm_status,
    "IBM-DETAILS-KEYS": ibm_details_keys,
    "IBM-EXCLUSIVE-WHEN-ACTIVE": ibm_exclusive_when_active,
    "IBM-CLOSED-TERMINAL": ibm_closed_terminal,
    "AZ-STATUS-STRINGS": az_status_strings,
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
