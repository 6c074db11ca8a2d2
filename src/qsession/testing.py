"""Hypothesis strategies and a base state machine for testing session-handling code.

``durations()`` draws tiny gaps, each provider timer's boundary and its neighbours, and huge
gaps; ``event_traces()`` draws whole event sequences; ``SessionStateMachine`` is a
``RuleBasedStateMachine`` with a test-owned clock that drives one session through the spec's
checker, so every step is checked against every rule. Subclass it, set ``policy``, and
override ``observe`` to drive your own code alongside (needs ``qsession[testing]``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from qsession.core import Session, policies
from qsession.core.effects import Effect
from qsession.core.errors import SessionError
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
from qsession.spec.checker import Checker

#: Every timer length the providers use (IBM batch ITTL, premium ITTL, Quantinuum window,
#: Azure timeout, IBM unused timeout, batch and premium max TTL).
TIMER_LENGTHS = (1.0, 60.0, 600.0, 1800.0, 28800.0)
JOB_IDS = ("j0", "j1", "j2")


def durations() -> st.SearchStrategy[float]:
    """Gaps between events: tiny, a timer's length or one second either side, or huge."""
    boundaries = sorted({t + d for t in TIMER_LENGTHS for d in (-1.0, 0.0, 1.0) if t + d >= 0})
    return st.one_of(
        st.sampled_from([0.0, 0.25, 0.5]),
        st.sampled_from(boundaries),
        st.floats(min_value=3e4, max_value=1e6, allow_nan=False),
    )


#: The backend the IBM policies of ``session_policies()`` name (when they name one), and a
#: target no session drawn here runs on (jobs for it must be refused).
IBM_BACKEND = "ibm_fez"
FOREIGN_TARGET = "elsewhere.qpu"


def session_policies() -> st.SearchStrategy[Policy]:
    """IBM sessions and batches (with and without max_time, on a named backend or none),
    Azure sessions of each kind."""
    backends = st.sampled_from([None, IBM_BACKEND])
    return st.one_of(
        st.builds(
            policies.ibm_session,
            max_time=st.sampled_from([None, 1, 60, "25m", "1h"]),
            backend=backends,
        ),
        st.builds(
            policies.ibm_batch, max_time=st.sampled_from([None, 2, "5m", "2h"]), backend=backends
        ),
        st.builds(
            policies.azure_session,
            target=st.sampled_from(["ionq.simulator", "quantinuum.sim.h2-1sc", "rigetti.qpu"]),
            job_failure_policy=st.sampled_from(["abort", "continue", "Continue", None]),
        ),
    )


def event_traces(max_size: int = 40) -> st.SearchStrategy[list[Event]]:
    """Event sequences over three job ids; close and cancel are rare so traces go deep, and
    a few events go back in time or name a foreign target so refusals are exercised too.
    Submissions name no target, the session's own (``IBM_BACKEND`` or an Azure target of
    ``session_policies()``) or ``FOREIGN_TARGET``."""

    @st.composite
    def trace(draw: Any) -> list[Event]:
        at, events = 0.0, []
        for _ in range(draw(st.integers(0, max_size))):
            at += draw(durations())
            kind = draw(st.sampled_from(_WEIGHTED_KINDS))
            job_id = draw(st.sampled_from(JOB_IDS))
            when = at - 1.0 if draw(st.integers(0, 49)) == 0 else at
            target = draw(st.sampled_from(_TARGETS))
            events.append(_event(kind, job_id, when, target))
        return events

    return trace()


_WEIGHTED_KINDS = (
    ("submit",) * 6
    + ("job_started",) * 6
    + ("job_completed",) * 5
    + ("job_failed",) * 2
    + ("job_cancelled",) * 1
    + ("advance",) * 4
    + ("close", "cancel")
)


_TARGETS = (
    (None,) * 12
    + (IBM_BACKEND, "ionq.simulator", "quantinuum.sim.h2-1sc", "rigetti.qpu")
    + (FOREIGN_TARGET,) * 2
)


def _event(kind: str, job_id: str, at: float, target: str | None) -> Event:
    if kind == "submit":
        return Submit(job_id, at, target)
    if kind in ("close", "cancel", "advance"):
        return {"close": Close, "cancel": Cancel, "advance": Advance}[kind](at)
    job_kinds = {
        "job_started": JobStarted,
        "job_completed": JobCompleted,
        "job_failed": JobFailed,
        "job_cancelled": JobCancelled,
    }
    return job_kinds[kind](job_id, at)


class SessionStateMachine(RuleBasedStateMachine):
    """Drives one session of ``policy`` with a test-owned clock; every step is checked."""

    policy: ClassVar[Policy] = policies.ibm_session()

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.submitted = 0
        self.checker = Checker(self.policy)

    @property
    def session(self) -> Session:
        return self.checker.session

    def observe(
        self, event: Event, effects: tuple[Effect, ...], error: SessionError | None
    ) -> None:
        """Called after every event; override to drive the code under test alongside."""

    def _feed(self, event: Event) -> None:
        before = len(self.checker.session.jobs)
        effects, error = self.checker.feed(event)
        self.submitted += len(self.checker.session.jobs) - before
        self.observe(event, effects, error)

    @rule(gap=durations())
    def wait(self, gap: float) -> None:
        """Classical work between events: only the clock moves."""
        self.now += gap

    @rule()
    def submit(self) -> None:
        self._feed(Submit(f"j{self.submitted}", self.now))

    @rule(foreign=st.booleans())
    def submit_to_a_target(self, foreign: bool) -> None:
        """Name the target: the session's own, or one it does not run on (refused)."""
        own = self.policy.target
        self._feed(Submit(f"j{self.submitted}", self.now, FOREIGN_TARGET if foreign else own))

    @rule(pick=st.integers(0, 7))
    def start(self, pick: int) -> None:
        self._feed(JobStarted(self._job(pick), self.now))

    @rule(pick=st.integers(0, 7))
    def complete(self, pick: int) -> None:
        self._feed(JobCompleted(self._job(pick), self.now))

    @rule(pick=st.integers(0, 7))
    def fail(self, pick: int) -> None:
        self._feed(JobFailed(self._job(pick), self.now, "injected"))

    @rule(pick=st.integers(0, 7))
    def cancel_job(self, pick: int) -> None:
        self._feed(JobCancelled(self._job(pick), self.now))

    @rule()
    def advance(self) -> None:
        self._feed(Advance(self.now))

    @rule(go=st.integers(0, 9))
    def close(self, go: int) -> None:
        """Rare (one draw in ten), so most runs go deep before the session ends."""
        if go == 0:
            self._feed(Close(self.now))

    @rule(go=st.integers(0, 9))
    def cancel(self, go: int) -> None:
        if go == 0:
            self._feed(Cancel(self.now))

    @invariant()
    def every_rule_holds(self) -> None:
        assert not self.checker.violations, self.checker.violations

    def _job(self, pick: int) -> str:
        jobs = list(self.checker.session.jobs)
        return jobs[pick % len(jobs)] if jobs else "never-submitted"
