"""The reference model: each provider's session rules restated over the trace.

Theory of operation
-------------------
A ``Reference`` is fed the same events as a ``qsession.core.Session`` and keeps only what a
reader of the provider documents would write down: the list of things that happened to the
session (accepted events and fired timers, with their times), the state each one led to, and
the jobs. Every time the rules need (first job start, last job end, last submission, the
number of failed jobs, the active intervals) is recomputed from that history; every constant
is its own, taken from the source its rule cites (``RULES`` in ``catalogue``). From the policy
it reads only what the user chose: mode, max_time, backend, target, job_failure_policy and
priority. It shares no code with ``qsession.core`` beyond the event and policy types, so a
property that compares the core with it trusts nothing the engine computed.

Clarity beats speed: each event is applied to a copy that replaces the model only when the
event is accepted (a refused event changes nothing), and the views are rebuilt on demand.
"""

from __future__ import annotations

import math
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
from qsession.core.policies import AzurePolicy, IBMPolicy, Policy

#: IBM "Run jobs in a session", Default values: interactive TTL 60 s, maximum TTL 8 h.
PREMIUM_INTERACTIVE_TTL = 60.0
PLAN_MAX_TTL = 8 * 3600.0
#: IBM "Run jobs in a batch": interactive TTL 1 s, maximum TTL 10 minutes, on every plan.
BATCH_INTERACTIVE_TTL = 1.0
BATCH_MAX_TTL = 10 * 60.0
#: IBM "Run jobs in a session": no job submitted for 30 minutes closes the session.
UNUSED_CLOSE = 30 * 60.0
#: Microsoft Learn "Get started with sessions": no new job for 10 minutes times it out.
AZURE_TIMEOUT = 10 * 60.0
#: Microsoft Learn, Quantinuum provider: exclusive while jobs come within one minute.
QUANTINUUM_WINDOW = 60.0

IN_FLIGHT = ("queued", "running")
JOB_ENDS = {"job_completed": "completed", "job_failed": "failed", "job_cancelled": "cancelled"}
AZURE_TERMINAL = ("Succeeded", "Failed", "TimedOut")

#: Which rule each timer belongs to.
TIMER_RULES = {
    "max_ttl_reached": "IBM-MAXTTL-FROM-START",
    "interactive_ttl_expired": "IBM-ITTL-DEACTIVATE",
    "unused_timeout": "IBM-UNUSED-30MIN",
    "idle_timeout": "AZ-TIMEOUT-10MIN",
    "exclusivity_lapsed": "AZ-QUANTINUUM-EXCLUSIVE",
}

#: An effect as the reference states it: ("state", at, previous, state, accepting, cause),
#: ("exclusive", at, exclusive), ("failed" | "cancelled", at, job ids).
RefEffect = tuple[Any, ...]


@attrs.frozen
class RefJob:
    """One job: its state and the times the events gave."""

    state: str
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None


@attrs.frozen
class Happening:
    """One thing that happened: an accepted event or a timer (``kind`` is its name)."""

    kind: str
    at: float


@attrs.frozen
class Refusal:
    """Why the reference refuses an event: ``kind`` is ``"closed"`` (SessionClosedError) or
    ``"invalid"`` (InvalidEventError), ``rule`` the rule that refuses it."""

    kind: str
    rule: str


@attrs.frozen
class Outcome:
    """What one event did to the reference: its effects or its refusal, and the rules that
    decided it (the timers that fired first included)."""

    effects: tuple[RefEffect, ...]
    refusal: Refusal | None
    rules: tuple[str, ...]


@attrs.frozen
class View:
    """Everything the provider would report about the session, plus the trace-derived times
    the properties need."""

    state: str
    accepting_jobs: bool
    exclusive: bool
    status: str
    jobs: tuple[tuple[str, RefJob], ...]
    details: dict[str, Any]
    deadlines: tuple[tuple[str, float], ...]
    now: float
    created_at: float
    first_start: float | None
    last_submission: float | None
    last_job_end: float | None
    failures: int
    closed_at: float | None

    @property
    def deadline(self) -> float | None:
        """The earliest armed timer, or None."""
        return min((at for _, at in self.deadlines), default=None)

    def job_ids(self, *states: str) -> set[str]:
        return {job_id for job_id, job in self.jobs if job.state in states}


class ReferenceLoopError(RuntimeError):
    """A timer of the reference model did not move its deadline (a bug in the model)."""


class Reference:
    """One session of ``policy`` as the sources describe it (see module doc)."""

    def __init__(self, policy: Policy, *, session_id: str, at: float) -> None:
        self.policy = policy
        self.ibm = isinstance(policy, IBMPolicy)
        self.session_id = session_id
        self.created_at = at
        self.now = at
        self.state = "open" if self.ibm else "Waiting"
        self.accepting = True
        self.exclusive = False
        self.jobs: dict[str, RefJob] = {}
        self.history: list[Happening] = []
        #: Every state entered after opening, with its time (IBM ``timestamps``).
        self.entered: list[tuple[str, float]] = []

    def clone(self) -> Reference:
        twin = object.__new__(Reference)
        twin.__dict__.update(self.__dict__)
        twin.jobs = dict(self.jobs)
        twin.history = list(self.history)
        twin.entered = list(self.entered)
        return twin

    # -- the user's choices and the constants ------------------------------------------------

    @property
    def interactive_ttl(self) -> float:
        assert isinstance(self.policy, IBMPolicy)
        return BATCH_INTERACTIVE_TTL if self.policy.mode == "batch" else PREMIUM_INTERACTIVE_TTL

    @property
    def provider_id(self) -> str:
        assert isinstance(self.policy, AzurePolicy)
        return self.policy.target.split(".", 1)[0].lower()

    @property
    def window(self) -> float | None:
        return QUANTINUUM_WINDOW if self.provider_id == "quantinuum" else None

    # -- times recomputed from the trace ----------------------------------------------------

    def times(self, *kinds: str) -> list[float]:
        return [h.at for h in self.history if h.kind in kinds]

    @property
    def first_start(self) -> float | None:
        return min(self.times("job_started"), default=None)

    @property
    def last_job_end(self) -> float | None:
        return max(self.times(*JOB_ENDS), default=None)

    @property
    def last_submission(self) -> float | None:
        return max(self.times("submit"), default=None)

    @property
    def failures(self) -> int:
        return len(self.times("job_failed"))

    @property
    def in_flight(self) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if job.state in IN_FLIGHT]

    @property
    def closed_at(self) -> float | None:
        ends = [at for state, at in self.entered if state in ("closed", *AZURE_TERMINAL)]
        return ends[0] if ends else None

    @property
    def activated_at(self) -> float | None:
        return max((at for state, at in self.entered if state == "active"), default=None)

    @property
    def active_seconds(self) -> float:
        """Seconds spent active: each active interval, the current one up to now."""
        total, since = 0.0, None
        for state, at in self.entered:
            if since is not None:
                total += at - since
            since = at if state == "active" else None
        return total + (self.now - since if since is not None else 0.0)

    def last_activity(self) -> float:
        """Azure: the latest of opening, the last submission and the last job end."""
        return max(
            t for t in (self.created_at, self.last_submission, self.last_job_end) if t is not None
        )

    # -- timers ---------------------------------------------------------------------------------

    def deadlines(self) -> list[tuple[str, float]]:
        """Armed timers in firing order on a tie (the session-ending one first)."""
        idle = not self.in_flight
        armed: list[tuple[str, float]] = []
        if self.ibm:
            assert isinstance(self.policy, IBMPolicy)
            first, last_end = self.first_start, self.last_job_end
            if self.state in ("active", "inactive") and first is not None:
                armed.append(("max_ttl_reached", first + self.policy.max_time))
            if self.state == "active" and idle and last_end is not None:
                armed.append(("interactive_ttl_expired", last_end + self.interactive_ttl))
            if self.state == "open" and self.last_submission is None:
                armed.append(("unused_timeout", self.created_at + UNUSED_CLOSE))
        elif self.state not in AZURE_TERMINAL and idle:
            armed.append(("idle_timeout", self.last_activity() + AZURE_TIMEOUT))
            window = self.window
            if self.exclusive and window is not None:
                armed.append(("exclusivity_lapsed", self.last_activity() + window))
        return armed

    def next_deadline(self) -> tuple[str, float] | None:
        """The timer that fires next: the earliest, the first listed on a tie."""
        best: tuple[str, float] | None = None
        for timer, at in self.deadlines():
            if best is None or at < best[1]:
                best = (timer, at)
        return best

    # -- events ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> Outcome:
        """Apply ``event`` all-or-nothing; a refused event leaves the model as it was."""
        if not self.in_order(event):
            return Outcome((), Refusal("invalid", "EVENT-TIME-ORDER"), ("EVENT-TIME-ORDER",))
        trial = self.clone()
        effects: list[RefEffect] = []
        rules: list[str] = []
        while (timer := trial.due_timer(event.at)) is not None:
            trial.fire(timer, effects, rules)
        refusal = None if isinstance(event, Advance) else trial.apply(event, effects, rules)
        if refusal is not None:
            return Outcome((), refusal, (*rules, refusal.rule))
        trial.now = event.at
        self.__dict__.update(trial.__dict__)
        return Outcome(tuple(effects), None, tuple(rules))

    def in_order(self, event: Event) -> bool:
        """EVENT-TIME-ORDER: not before the last event, and at a finite time."""
        return self.now <= event.at < math.inf

    def due_timer(self, upto: float) -> str | None:
        """The timer that fires next if it is due by ``upto``."""
        due = self.next_deadline()
        return due[0] if due is not None and due[1] <= upto else None

    def fire(self, timer: str, effects: list[RefEffect], rules: list[str]) -> None:
        """Fire ``timer`` at its deadline (it must be armed)."""
        at = dict(self.deadlines())[timer]
        self.now = at
        self._timer(timer, at, effects)
        rules.append(TIMER_RULES[timer])
        if timer == "max_ttl_reached":
            rules.append("IBM-MAXTTL-QUEUED-FAIL")
        following = self.next_deadline()
        if following is not None and following[1] <= at and following[0] == timer:
            raise ReferenceLoopError(f"reference timer {timer} stays due at {at}")

    def apply(self, event: Event, effects: list[RefEffect], rules: list[str]) -> Refusal | None:
        """Apply one event with no timer due (the job rules, then the provider's); return
        why it is refused, if it is (then the model must be discarded)."""
        refusal = self.check_job(event)
        if refusal is not None:
            return refusal
        if self.ibm:
            return self._ibm(event, effects, rules)
        return self._azure(event, effects, rules)

    def _timer(self, timer: str, at: float, effects: list[RefEffect]) -> None:
        self.history.append(Happening(timer, at))
        if timer == "max_ttl_reached":
            self._end_jobs(at, ("queued",), "failed", effects)
            self._move(at, timer, effects, state="closed", accepting=False, exclusive=False)
        elif timer == "interactive_ttl_expired":
            self._move(at, timer, effects, state="inactive", exclusive=False)
        elif timer == "unused_timeout":
            self._move(at, timer, effects, state="closed", accepting=False)
        elif timer == "idle_timeout":
            self._move(at, timer, effects, state="TimedOut", accepting=False, exclusive=False)
        else:
            self._move(at, timer, effects, exclusive=False)

    def check_job(self, event: Event) -> Refusal | None:
        """The rules every provider shares: job ids, the job lifecycle, one target."""
        job_id = getattr(event, "job_id", "-")
        if type(job_id) is not str or not job_id:
            return Refusal("invalid", "EVENT-UNKNOWN-JOB")  # no session ever accepts such an id
        if isinstance(event, Submit):
            if event.job_id in self.jobs:
                return Refusal("invalid", "EVENT-DUPLICATE-JOB")
            own = self.policy.backend if isinstance(self.policy, IBMPolicy) else self.policy.target
            if event.target is not None and own is not None and event.target != own:
                return Refusal("invalid", "IBM-ONE-BACKEND" if self.ibm else "AZ-ONE-TARGET")
            return None
        if isinstance(event, JobStarted | JobCompleted | JobFailed | JobCancelled):
            job = self.jobs.get(event.job_id)
            if job is None:
                return Refusal("invalid", "EVENT-UNKNOWN-JOB")
            needs = {"job_started": ("queued",), "job_completed": ("running",)}
            if job.state not in needs.get(event.name, IN_FLIGHT):
                return Refusal("invalid", "JOB-LIFECYCLE")
        return None

    def _job_event(self, event: Event, rules: list[str]) -> None:
        """Record a job event on its job (JOB-LIFECYCLE, JOB-TIMES)."""
        self.history.append(Happening(event.name, event.at))
        rules.extend(("JOB-LIFECYCLE", "JOB-TIMES"))
        if isinstance(event, Submit):
            self.jobs[event.job_id] = RefJob("queued", event.at)
            return
        assert isinstance(event, JobStarted | JobCompleted | JobFailed | JobCancelled)
        job = self.jobs[event.job_id]
        if isinstance(event, JobStarted):
            self.jobs[event.job_id] = attrs.evolve(job, state="running", started_at=event.at)
        else:
            self.jobs[event.job_id] = attrs.evolve(
                job, state=JOB_ENDS[event.name], ended_at=event.at
            )

    def _ibm(self, event: Event, effects: list[RefEffect], rules: list[str]) -> Refusal | None:
        assert isinstance(self.policy, IBMPolicy)
        at, state = event.at, self.state
        batch = self.policy.mode == "batch"
        if isinstance(event, Submit):
            if not self.accepting:
                return Refusal("closed", "IBM-SUBMIT-CLOSED")
            rules.append("IBM-SUBMIT-CLOSED")
            if state == "inactive":
                rules.append("IBM-REACTIVATE")
            self._job_event(event, rules)
        elif isinstance(event, JobStarted):
            if self.first_start is None:
                rules.append("IBM-START-ON-FIRST-JOB-START")
            elif state == "inactive":
                rules.append("IBM-REACTIVATE")
            self._job_event(event, rules)
            if state in ("open", "inactive"):
                rules.append("IBM-EXCLUSIVE-WHEN-ACTIVE")
                self._move(at, event.name, effects, state="active", exclusive=not batch)
        elif isinstance(event, JobCompleted | JobFailed | JobCancelled):
            self._job_event(event, rules)
            rules.append("IBM-ITTL-DEACTIVATE")
            if state == "closed":
                rules.append("IBM-RUNNING-FINISHES")
            elif not self.accepting:
                rules.append("IBM-BATCH-ENDS" if batch else "IBM-CLOSE-DRAINS")
                if not self.in_flight:
                    self._history_close(event)
                    self._move(at, event.name, effects, state="closed", exclusive=False)
        elif isinstance(event, Close):
            if state == "closed":
                rules.append("IBM-CLOSED-TERMINAL")
                return None
            rules.append("IBM-BATCH-ENDS" if batch else "IBM-CLOSE-DRAINS")
            self._history_close(event)
            if self.in_flight:
                self._move(at, event.name, effects, accepting=False)
            else:
                self._move(
                    at, event.name, effects, state="closed", accepting=False, exclusive=False
                )
        elif isinstance(event, Cancel):
            if state == "closed":
                rules.append("IBM-CLOSED-TERMINAL")
                return None
            rules.extend(("IBM-CANCEL", "IBM-COST-LIMIT", "IBM-RUNNING-FINISHES"))
            self._history_close(event)
            self._end_jobs(at, ("queued",), "cancelled", effects)
            self._move(at, event.name, effects, state="closed", accepting=False, exclusive=False)
        return None

    def _azure(self, event: Event, effects: list[RefEffect], rules: list[str]) -> Refusal | None:
        assert isinstance(self.policy, AzurePolicy)
        at, state = event.at, self.state
        ended = "Failed" if self.failures else "Succeeded"
        if isinstance(event, Submit):
            if state in AZURE_TERMINAL or not self.accepting:
                return Refusal("closed", "AZ-SUBMIT-CLOSED")
            rules.append("AZ-SUBMIT-CLOSED")
            self._job_event(event, rules)
            if state == "Waiting":
                rules.extend(("AZ-WAITING-UNTIL-FIRST-JOB", "AZ-QUANTINUUM-EXCLUSIVE"))
                self._move(
                    at, event.name, effects, state="Executing", exclusive=self.window is not None
                )
        elif isinstance(event, JobStarted):
            self._job_event(event, rules)
        elif isinstance(event, JobFailed) and self.policy.job_failure_policy == "abort":
            rules.append("AZ-ABORT")
            self._job_event(event, rules)
            self._end_jobs(at, IN_FLIGHT, "cancelled", effects)
            self._move(at, event.name, effects, state="Failed", accepting=False, exclusive=False)
        elif isinstance(event, JobCompleted | JobFailed | JobCancelled):
            self._job_event(event, rules)
            if isinstance(event, JobFailed):
                rules.append("AZ-CONTINUE")
            ended = "Failed" if self.failures else "Succeeded"
            if not self.accepting and not self.in_flight:
                rules.append("AZ-CLOSE-DRAINS")
                self._move(at, event.name, effects, state=ended, exclusive=False)
            elif isinstance(event, JobFailed):
                self._move(at, event.name, effects, state="Failure(s)")
        elif isinstance(event, Close):
            if state in AZURE_TERMINAL:
                rules.append("AZ-TERMINAL")
                return None
            self.history.append(Happening("close", at))
            if self.in_flight:
                rules.append("AZ-CLOSE-DRAINS")
                self._move(at, event.name, effects, accepting=False)
            else:
                rules.append("AZ-CLOSE-IDLE")
                self._move(at, event.name, effects, state=ended, accepting=False, exclusive=False)
        elif isinstance(event, Cancel):
            return Refusal("invalid", "AZ-NO-CANCEL")
        return None

    def _history_close(self, event: Event) -> None:
        if isinstance(event, Close | Cancel):
            self.history.append(Happening(event.name, event.at))

    def _end_jobs(
        self, at: float, states: tuple[str, ...], end: str, effects: list[RefEffect]
    ) -> None:
        """The session ends these jobs (IBM max TTL and cancel, Azure abort)."""
        ids = tuple(job_id for job_id, job in self.jobs.items() if job.state in states)
        for job_id in ids:
            self.jobs[job_id] = attrs.evolve(self.jobs[job_id], state=end, ended_at=at)
        if ids:
            effects.append((end, at, ids))

    def _move(
        self,
        at: float,
        cause: str,
        effects: list[RefEffect],
        *,
        state: str | None = None,
        accepting: bool | None = None,
        exclusive: bool | None = None,
    ) -> None:
        """Enter ``state`` (and set ``accepting``, ``exclusive``); report what changed."""
        previous = self.state
        new_state = previous if state is None else state
        new_accepting = self.accepting if accepting is None else accepting
        if new_state != previous or new_accepting != self.accepting:
            if new_state != previous:
                self.entered.append((new_state, at))
            effects.append(("state", at, previous, new_state, new_accepting, cause))
        self.state, self.accepting = new_state, new_accepting
        if exclusive is not None and exclusive != self.exclusive:
            self.exclusive = exclusive
            effects.append(("exclusive", at, exclusive))

    # -- what the provider reports ----------------------------------------------------------

    @property
    def status(self) -> str:
        """IBM: ``Session.status()`` as qiskit_ibm_runtime/session.py computes it from the
        details; Azure: the ``SessionStatus`` string itself."""
        if not self.ibm:
            return self.state
        if self.state in ("open", "inactive"):
            return "Pending"
        if self.state == "active":
            accepting = "accepting" if self.accepting else "not accepting"
            return f"In progress, {accepting} new jobs"
        return self.state.capitalize()

    def details(self) -> dict[str, Any]:
        policy = self.policy
        if isinstance(policy, IBMPolicy):
            return {
                "id": self.session_id,
                "backend_name": policy.backend,
                "interactive_timeout": self.interactive_ttl,
                "max_time": policy.max_time,
                "active_timeout": None,
                "state": self.state,
                "accepting_jobs": self.accepting,
                "last_job_started": max(self.times("job_started"), default=None),
                "last_job_completed": self.last_job_end,
                "started_at": self.first_start,
                "closed_at": self.closed_at,
                "activated_at": self.activated_at,
                "mode": policy.mode,
                "usage_time": self.active_seconds,
                "timestamps": [
                    {"status": state, "timestamp": at}
                    for state, at in [("open", self.created_at), *self.entered]
                ],
            }
        return {
            "id": self.session_id,
            "providerId": self.provider_id,
            "target": policy.target,
            "itemType": "Session",
            "jobFailurePolicy": policy.job_failure_policy.capitalize(),
            "priority": policy.priority,
            "status": self.state,
            "creationTime": self.created_at,
            "beginExecutionTime": self.first_start,
            "endExecutionTime": self.closed_at,
        }

    def view(self) -> View:
        return View(
            state=self.state,
            accepting_jobs=self.accepting,
            exclusive=self.exclusive,
            status=self.status,
            jobs=tuple(self.jobs.items()),
            details=self.details(),
            deadlines=tuple(self.deadlines()),
            now=self.now,
            created_at=self.created_at,
            first_start=self.first_start,
            last_submission=self.last_submission,
            last_job_end=self.last_job_end,
            failures=self.failures,
            closed_at=self.closed_at,
        )

    def key(self) -> tuple[Any, ...]:
        """The model with every time shifted so that now is 0 (the explorer's dedup key)."""

        def rel(at: float | None) -> float | None:
            return None if at is None else at - self.now

        return (
            self.state,
            self.accepting,
            self.exclusive,
            self.failures,
            self.active_seconds,
            *map(
                rel,
                (
                    self.created_at,
                    self.first_start,
                    self.activated_at,
                    self.closed_at,
                    self.last_submission,
                    max(self.times("job_started"), default=None),
                    self.last_job_end,
                ),
            ),
            tuple(
                (i, j.state, rel(j.submitted_at), rel(j.started_at), rel(j.ended_at))
                for i, j in self.jobs.items()
            ),
        )
