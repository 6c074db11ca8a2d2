"""``track()``: a qiskit-ibm-runtime ``Session`` or ``Batch`` that mirrors itself in the core.

Theory of operation
-------------------
``track`` adopts the SDK object in place: its class becomes a subclass of its own class
(``TrackedSession`` first in the MRO), so primitives still see a ``Session``/``Batch`` and the
user's variable, context manager and ``EstimatorV2(mode=session)`` keep working. The subclass
intercepts ``_run`` (every primitive submission), ``close``, ``cancel`` and ``details``; each job
``_run`` returns is adopted too, so its status changes reach the mirror (``jobs.py``).

Local testing mode (a fake backend): jobs run at once on their own threads and IBM applies no
session rule. The mirror models the QPU the session would have: jobs start one at a time in
submission order, a job starting when the one before it ends; a job's end is seen when its
thread finishes. With ``enforce=True`` the core's verdicts become the SDK's: a submission the
session no longer accepts raises ``IBMRuntimeError("The session is closed.")`` (also through the
executor primitives, whose local path skips the session's own guard), jobs the core failed or
cancelled report ``ERROR``/``CANCELLED`` and refuse ``result()``, and ``status()``/``details()``
answer as the service would.

Real service: the service is the authority. The mirror learns job starts and ends from the
jobs' status polls, stamped with the service's own times (``metrics()``), and settles them up
to a clock reading taken before the poll. Each ``details()``/``status()`` call compares the
prediction with the service's answer; on a mismatch it logs both and adopts the service's view:
a session the service no longer lets accept jobs is closed in the core, a session it has closed
is cancelled in the core, and any other difference (a TTL lapsing at another moment, a state
the core has no event for) is reported as the service's until the core's next state change.
The clock must then count POSIX seconds like the service's timestamps (``time.time``, the
default there; against a virtual-time emulator, its clock).
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from qiskit_ibm_runtime import Batch, Session
from qiskit_ibm_runtime.exceptions import IBMRuntimeError
from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService
from qsession.adapters._mirror import RESOLUTION, Clock, Mirror
from qsession.core import Session as CoreSession
from qsession.core import ibm_status, policies
from qsession.core.effects import Effect, JobsCancelled, JobsFailed, StateChanged
from qsession.core.errors import SessionClosedError
from qsession.core.events import (
    Cancel,
    Close,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from qsession.core.policies import IBMPolicy
from qsession.core.records import JobState

from .jobs import SDKJob, adopt_job

if TYPE_CHECKING:
    from qsession.adapters.local.timeline import Timeline

log = logging.getLogger("qsession.adapters.ibm")

#: The client's own message for a closed session (``session.py: _active_session``).
CLOSED = "The session is closed."

S = TypeVar("S", bound=Session)


class MaxTTLWarning(UserWarning):
    """The session's max TTL is near: jobs still queued when it is reached will fail."""


class SessionRuleWarning(UserWarning):
    """Local testing mode ran a job IBM would refuse (``track`` without ``enforce``)."""


def track(
    session: S,
    *,
    enforce: bool = False,
    clock: Clock | None = None,
    warn_before: float | None = 60.0,
    plan: str = "premium",
) -> S:
    """Mirror ``session`` (a ``Session`` or ``Batch``) in the core; return it, now tracked.

    ``enforce``: refuse submissions the session no longer accepts with the client's own error
    before anything is sent, and (local testing mode) make jobs the session failed or cancelled
    report so. ``clock``: seconds, by default ``time.monotonic`` in local testing mode and
    ``time.time`` on a real service. ``warn_before``: seconds before the max TTL at which a
    ``MaxTTLWarning`` is issued once (None: never). ``plan``: the IBM plan whose limits apply.
    """
    if not isinstance(session, Session):
        raise TypeError(
            f"track() takes a qiskit_ibm_runtime Session or Batch; got {type(session).__name__}"
        )
    if isinstance(session, TrackedSession):
        raise ValueError(f"{session!r} is already tracked; use it as it is")
    tracker = Tracker(session, enforce=enforce, clock=clock, warn_before=warn_before, plan=plan)
    session.__class__ = _tracked_class(type(session))
    session._qsession = tracker
    if tracker.local:
        session._service.__class__ = TrackedLocalService
        session._service._qsession = tracker
    return session


class TrackedSession(Session):
    """What ``track`` adds to a ``Session`` or ``Batch`` (mixed in first, by adoption)."""

    _qsession: Tracker

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        return self._qsession.submit(partial(super()._run, *args, **kwargs))

    def close(self) -> None:
        self._qsession.end(super().close, Close)

    def cancel(self) -> None:
        self._qsession.end(super().cancel, Cancel)

    def details(self) -> dict[str, Any] | None:
        """The service's details (reconciled with the prediction); in local testing mode with
        ``enforce=True``, the core's (times in clock seconds), since the service has none."""
        return self._qsession.details(super().details)

    def remaining(self) -> float | None:
        """Seconds until the max TTL, None before the first job starts, 0 once ended."""
        at, view = self._qsession.view()
        started: float | None = view.details()["started_at"]
        if started is None:
            return None
        if view.ended:
            return 0.0
        return max(0.0, started + self._qsession.policy.max_time - at)

    @property
    def next_deadline(self) -> float | None:
        """When the next session timer (interactive TTL, max TTL, unused timeout) fires."""
        return self._qsession.view()[1].next_deadline

    def predicted_status(self) -> str:
        """What ``status()`` returns on the service now, predicted without a network call."""
        return ibm_status(*self._qsession.predicted())

    def predicted_details(self) -> dict[str, Any]:
        """``details()`` as predicted now (times in clock seconds), without a network call."""
        _, view = self._qsession.view()
        state, accepting = self._qsession.predicted()
        return {**view.details(), "state": state, "accepting_jobs": accepting}

    def timeline(self) -> Timeline:
        """The session's state changes and jobs so far, as the local backend reports them."""
        at, _ = self._qsession.view()
        return self._qsession.mirror.timeline(at)

    @property
    def qsession(self) -> Mirror:
        """The mirror: its core session, policy and the events fed to it (for check_trace)."""
        return self._qsession.mirror


class TrackedLocalService(QiskitRuntimeLocalService):
    """A tracked session's local service: the executor primitives' path goes through the
    session's checks too (``Executor.run`` calls ``_run_executor`` directly in local mode)."""

    _qsession: Tracker

    def _run_executor(self, *args: Any, **kwargs: Any) -> Any:
        return self._qsession.submit(partial(super()._run_executor, *args, **kwargs))


_TRACKED: dict[type[Session], type[TrackedSession]] = {}


def _tracked_class(cls: type[Session]) -> type[TrackedSession]:
    """``cls`` with ``TrackedSession`` mixed in first, built once per class."""
    if cls not in _TRACKED:
        _TRACKED[cls] = type(f"Tracked{cls.__name__}", (TrackedSession, cls), {})
    return _TRACKED[cls]


def seconds(stamp: str | None) -> float | None:
    """POSIX seconds of a service timestamp (ISO 8601; UTC when no zone is given)."""
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@attrs.frozen
class Verdict:
    """How the session ended a job (local testing mode with ``enforce=True``)."""

    status: str
    reason: str


class Tracker:
    """The per-session state behind ``TrackedSession``: the mirror and the SDK's jobs."""

    def __init__(
        self,
        session: Session,
        *,
        enforce: bool,
        clock: Clock | None,
        warn_before: float | None,
        plan: str,
    ) -> None:
        self.session = session
        self.local = isinstance(session.service, QiskitRuntimeLocalService)
        self.enforce = enforce
        self.warn_before = warn_before
        self._warned = False
        self._jobs: dict[str, SDKJob] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._queue: deque[str] = deque()
        self._running: str | None = None
        self._finished: dict[str, Callable[[float], Event]] = {}
        self._started: set[str] = set()
        self._override: tuple[str, bool] | None = None
        backend = session.backend() or ""
        if self.local:
            clock = clock or time.monotonic
            policy = _policy(session, plan, session._max_time)
            session_id, opened_at, details = f"local-{uuid.uuid4().hex[:12]}", clock(), None
        else:
            clock = clock or time.time
            details = session.details()
            if details is None:
                raise ValueError(
                    f"{session!r} has no server session to track (a simulator backend, or"
                    " create_new=False without from_id); track a session the service created"
                )
            policy = _policy(session, plan, int(details["max_time"]))
            if details.get("interactive_timeout") is not None:
                policy = attrs.evolve(policy, interactive_ttl=float(details["interactive_timeout"]))
            stamps = details.get("timestamps") or []
            opened = seconds(stamps[0]["timestamp"]) if stamps else None
            session_id, opened_at = details["id"], clock() if opened is None else opened
        self.policy: IBMPolicy = policy
        self.mirror = Mirror(
            policy,
            session_id=session_id,
            opened_at=opened_at,
            backend=backend,
            clock=clock,
            on_effects=self._carry_out,
        )
        if details is not None:
            self._reconcile(details, max(clock(), opened_at))

    # Observation ------------------------------------------------------------------------------

    def observe(self) -> float:
        """Bring the mirror up to now (polling the service's unfinished jobs on a real one);
        return the time it was brought to."""
        with self.mirror.lock:
            at = self.mirror.now()
            if not self.local:
                for job_id, job in list(self._jobs.items()):
                    if self.mirror.core.job_state(job_id).in_flight:
                        job.status()
            self.mirror.settle(at)
            self._warn(at, self.mirror.core)
            return at

    def view(self) -> tuple[float, CoreSession]:
        """The time now and the core as the provider shows it then (a copy)."""
        with self.mirror.lock:
            at = self.observe() if self.local else self.mirror.now()
            view = self.mirror.preview(at)
            self._warn(at, view)
            return at, view

    def predicted(self) -> tuple[str, bool]:
        """The predicted ``(state, accepting_jobs)`` now, or the service's if it was adopted."""
        with self.mirror.lock:
            _, view = self.view()
            return self._override or (str(view.state), view.accepting_jobs)

    def _warn(self, at: float, view: CoreSession) -> None:
        started = view.details()["started_at"]
        if self.warn_before is None or self._warned or started is None or view.ended:
            return
        left = started + self.policy.max_time - at
        if left <= self.warn_before:
            self._warned = True
            warnings.warn(
                MaxTTLWarning(
                    f"session {view.session_id!r}: {max(0.0, left):.0f} s left before its max"
                    f" TTL ({self.policy.max_time:g} s from its first job's start); jobs still"
                    " queued then will fail and later submissions will be refused"
                ),
                stacklevel=2,
            )

    # Verbs -------------------------------------------------------------------------------------

    def submit(self, run: Callable[[], SDKJob]) -> SDKJob:
        """Check the session still accepts jobs, submit through ``run``, mirror the job."""
        with self.mirror.lock:
            at = self.observe()
            if self.enforce and not self.local:
                details = Session.details(self.session)
                if details is not None:
                    self._reconcile(details, at)
            if not self.session._active:
                raise IBMRuntimeError(CLOSED)
            accepting = self._override[1] if self._override else self.mirror.core.accepting_jobs
            if self.enforce and not accepting:
                self.session._active = False
                raise IBMRuntimeError(CLOSED)
            job = run()
            self._record(job, at)
        if self.local and job.job_id() in self._jobs:
            job._future.add_done_callback(partial(self.job_done, job.job_id()))
        return job

    def _record(self, job: SDKJob, at: float) -> None:
        job_id = job.job_id()
        try:
            self.mirror.feed(Submit(job_id, at, target=self.policy.backend), name=job.primitive_id)
        except SessionClosedError as refused:
            if self.local:
                warnings.warn(
                    SessionRuleWarning(
                        f"IBM would refuse job {job_id!r}: {refused}; track(...,"
                        " enforce=True) raises instead"
                    ),
                    stacklevel=4,
                )
            else:
                log.warning(
                    "session %s: the service accepted job %s although the prediction was %r"
                    " (state %r, accepting_jobs %r)",
                    self.mirror.session_id,
                    job_id,
                    self.mirror.core.status,
                    str(self.mirror.core.state),
                    self.mirror.core.accepting_jobs,
                )
            return
        adopt_job(job, self)
        self._jobs[job_id] = job
        if self.local:
            self._queue.append(job_id)
            self._start_next(at)

    def end(self, call: Callable[[], None], kind: type[Close | Cancel]) -> None:
        """``close()`` or ``cancel()``: the SDK's call, then the core's event."""
        with self.mirror.lock:
            at = self.observe()
            call()
            self.mirror.feed(kind(at))

    def details(self, fetch: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        """The SDK's ``details()``, reconciled; the core's in local mode with ``enforce``."""
        with self.mirror.lock:
            at = self.observe()
            if self.local:
                return self.mirror.core.details() if self.enforce else fetch()
            details = fetch()
            if details is not None:
                self._reconcile(details, at)
            return details

    # Jobs --------------------------------------------------------------------------------------

    def job_done(self, job_id: str, future: Future[Any]) -> None:
        """A local job's thread finished (called once per path that sees it; idempotent)."""
        with self.mirror.lock:
            at = self.mirror.now()
            self.mirror.advance(at)
            if future.cancelled():
                end: Callable[[float], Event] = partial(JobCancelled, job_id)
            elif future.exception() is not None:
                end = partial(_failed, job_id, str(future.exception()))
            else:
                end = partial(JobCompleted, job_id)
            state = self.mirror.core.job_state(job_id)
            if state is JobState.RUNNING:
                self.mirror.feed(end(at))
                self._running = None
                self._start_next(at)
            elif state is JobState.QUEUED:
                self._finished.setdefault(job_id, end)

    def _start_next(self, at: float) -> None:
        """Local QPU: start queued jobs in order while none runs (finished ones end at once)."""
        while self._running is None and self._queue:
            job_id = self._queue.popleft()
            if self.mirror.core.job_state(job_id) is not JobState.QUEUED:
                continue
            self.mirror.feed(JobStarted(job_id, at))
            self._running = job_id
            end = self._finished.pop(job_id, None)
            if end is not None:
                self.mirror.feed(end(at))
                self._running = None

    def job_moved(self, job: SDKJob, polled_at: float) -> None:
        """A service job's status changed: learn its start and end at the service's times
        (``polled_at``, the time before the poll, when the service gives none). They are fed to
        the core by the next ``observe``, which polls every unfinished job first."""
        status, job_id = job._status, job.job_id()
        with self.mirror.lock:
            if status not in ("RUNNING", "DONE", "ERROR", "CANCELLED"):
                return
            stamps = job.metrics().get("timestamps") or {}
            running, finished = seconds(stamps.get("running")), seconds(stamps.get("finished"))
            at = polled_at if finished is None else finished
            if running is None and status in ("RUNNING", "DONE"):
                running = polled_at if status == "RUNNING" else at
            if running is not None and job_id not in self._started:
                self._started.add(job_id)
                self.mirror.learn(JobStarted(job_id, running))
            if status != "RUNNING":
                if status == "DONE":
                    self.mirror.learn(JobCompleted(job_id, at))
                elif status == "CANCELLED":
                    self.mirror.learn(JobCancelled(job_id, at))
                else:
                    self.mirror.learn(_failed(job_id, job._reason or "", at))

    def verdict(self, job_id: str) -> Verdict | None:
        """How the session ended this job, if it did (local testing mode with ``enforce``)."""
        with self.mirror.lock:
            self.observe()
            return self._verdicts.get(job_id)

    # Effects and reconciliation ----------------------------------------------------------------

    def _carry_out(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if isinstance(effect, StateChanged):
                self._override = None
                if self.local and self.enforce and not effect.accepting_jobs:
                    self.session._active = False
            elif self.local and self.enforce and isinstance(effect, JobsFailed | JobsCancelled):
                status = "ERROR" if isinstance(effect, JobsFailed) else "CANCELLED"
                for job_id in effect.job_ids:
                    self._verdicts[job_id] = Verdict(status, effect.reason)

    def _reconcile(self, details: dict[str, Any], at: float) -> None:
        """Compare the prediction at ``at`` with the service's details; adopt the service's."""
        changed = [seconds(s.get("timestamp")) for s in details.get("timestamps") or []]
        if any(t is not None and t > at + RESOLUTION for t in changed):
            log.debug("session %s changed while observed; not compared", details["id"])
            return
        core = self.mirror.core
        predicted = self._override or (str(core.state), core.accepting_jobs)
        reported = (str(details["state"]), bool(details["accepting_jobs"]))
        if ibm_status(*predicted) == ibm_status(*reported) and predicted[1] == reported[1]:
            self._override = None
            return
        log.warning(
            "session %s: predicted status %r (state %r, accepting_jobs %r) but the service"
            " reports %r (state %r, accepting_jobs %r); adopting the service's",
            details["id"],
            ibm_status(*predicted),
            *predicted,
            ibm_status(*reported),
            *reported,
        )
        if not reported[1] and core.accepting_jobs:
            self.mirror.feed(Close(at))
        if reported[0] == "closed" and not core.ended:
            self.mirror.feed(Cancel(at))
        mirrored = (str(core.state), core.accepting_jobs)
        self._override = None if mirrored == reported else reported


def _failed(job_id: str, reason: str, at: float) -> JobFailed:
    return JobFailed(job_id, at, reason)


def _policy(session: Session, plan: str, max_time: int | None) -> IBMPolicy:
    factory = policies.ibm_batch if isinstance(session, Batch) else policies.ibm_session
    return factory(plan, max_time, backend=session.backend())


__all__ = ["CLOSED", "MaxTTLWarning", "SessionRuleWarning", "TrackedSession", "track"]
