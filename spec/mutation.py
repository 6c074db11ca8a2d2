"""The mutation gate: planted bugs in the core that the properties alone must catch.

Each ``Mutant`` is a textual patch on one file of ``qsession.core`` (its ``old`` text must
occur exactly once, so a refactor that invalidates a mutant fails loudly) and the rules it
breaks. ``run_mutant`` copies the core to a fresh directory, applies the patch and runs
``mutant_driver.py`` on the copy in a subprocess with a time limit (the properties run on the
generated hot path, then on the interpreter alone, so a mutant of either is exposed): the
mutant is caught when a property reports a violation, caught by timeout when the run does not
end in time (a hang is a failure the properties exposed, never a hung suite), and survives
otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

CORE = Path(__file__).resolve().parent.parent / "core"
DRIVER = Path(__file__).resolve().parent / "mutant_driver.py"


@attrs.frozen
class Mutant:
    """A plausible bug: in ``file`` (relative to ``core/``), ``old`` becomes ``new``."""

    id: str
    rules: tuple[str, ...]
    file: str
    old: str
    new: str


@attrs.frozen
class Verdict:
    """How one mutant fared: ``"caught"``, ``"timeout"``, ``"survived"``, ``"crashed"`` (the
    copy did not even load: not a catch by a property) or ``"control"`` for the unmutated
    core; the rules whose properties reported it, and an example."""

    mutant: str
    outcome: str
    rules: tuple[str, ...]
    stage: str | None
    example: str | None
    seconds: float


def _m(id: str, rules: str, file: str, old: str, new: str) -> Mutant:
    return Mutant(id, tuple(rules.split()), file, old, new)


POL, IBM, AZ, ENG = "policies.py", "ibm.py", "azure.py", "engine.py"

MUTANTS: tuple[Mutant, ...] = (
    # -- policies: constants and constructors -----------------------------------------------------
    _m(
        "premium-ittl-120s",
        "IBM-PLAN-LIMITS IBM-ITTL-DEACTIVATE",
        POL,
        'IBMPlan("premium", sessions_allowed=True, interactive_ttl=60.0,',
        'IBMPlan("premium", sessions_allowed=True, interactive_ttl=120.0,',
    ),
    _m(
        "premium-max-ttl-10h",
        "IBM-PLAN-LIMITS IBM-MAXTIME-FORMAT",
        POL,
        'interactive_ttl=60.0, max_ttl=28800.0),\n    "open"',
        'interactive_ttl=60.0, max_ttl=36000.0),\n    "open"',
    ),
    _m(
        "batch-ittl-5min",
        "IBM-PLAN-LIMITS IBM-BATCH-ENDS",
        POL,
        "IBM_BATCH_INTERACTIVE_TTL = 1.0",
        "IBM_BATCH_INTERACTIVE_TTL = 300.0",
    ),
    _m(
        "batch-max-ttl-20min",
        "IBM-PLAN-LIMITS",
        POL,
        "IBM_BATCH_DEFAULT_MAX_TIME = 600.0",
        "IBM_BATCH_DEFAULT_MAX_TIME = 1200.0",
    ),
    _m(
        "unused-close-60min",
        "IBM-UNUSED-30MIN",
        POL,
        "IBM_UNUSED_TIMEOUT = 1800.0",
        "IBM_UNUSED_TIMEOUT = 3600.0",
    ),
    _m(
        "azure-timeout-15min",
        "AZ-TIMEOUT-10MIN",
        POL,
        "AZURE_IDLE_TIMEOUT = 600.0",
        "AZURE_IDLE_TIMEOUT = 900.0",
    ),
    _m(
        "quantinuum-window-2min",
        "AZ-QUANTINUUM-EXCLUSIVE",
        POL,
        '{"quantinuum": 60.0}',
        '{"quantinuum": 120.0}',
    ),
    _m(
        "exclusive-window-everywhere",
        "AZ-QUANTINUUM-EXCLUSIVE",
        POL,
        "exclusive_window=AZURE_EXCLUSIVE_WINDOWS.get(provider_id),",
        "exclusive_window=AZURE_EXCLUSIVE_WINDOWS.get(provider_id, 60.0),",
    ),
    _m(
        "max-time-limit-exclusive",
        "IBM-MAXTIME-FORMAT",
        POL,
        "if seconds > limit:",
        "if seconds >= limit:",
    ),
    _m("max-time-zero-accepted", "IBM-MAXTIME-FORMAT", POL, "if seconds <= 0:", "if seconds < 0:"),
    _m(
        "max-time-junk-accepted",
        "IBM-MAXTIME-FORMAT",
        POL,
        'if "".join(n + unit for n, unit in tokens) != stripped.replace(" ", ""):',
        "if not tokens:",
    ),
    _m(
        "open-plan-sessions",
        "IBM-OPEN-PLAN-NO-SESSION",
        POL,
        'IBMPlan("open", sessions_allowed=False',
        'IBMPlan("open", sessions_allowed=True',
    ),
    _m(
        "open-plan-no-batch",
        "IBM-OPEN-PLAN-NO-SESSION",
        POL,
        '    limits = _plan(plan)\n    return IBMPolicy(\n        mode="batch",',
        "    limits = _plan(plan)\n    if not limits.sessions_allowed:\n"
        '        raise PolicyError("no batch")\n    return IBMPolicy(\n        mode="batch",',
    ),
    _m(
        "azure-default-continue",
        "AZ-POLICY AZ-ABORT",
        POL,
        'policy = "abort" if job_failure_policy is None else job_failure_policy',
        'policy = "continue" if job_failure_policy is None else job_failure_policy',
    ),
    _m(
        "azure-policy-case-sensitive",
        "AZ-POLICY",
        POL,
        'policy.lower() not in ("abort", "continue")',
        'policy not in ("abort", "continue")',
    ),
    _m(
        "batch-exclusive",
        "IBM-EXCLUSIVE-WHEN-ACTIVE IBM-PLAN-LIMITS",
        POL,
        "        exclusive=False,\n",
        "        exclusive=True,\n",
    ),
    _m(
        "session-not-exclusive",
        "IBM-EXCLUSIVE-WHEN-ACTIVE IBM-PLAN-LIMITS",
        POL,
        "        exclusive=True,\n",
        "        exclusive=False,\n",
    ),
    _m(
        "ibm-policy-target-none",
        "IBM-ONE-BACKEND IBM-DETAILS-KEYS",
        POL,
        "        return self.backend",
        "        return None",
    ),
    # -- IBM: timers ------------------------------------------------------------------------------
    _m(
        "unused-disarmed-by-start",
        "IBM-UNUSED-30MIN IBM-START-ON-FIRST-JOB-START",
        IBM,
        "    if rec.last_submitted_at is not None:\n        return None",
        "    if rec.last_job_started is not None:\n        return None",
    ),
    _m(
        "unused-one-second-early",
        "IBM-UNUSED-30MIN",
        IBM,
        "return rec.created_at + rec.policy.unused_timeout",
        "return rec.created_at + rec.policy.unused_timeout - 1.0",
    ),
    _m(
        "max-ttl-from-creation",
        "IBM-MAXTTL-FROM-START",
        IBM,
        "return None if rec.started_at is None else rec.started_at + rec.policy.max_time",
        "return rec.created_at + rec.policy.max_time",
    ),
    _m(
        "max-ttl-not-when-inactive",
        "IBM-MAXTTL-FROM-START",
        IBM,
        'max_ttl_reached = closed.from_(active, inactive, on="fail_queued")',
        'max_ttl_reached = closed.from_(active, on="fail_queued")',
    ),
    _m(
        "ittl-one-second-late",
        "IBM-ITTL-DEACTIVATE",
        IBM,
        "return rec.last_job_completed + rec.policy.interactive_ttl",
        "return rec.last_job_completed + rec.policy.interactive_ttl + 1.0",
    ),
    _m(
        "ittl-with-jobs-queued",
        "IBM-ITTL-DEACTIVATE",
        IBM,
        "if rec.in_flight or rec.last_job_completed is None:",
        "if rec.last_job_completed is None:",
    ),
    _m(
        "ttl-tie-deactivates-first",
        "TIMER-ORDER IBM-MAXTTL-FROM-START",
        IBM,
        '    ("max_ttl_reached", _max_ttl),\n    ("interactive_ttl_expired", _interactive_ttl),',
        '    ("interactive_ttl_expired", _interactive_ttl),\n    ("max_ttl_reached", _max_ttl),',
    ),
    # -- IBM: endings -----------------------------------------------------------------------------
    _m(
        "max-ttl-fails-running",
        "IBM-RUNNING-FINISHES IBM-MAXTTL-QUEUED-FAIL",
        IBM,
        '(JobState.QUEUED,), JobState.FAILED, "max TTL reached"',
        '(JobState.QUEUED, JobState.RUNNING), JobState.FAILED, "max TTL reached"',
    ),
    _m(
        "max-ttl-cancels-queued",
        "IBM-MAXTTL-QUEUED-FAIL",
        IBM,
        'JobState.FAILED, "max TTL reached"',
        'JobState.CANCELLED, "max TTL reached"',
    ),
    _m(
        "cancel-fails-queued",
        "IBM-CANCEL IBM-COST-LIMIT",
        IBM,
        '(JobState.QUEUED,), JobState.CANCELLED, "session cancelled"',
        '(JobState.QUEUED,), JobState.FAILED, "session cancelled"',
    ),
    _m(
        "cancel-cancels-running",
        "IBM-RUNNING-FINISHES IBM-COST-LIMIT",
        IBM,
        '(JobState.QUEUED,), JobState.CANCELLED, "session cancelled"',
        '(JobState.QUEUED, JobState.RUNNING), JobState.CANCELLED, "session cancelled"',
    ),
    _m(
        "cancel-without-effect",
        "IBM-CANCEL",
        IBM,
        '        effects.append(JobsCancelled(rec.session_id, event.at, ids, "session cancelled"))',
        "        pass",
    ),
    _m(
        "ibm-close-never-drains",
        "IBM-CLOSE-DRAINS IBM-BATCH-ENDS",
        IBM,
        "    return not rec.accepting_jobs and rec.in_flight == 1",
        "    return not rec.accepting_jobs and rec.in_flight == 0",
    ),
    _m(
        "ibm-close-with-one-in-flight",
        "IBM-CLOSE-DRAINS",
        IBM,
        "def _idle(rec: Record, event: Event | Expire) -> bool:\n    return rec.in_flight == 0",
        "def _idle(rec: Record, event: Event | Expire) -> bool:\n    return rec.in_flight <= 1",
    ),
    _m(
        "ibm-close-keeps-accepting",
        "IBM-SUBMIT-CLOSED IBM-CLOSE-DRAINS",
        IBM,
        "-> None:\n    rec.accepting_jobs = False\n\n\ndef _finish",
        "-> None:\n    rec.accepting_jobs = True\n\n\ndef _finish",
    ),
    _m(
        "ibm-always-accepting",
        "IBM-SUBMIT-CLOSED IBM-CLOSED-TERMINAL",
        IBM,
        "def _accepting(rec: Record, event: Event | Expire) -> bool:\n"
        "    return rec.accepting_jobs",
        "def _accepting(rec: Record, event: Event | Expire) -> bool:\n    return True",
    ),
    _m(
        "close-refused-when-closed",
        "IBM-CLOSED-TERMINAL",
        IBM,
        '        | inactive.to.itself(on="stop_accepting", internal=True)\n'
        "        | closed.to.itself(internal=True)\n    )",
        '        | inactive.to.itself(on="stop_accepting", internal=True)\n    )',
    ),
    _m(
        "cancel-reopens-closed",
        "IBM-CLOSED-TERMINAL IBM-DETAILS-KEYS",
        IBM,
        'cancel = closed.from_(open, active, inactive, on="cancel_queued")',
        'cancel = closed.from_(open, active, inactive, closed, on="cancel_queued")',
    ),
    _m(
        "cancelled-job-ends-session",
        "IBM-JOB-MAX-EXECUTION-TIME",
        IBM,
        "    job_cancelled = _job_end(open, active, inactive, closed)",
        '    job_cancelled = closed.from_(open, active, inactive, on="cancel_queued")'
        " | closed.to.itself(internal=True)",
    ),
    # -- IBM: activity, exclusivity, reports ------------------------------------------------------
    _m(
        "session-starts-at-submit",
        "IBM-START-ON-FIRST-JOB-START",
        IBM,
        '    submit = (\n        open.to.itself(cond="accepting", internal=True)',
        '    submit = (\n        open.to(active, cond="accepting", on="activate")',
    ),
    _m(
        "inactive-start-no-activation",
        "IBM-REACTIVATE IBM-EXCLUSIVE-WHEN-ACTIVE",
        IBM,
        '        | inactive.to(active, on="activate")',
        "        | inactive.to.itself(internal=True)",
    ),
    _m(
        "reactivation-not-exclusive",
        "IBM-REACTIVATE IBM-EXCLUSIVE-WHEN-ACTIVE",
        IBM,
        "    rec.activated_at = event.at\n    rec.exclusive = rec.policy.exclusive",
        "    rec.activated_at = event.at\n"
        "    rec.exclusive = rec.policy.exclusive and rec.started_at == event.at",
    ),
    _m(
        "batch-exclusive-when-active",
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
        IBM,
        "    rec.exclusive = rec.policy.exclusive\n",
        "    rec.exclusive = True\n",
    ),
    _m(
        "deactivation-keeps-exclusive",
        "IBM-EXCLUSIVE-WHEN-ACTIVE IBM-ITTL-DEACTIVATE",
        IBM,
        "    rec.active_seconds += at - rec.activated_at\n    rec.exclusive = False",
        "    rec.active_seconds += at - rec.activated_at",
    ),
    _m(
        "activated-at-first-start",
        "IBM-DETAILS-KEYS IBM-REACTIVATE",
        IBM,
        "    rec.activated_at = event.at\n",
        "    rec.activated_at = rec.started_at\n",
    ),
    _m(
        "usage-time-stops-while-active",
        "IBM-DETAILS-KEYS",
        IBM,
        "        usage += rec.last_at - rec.activated_at",
        "        usage += 0.0",
    ),
    _m(
        "details-last-start-as-last-completed",
        "IBM-DETAILS-KEYS",
        IBM,
        '"last_job_completed": rec.last_job_completed,',
        '"last_job_completed": rec.last_job_started,',
    ),
    _m(
        "details-closed-at-now",
        "IBM-DETAILS-KEYS IBM-CLOSE-DRAINS",
        IBM,
        '"closed_at": rec.closed_at,',
        '"closed_at": rec.last_at if rec.state is IBMState.CLOSED else None,',
    ),
    _m(
        "status-inactive-not-pending",
        "IBM-STATUS",
        IBM,
        'if state in ("open", "inactive"):',
        'if state == "open":',
    ),
    _m(
        "status-ignores-accepting",
        "IBM-STATUS",
        IBM,
        'if (state == "active" and accepting_jobs) or state == "pending_inactive":',
        'if state == "active" or state == "pending_inactive":',
    ),
    # -- Azure ------------------------------------------------------------------------------------
    _m(
        "abort-spares-running",
        "AZ-ABORT AZ-TERMINAL",
        AZ,
        "(JobState.QUEUED, JobState.RUNNING), JobState.CANCELLED, reason",
        "(JobState.QUEUED,), JobState.CANCELLED, reason",
    ),
    _m(
        "abort-never",
        "AZ-ABORT",
        AZ,
        'return rec.policy.job_failure_policy == "abort"',
        "return False",
    ),
    _m(
        "continue-aborts",
        "AZ-CONTINUE",
        AZ,
        'return rec.policy.job_failure_policy == "abort"',
        'return rec.policy.job_failure_policy in ("abort", "continue")',
    ),
    _m(
        "success-clears-failures",
        "AZ-CONTINUE AZ-STATUS-STRINGS",
        AZ,
        '        | failures.to(failed, cond="last_to_drain", on="finish")\n'
        "        | failures.to.itself(internal=True)\n    )\n\n\nclass",
        '        | failures.to(failed, cond="last_to_drain", on="finish")\n'
        "        | failures.to(executing)\n    )\n\n\nclass",
    ),
    _m(
        "close-after-failures-succeeds",
        "AZ-CLOSE-IDLE AZ-CONTINUE",
        AZ,
        '| failures.to(failed, cond="idle", on="finish")',
        '| failures.to(succeeded, cond="idle", on="finish")',
    ),
    _m(
        "close-ends-at-once",
        "AZ-CLOSE-DRAINS AZ-CLOSE-IDLE AZ-TERMINAL",
        AZ,
        '| executing.to(succeeded, cond="idle", on="finish")',
        '| executing.to(succeeded, on="finish")',
    ),
    _m(
        "azure-close-never-drains",
        "AZ-CLOSE-DRAINS",
        AZ,
        "    return not rec.accepting_jobs and rec.in_flight == 1",
        "    return not rec.accepting_jobs and rec.in_flight == 0",
    ),
    _m(
        "drain-after-failures-succeeds",
        "AZ-CLOSE-DRAINS",
        AZ,
        '        | failures.to(failed, cond="last_to_drain", on="finish")\n'
        "        | failures.to.itself(internal=True)\n    )\n\n\nclass",
        '        | failures.to(succeeded, cond="last_to_drain", on="finish")\n'
        "        | failures.to.itself(internal=True)\n    )\n\n\nclass",
    ),
    _m(
        "end-time-set-on-close",
        "AZ-DETAILS",
        AZ,
        "-> None:\n    rec.accepting_jobs = False\n\n\ndef _finish",
        "-> None:\n    rec.accepting_jobs = False\n    rec.closed_at = event.at\n\n\ndef _finish",
    ),
    _m(
        "no-end-time-on-timeout",
        "AZ-DETAILS AZ-TIMEOUT-10MIN",
        AZ,
        "    rec.exclusive = False\n    rec.closed_at = event.at",
        "    rec.exclusive = False\n"
        '    rec.closed_at = None if event.name == "idle_timeout" else event.at',
    ),
    _m(
        "begin-time-last-start",
        "AZ-DETAILS",
        AZ,
        '"beginExecutionTime": rec.started_at,',
        '"beginExecutionTime": rec.last_job_started,',
    ),
    _m(
        "failure-policy-lower-case",
        "AZ-DETAILS AZ-POLICY",
        AZ,
        '"jobFailurePolicy": policy.job_failure_policy.capitalize(),',
        '"jobFailurePolicy": policy.job_failure_policy,',
    ),
    _m(
        "status-lower-case",
        "AZ-STATUS-STRINGS",
        AZ,
        "status=lambda rec: str(rec.state),",
        "status=lambda rec: str(rec.state).lower(),",
    ),
    _m(
        "timeout-while-running",
        "AZ-TIMEOUT-10MIN",
        AZ,
        "    if rec.in_flight:\n        return None\n    return _last_activity(rec)",
        "    return _last_activity(rec)",
    ),
    _m(
        "timeout-from-opening",
        "AZ-TIMEOUT-10MIN AZ-QUANTINUUM-EXCLUSIVE",
        AZ,
        "for at in (rec.last_submitted_at, rec.last_job_completed):",
        "for at in ():",
    ),
    _m(
        "timeout-ignores-job-ends",
        "AZ-TIMEOUT-10MIN AZ-QUANTINUUM-EXCLUSIVE",
        AZ,
        "for at in (rec.last_submitted_at, rec.last_job_completed):",
        "for at in (rec.last_submitted_at,):",
    ),
    _m(
        "every-target-exclusive",
        "AZ-QUANTINUUM-EXCLUSIVE",
        AZ,
        "rec.exclusive = rec.policy.exclusive_window is not None",
        "rec.exclusive = True",
    ),
    _m(
        "exclusivity-lapses-while-running",
        "AZ-QUANTINUUM-EXCLUSIVE",
        AZ,
        "if not rec.exclusive or rec.in_flight or window is None:",
        "if not rec.exclusive or window is None:",
    ),
    _m(
        "exclusive-after-end",
        "AZ-QUANTINUUM-EXCLUSIVE AZ-TERMINAL",
        AZ,
        "    rec.exclusive = False\n    rec.closed_at = event.at",
        "    rec.closed_at = event.at",
    ),
    _m(
        "waiting-after-first-submit",
        "AZ-WAITING-UNTIL-FIRST-JOB",
        AZ,
        'waiting.to(executing, cond="accepting", on="first_job")',
        'waiting.to.itself(cond="accepting", internal=True)\n'
        '        | waiting.to(executing, cond="accepting", on="first_job")',
    ),
    _m(
        "unused-close-fails",
        "AZ-CLOSE-IDLE AZ-WAITING-UNTIL-FIRST-JOB",
        AZ,
        'waiting.to(succeeded, on="finish")',
        'waiting.to(failed, on="finish")',
    ),
    _m(
        "azure-always-accepting",
        "AZ-SUBMIT-CLOSED",
        AZ,
        "def _accepting(rec: Record, event: Event | Expire) -> bool:\n"
        "    return rec.accepting_jobs",
        "def _accepting(rec: Record, event: Event | Expire) -> bool:\n    return True",
    ),
    _m(
        "azure-close-keeps-accepting",
        "AZ-SUBMIT-CLOSED AZ-CLOSE-DRAINS",
        AZ,
        "-> None:\n    rec.accepting_jobs = False\n\n\ndef _finish",
        "-> None:\n    rec.accepting_jobs = True\n\n\ndef _finish",
    ),
    _m(
        "close-refused-when-timed-out",
        "AZ-TERMINAL",
        AZ,
        "        | timed_out.to.itself(internal=True)\n    )",
        "        | timed_out.to(failed)\n    )",
    ),
    _m(
        "azure-cancel-ends",
        "AZ-NO-CANCEL",
        AZ,
        '    idle_timeout = timed_out.from_(waiting, executing, failures, on="finish")',
        '    idle_timeout = timed_out.from_(waiting, executing, failures, on="finish")\n'
        '    cancel = succeeded.from_(waiting, executing, failures, on="finish")',
    ),
    _m(
        "azure-cancel-hint-without-close",
        "AZ-NO-CANCEL",
        AZ,
        "no cancel verb; call close() to stop accepting",
        "no cancel verb; stop accepting",
    ),
    # -- the shared engine: time, timers, jobs ----------------------------------------------------
    _m(
        "timer-boundary-in-handle",
        "TIMER-ORDER TIMER-DEADLINE",
        ENG,
        "    if rec.deadline <= at:",
        "    if rec.deadline < at:",
    ),
    _m(
        "timer-boundary-in-fire",
        "TIMER-ORDER TIMER-DEADLINE",
        ENG,
        "    while rec.deadline <= upto:",
        "    while rec.deadline < upto:",
    ),
    _m(
        "timer-fires-at-event-time",
        "TIMER-ORDER",
        ENG,
        "_step(rec, Expire(timer, due_at), effects)",
        "_step(rec, Expire(timer, upto), effects)",
    ),
    _m(
        "deadline-never-armed",
        "TIMER-DEADLINE",
        ENG,
        "if due is not None and due < earliest:",
        "if due is not None and due > earliest:",
    ),
    _m(
        "time-may-go-backwards",
        "EVENT-TIME-ORDER",
        ENG,
        "if not rec.last_at <= at < math.inf:",
        "if not at < math.inf:",
    ),
    _m(
        "infinite-time-accepted",
        "EVENT-TIME-ORDER",
        ENG,
        "if not rec.last_at <= at < math.inf:",
        "if not rec.last_at <= at:",
    ),
    _m(
        "last-event-time-not-kept",
        "EVENT-TIME-ORDER IBM-DETAILS-KEYS",
        ENG,
        "    rec.last_at = at\n    return rec, effects",
        "    return rec, effects",
    ),
    _m(
        "refusal-after-timers-not-rolled-back",
        "EVENT-ERROR-NO-CHANGE",
        ENG,
        "        if not isinstance(event, Advance):\n            rec = rec.fork()",
        "        if isinstance(event, Advance):\n            rec = rec.fork()",
    ),
    _m(
        "refused-submit-recorded",
        "EVENT-ERROR-NO-CHANGE IBM-SUBMIT-CLOSED",
        ENG,
        "    job = check_job(rec, event)\n    for row in",
        "    job = check_job(rec, event)\n"
        '    if name == "submit" and not rec.accepting_jobs:\n'
        "        book(rec, event, job)\n    for row in",
    ),
    _m(
        "unknown-job-failure-applied",
        "EVENT-UNKNOWN-JOB",
        ENG,
        "        if job is None:\n            raise _refusal(",
        '        if job is None and name != "job_failed":\n            raise _refusal(',
    ),
    _m(
        "unknown-job-closed-error",
        "EVENT-UNKNOWN-JOB",
        ENG,
        'InvalidEventError, rec, name, f"job {job_id!r} was never submitted to it"',
        'SessionClosedError, rec, name, f"job {job_id!r} was never submitted to it"',
    ),
    _m(
        "duplicate-of-queued-job-accepted",
        "EVENT-DUPLICATE-JOB",
        ENG,
        "    if job is not None:\n        raise _refusal(",
        "    if job is not None and job.state is not JobState.QUEUED:\n        raise _refusal(",
    ),
    _m(
        "duplicate-refused-as-closed",
        "EVENT-DUPLICATE-JOB",
        ENG,
        "    if job is not None:\n        raise _refusal(",
        "    if job is not None and rec.accepting_jobs:\n        raise _refusal(",
    ),
    _m(
        "queued-job-completes",
        "JOB-LIFECYCLE",
        ENG,
        '"job_completed": (frozenset({JobState.RUNNING}), JobState.COMPLETED),',
        '"job_completed": (frozenset({JobState.QUEUED, JobState.RUNNING}), JobState.COMPLETED),',
    ),
    _m(
        "running-job-restarts",
        "JOB-LIFECYCLE JOB-TIMES",
        ENG,
        '"job_started": (frozenset({JobState.QUEUED}), JobState.RUNNING),',
        '"job_started": (frozenset({JobState.QUEUED, JobState.RUNNING}), JobState.RUNNING),',
    ),
    _m(
        "completed-job-cancellable",
        "JOB-TERMINAL-FINAL JOB-LIFECYCLE",
        ENG,
        '"job_cancelled": (frozenset({JobState.QUEUED, JobState.RUNNING}), JobState.CANCELLED),',
        '"job_cancelled": (\n'
        "        frozenset({JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED}),\n"
        "        JobState.CANCELLED,\n    ),",
    ),
    _m(
        "session-ends-finished-jobs",
        "JOB-TERMINAL-FINAL",
        ENG,
        "    ids = rec.in_flight_ids(*states)",
        "    ids = tuple(rec.jobs)",
    ),
    _m(
        "start-time-overwrites-submission",
        "JOB-TIMES",
        ENG,
        "rec.job_rows[job_id] = (state, job[1], at, None, None)",
        "rec.job_rows[job_id] = (state, at, at, None, None)",
    ),
    _m(
        "end-time-is-start-time",
        "JOB-TIMES",
        ENG,
        "rec.job_rows[job_id] = (state, job[1], job[2], at, reason)",
        "rec.job_rows[job_id] = (state, job[1], job[2], job[2], reason)",
    ),
    _m(
        "session-ended-job-lost",
        "JOB-CONSERVATION",
        ENG,
        "            rows[job_id] = (end, row[1], row[2], at, reason)",
        "            del rows[job_id]",
    ),
    _m(
        "submission-counted-twice",
        "JOB-CONSERVATION",
        ENG,
        "            rec.in_flight += 1",
        "            rec.in_flight += 2",
    ),
    _m(
        "only-completed-jobs-restart-timers",
        "IBM-ITTL-DEACTIVATE AZ-TIMEOUT-10MIN",
        ENG,
        "    rec.in_flight -= 1\n    rec.last_job_completed = at",
        "    rec.in_flight -= 1\n    if state is JobState.COMPLETED:\n"
        "        rec.last_job_completed = at",
    ),
    _m(
        "cancelled-job-does-not-restart-ittl",
        "IBM-JOB-MAX-EXECUTION-TIME IBM-ITTL-DEACTIVATE",
        ENG,
        "    rec.in_flight -= 1\n    rec.last_job_completed = at",
        "    rec.in_flight -= 1\n    if state is not JobState.CANCELLED:\n"
        "        rec.last_job_completed = at",
    ),
    _m(
        "every-start-restarts-max-ttl",
        "IBM-MAXTTL-FROM-START IBM-START-ON-FIRST-JOB-START",
        ENG,
        "        if rec.started_at is None:\n            rec.started_at = at",
        "        rec.started_at = at",
    ),
    _m(
        "own-backend-refused",
        "IBM-ONE-BACKEND AZ-ONE-TARGET",
        ENG,
        "if target is not None and own is not None and target != own:",
        "if target is not None and own is not None and target == own:",
    ),
    _m(
        "foreign-target-with-dot-accepted",
        "AZ-ONE-TARGET",
        ENG,
        "if target is not None and own is not None and target != own:",
        'if target is not None and own is not None and target != own and "." not in own:',
    ),
    _m(
        "drain-close-without-effect",
        "IBM-CLOSE-DRAINS AZ-CLOSE-DRAINS",
        ENG,
        "    if previous is not target or accepting is not rec.accepting_jobs:",
        "    if previous is not target:",
    ),
    _m(
        "exclusivity-change-unreported",
        "IBM-EXCLUSIVE-WHEN-ACTIVE AZ-QUANTINUUM-EXCLUSIVE",
        ENG,
        "    if exclusive is not rec.exclusive:\n        effects.append(",
        "    if False:\n        effects.append(",
    ),
    _m(
        "timestamps-record-previous-state",
        "IBM-DETAILS-KEYS",
        ENG,
        "rec.timestamps.append((str(target), event.at))",
        "rec.timestamps.append((str(previous), event.at))",
    ),
    _m(
        "next-deadline-reported-late",
        "TIMER-DEADLINE",
        "session.py",
        "return None if deadline == math.inf else deadline",
        "return None if deadline == math.inf else deadline + 1.0",
    ),
)


#: The generated hot path (``compiled.py``) writes its own job bookkeeping and timer loop.
COMPILED_MUTANTS: tuple[Mutant, ...] = (
    _m(
        "hot-path-submission-counted-twice",
        "JOB-CONSERVATION",
        "compiled.py",
        'f"{pad}rec.in_flight += 1",',
        'f"{pad}rec.in_flight += 2",',
    ),
    _m(
        "hot-path-max-ttl-from-creation",
        "IBM-MAXTTL-FROM-START IBM-DETAILS-KEYS",
        "compiled.py",
        'f"{pad}    rec.started_at = at",',
        'f"{pad}    rec.started_at = rec.created_at",',
    ),
    _m(
        "hot-path-job-end-is-last-start",
        "IBM-ITTL-DEACTIVATE AZ-TIMEOUT-10MIN",
        "compiled.py",
        'f"{pad}rec.last_job_completed = at",',
        'f"{pad}rec.last_job_completed = rec.last_job_started",',
    ),
    _m(
        "hot-path-job-end-still-in-flight",
        "JOB-CONSERVATION IBM-CLOSE-DRAINS",
        "compiled.py",
        'f"{pad}rec.in_flight -= 1",',
        'f"{pad}rec.in_flight -= 0",',
    ),
    _m(
        "hot-path-timer-boundary",
        "TIMER-ORDER TIMER-DEADLINE",
        "compiled.py",
        '"    while rec.deadline <= upto:",',
        '"    while rec.deadline < upto:",',
    ),
    _m(
        "hot-path-event-at-deadline-skips-timer",
        "TIMER-ORDER",
        "compiled.py",
        'checks = ["not rec.last_at <= at < rec.deadline"]',
        'checks = ["not rec.last_at <= at <= rec.deadline"]',
    ),
)

MUTANTS += COMPILED_MUTANTS

#: Rules whose behaviour is not the core's (the SDK adapters implement them): no core mutant.
RULES_WITHOUT_MUTANTS = frozenset({"IBM-SIMULATOR-NO-SESSION"})


def occurrences(mutant: Mutant, core: Path = CORE) -> int:
    """How often the mutant's ``old`` text occurs in the current core file."""
    return (core / mutant.file).read_text().count(mutant.old)


def run_mutant(mutant: Mutant | None, *, timeout: float) -> Verdict:
    """Run the properties on a fresh copy of the core, with ``mutant`` applied (or none: the
    control run, which must find nothing)."""
    with tempfile.TemporaryDirectory(prefix="qsession-mutant-") as tmp:
        copy = Path(tmp) / "core"
        shutil.copytree(CORE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        if mutant is not None:
            target = copy / mutant.file
            text = target.read_text()
            if text.count(mutant.old) != 1:
                raise ValueError(f"mutant {mutant.id}: its old text is not in {mutant.file} once")
            target.write_text(text.replace(mutant.old, mutant.new))
        name = "control" if mutant is None else mutant.id
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, str(DRIVER), str(copy)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Verdict(name, "timeout", (), None, f"no answer in {timeout:g} s", timeout)
        seconds = time.monotonic() - started
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            error = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return Verdict(name, "crashed", (), None, error, seconds)
        report = json.loads(lines[-1])
        rules = tuple(report["rules"])
        outcome = "caught" if rules else "timeout" if report.get("hang") else "survived"
        outcome = "control" if mutant is None else outcome
        return Verdict(name, outcome, rules, report["stage"], report["example"], seconds)


def run_all(mutants: Iterable[Mutant | None], *, timeout: float, workers: int = 2) -> list[Verdict]:
    """Run each mutant (None: the control) in parallel subprocesses, ``workers`` at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda m: run_mutant(m, timeout=timeout), mutants))
