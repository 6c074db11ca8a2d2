"""The local scheduler: fake QPUs whose sessions obey ``qsession.core`` exactly.

Theory of operation
-------------------
A ``Scheduler`` owns a clock, one or more ``LocalBackend`` QPUs and the sessions opened on
them. Each ``LocalSession`` is one ``qsession.core.Session``: every submission, job start and
end, close, cancel and timer is fed to it as a core event (and recorded for ``trace()``), and
the effects it returns are carried out here: ``JobsFailed`` / ``JobsCancelled`` end those jobs
(a running one frees its QPU), ``ExclusivityChanged`` makes the session the QPU's holder or
releases it, ``StateChanged`` goes on the session's timeline.

A QPU runs one job at a time. When it is free it starts the next queued job of its holder (the
first session still exclusive: an active IBM dedicated session, a Quantinuum session within its
window) and otherwise the oldest queued job of anyone: batch jobs, inactive or non-exclusive
sessions' jobs, job-mode jobs and other users' jobs (``BackgroundLoad``) alike. While the holder
has nothing queued the QPU waits for it, which is what exclusivity costs everyone else.

The loop is discrete-event: a heap of ``(time, seq, kind, payload)`` holds job completions,
each session's ``next_deadline`` (stale entries are skipped when popped), user callbacks and
background arrivals. Virtual time jumps from one event to the next; on a wall clock the loop
sleeps until the next event. Nothing polls. A job's circuits are executed when it completes, so
a job cancelled or aborted while queued or running costs nothing.

All public methods take the scheduler's lock, so sessions may be used from several threads.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from qsession.core import Session as CoreSession
from qsession.core.effects import (
    Effect,
    ExclusivityChanged,
    JobsCancelled,
    JobsFailed,
    StateChanged,
)
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
from qsession.core.records import JobState
from qsession.spec import Trace

from .clock import Clock, VirtualClock
from .model import IBM_QPU, BackgroundLoad, DurationModel, QiskitExecution
from .timeline import ExclusivityEntry, JobEntry, StateEntry, Timeline

_COMPLETE, _DEADLINE, _CALL, _ARRIVAL = range(4)
#: Trace entries are ``(code, *fields)`` tuples of atoms, which the garbage collector stops
#: tracking: a fleet of 100k sessions keeps millions of them (``trace()`` rebuilds the events).
_EVENT_KINDS: tuple[type[Event], ...] = (
    Submit,
    JobStarted,
    JobCompleted,
    JobFailed,
    JobCancelled,
    Close,
    Cancel,
    Advance,
)
_EVENT_CODES = {kind: code for code, kind in enumerate(_EVENT_KINDS)}
#: Timeline entries are kept as ``(kind, *fields)`` tuples of atoms for the same reason.
_ENTRY_KINDS: dict[str, type[StateEntry | ExclusivityEntry]] = {
    "state": StateEntry,
    "exclusive": ExclusivityEntry,
}
_QUEUED, _RUNNING = JobState.QUEUED, JobState.RUNNING


def _live(entry: tuple[float, int, int, Any, bool]) -> bool:
    """Whether a heap entry still means something (a superseded deadline or the completion
    of a job that was cancelled while running does not)."""
    _, seq, kind, payload, _ = entry
    if kind == _DEADLINE:
        return bool(payload._armed_seq == seq)
    if kind == _COMPLETE:
        return payload.state is _RUNNING
    return True


class LocalJob:
    """One job on a local QPU: in a session, in job mode, or another user's (``background``).

    ``work`` computes the result (``value``) when the job completes; None means a null job.
    """

    __slots__ = (
        "_callbacks",
        "_failure",
        "backend",
        "background",
        "duration",
        "ended_at",
        "job_id",
        "name",
        "reason",
        "session",
        "shots",
        "started_at",
        "state",
        "submitted_at",
        "tags",
        "value",
        "work",
    )

    def __init__(
        self,
        job_id: str,
        backend: LocalBackend,
        session: LocalSession | None,
        work: Callable[[], Any] | None,
        *,
        at: float,
        shots: int = 0,
        tags: tuple[str, ...] = (),
        name: str | None = None,
        duration: float | None = None,
        background: bool = False,
    ) -> None:
        self.job_id = job_id
        self.backend = backend
        self.session = session
        self.work = work
        self.shots = shots
        self.tags = tags
        self.name = name
        self.background = background
        self.duration = backend.duration.seconds(shots) if duration is None else duration
        self.state = _QUEUED
        self.submitted_at = at
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.reason: str | None = None
        self.value: Any = None
        self._failure: str | None = None
        self._callbacks: list[Callable[[LocalJob], object]] | None = None

    @property
    def done(self) -> bool:
        """Whether the job reached a terminal state (completed, failed or cancelled)."""
        return not self.state.in_flight

    def wait(self) -> LocalJob:
        """Block (virtual clock: run the loop) until the job ends; return it."""
        self.backend.scheduler.wait(self)
        return self

    def cancel(self) -> bool:
        """Cancel the job if still queued or running; return whether it was."""
        scheduler = self.backend.scheduler
        with scheduler._lock:
            at = scheduler._sync()
            if self.done:
                return False
            if self.session is not None:
                self.session._feed(JobCancelled, self.job_id, at)
            scheduler._finish(self, JobState.CANCELLED, at, "cancelled by the user")
            self.backend._dispatch(at)
            return True

    def add_done_callback(self, fn: Callable[[LocalJob], object]) -> None:
        """Call ``fn(job)`` from the event loop at the job's end time (at once if it has ended)."""
        scheduler = self.backend.scheduler
        with scheduler._lock:
            if self.done:
                scheduler._push(scheduler.clock.now(), _CALL, partial(fn, self))
            elif self._callbacks is None:
                self._callbacks = [fn]
            else:
                self._callbacks.append(fn)

    def entry(self) -> JobEntry:
        """This job as a timeline record."""
        return JobEntry(
            self.job_id,
            self.name,
            self.tags,
            str(self.state),
            self.submitted_at,
            self.started_at,
            self.ended_at,
            self.reason,
        )

    def __repr__(self) -> str:
        return f"<LocalJob {self.job_id!r} {self.state} on {self.backend.name!r}>"


class LocalBackend:
    """One fake QPU: a queue, at most one running job, and an optional exclusive holder."""

    def __init__(
        self,
        scheduler: Scheduler,
        name: str,
        *,
        duration: DurationModel,
        execution: QiskitExecution,
        load: BackgroundLoad | None,
        num_qubits: int,
    ) -> None:
        self.scheduler = scheduler
        self.name = name
        self.duration = duration
        self.execution = execution
        self.load = load
        self.num_qubits = num_qubits
        self._fifo: deque[LocalJob] = deque()
        self._queued = 0
        self._running: LocalJob | None = None
        self._holders: dict[LocalSession, None] = {}
        self._failures: deque[str] = deque()
        self._rng = random.Random(load.seed if load is not None else 0)
        self._others = itertools.count(1)

    @property
    def queue_length(self) -> int:
        """Jobs waiting to run on this QPU (everyone's)."""
        return self._queued

    @property
    def running(self) -> LocalJob | None:
        return self._running

    def submit(
        self,
        work: Callable[[], Any] | None = None,
        *,
        shots: int = 0,
        tags: Iterable[str] = (),
        name: str | None = None,
    ) -> LocalJob:
        """Queue a job outside any session (IBM job mode, an Azure job with no session)."""
        scheduler = self.scheduler
        with scheduler._lock:
            at = scheduler._sync()
            job = LocalJob(
                scheduler._new_job_id(),
                self,
                None,
                work,
                at=at,
                shots=shots,
                tags=tuple(tags),
                name=name,
            )
            scheduler._admit(job)
            return job

    def fail_next_job(self, reason: str = "injected failure") -> None:
        """Make the next user job that starts on this QPU fail when it ends (fault injection)."""
        with self.scheduler._lock:
            self._failures.append(reason)

    def _enqueue(self, job: LocalJob) -> None:
        self._fifo.append(job)
        if job.session is not None:
            job.session._queue.append(job)
        self._queued += 1

    def _set_holder(self, session: LocalSession, exclusive: bool) -> None:
        if exclusive:
            self._holders[session] = None
        else:
            self._holders.pop(session, None)

    def _next(self) -> LocalJob | None:
        for holder in self._holders:
            queue = holder._queue
            while queue and queue[0].state is not _QUEUED:
                queue.popleft()
            return queue.popleft() if queue else None
        fifo = self._fifo
        while fifo:
            job = fifo.popleft()
            if job.state is _QUEUED:
                return job
        return None

    def _dispatch(self, at: float) -> None:
        """Start the next job if the QPU is free and someone may use it."""
        job = None if self._running is not None else self._next()
        while job is not None and job.session is not None:
            deadline = job.session.core.next_deadline
            if deadline is None or deadline > at:
                break
            # The session's own timer is due first (it may end this very job): fire it, re-pick.
            self._fifo.appendleft(job)
            job.session._queue.appendleft(job)
            job.session._feed(Advance, at)
            job = self._next()
        if job is None:
            return
        if self._failures and not job.background:
            job._failure = self._failures.popleft()
        if job.session is not None:
            job.session._feed(JobStarted, job.job_id, at)
        self._running = job
        self._queued -= 1
        job.state = _RUNNING
        job.started_at = at
        self.scheduler._push(at + job.duration, _COMPLETE, job, not job.background)

    def _arrival(self, at: float) -> None:
        """Another user's job arrives; the next arrival is drawn."""
        load = self.load
        assert load is not None
        self._add_other(at)
        self.scheduler._push(at + self._rng.expovariate(1.0 / load.every), _ARRIVAL, self, False)
        self._dispatch(at)

    def _add_other(self, at: float) -> None:
        assert self.load is not None
        job = LocalJob(
            f"{self.name}-other-{next(self._others)}",
            self,
            None,
            None,
            at=at,
            duration=self.load.duration,
            background=True,
        )
        self._enqueue(job)

    def __repr__(self) -> str:
        return f"<LocalBackend {self.name!r} queue={self._queued}>"


class LocalSession:
    """One session on a local QPU, mirrored in a ``qsession.core.Session``."""

    def __init__(
        self,
        scheduler: Scheduler,
        backend: LocalBackend,
        policy: Policy,
        session_id: str,
        at: float,
    ) -> None:
        self.scheduler = scheduler
        self.backend = backend
        self.core = CoreSession.open(policy, session_id=session_id, at=at)
        self.opened_at = at
        self._events: list[tuple[Any, ...]] = []
        self._entries: list[LocalJob | tuple[Any, ...]] = [
            ("state", at, str(self.core.state), True, "open")
        ]
        self._jobs: dict[str, LocalJob] = {}
        self._queue: deque[LocalJob] = deque()
        self._armed: float | None = None
        self._armed_seq = -1
        self._watch()

    @property
    def session_id(self) -> str:
        return self.core.session_id

    @property
    def policy(self) -> Policy:
        return self.core.policy

    @property
    def jobs(self) -> tuple[LocalJob, ...]:
        """Every job accepted by the session, in submission order."""
        return tuple(self._jobs.values())

    def submit(
        self,
        work: Callable[[], Any] | None = None,
        *,
        shots: int = 0,
        tags: Iterable[str] = (),
        name: str | None = None,
    ) -> LocalJob:
        """Queue a job in the session; raises the core's ``SessionClosedError`` if it no longer
        accepts jobs, before anything is queued or run."""
        scheduler = self.scheduler
        with scheduler._lock:
            at = scheduler._sync()
            job = LocalJob(
                scheduler._new_job_id(),
                self.backend,
                self,
                work,
                at=at,
                shots=shots,
                tags=tuple(tags),
                name=name,
            )
            self._feed(Submit, job.job_id, at, self.backend.name)
            self._jobs[job.job_id] = job
            self._entries.append(job)
            scheduler._admit(job)
            return job

    def close(self) -> None:
        """Stop accepting jobs; the submitted ones still run (IBM ``close()``, Azure close)."""
        with self.scheduler._lock:
            at = self.scheduler._sync()
            self._feed(Close, at)
            self.backend._dispatch(at)

    def cancel(self) -> None:
        """End the session now; queued jobs are cancelled (IBM ``cancel()``)."""
        with self.scheduler._lock:
            at = self.scheduler._sync()
            self._feed(Cancel, at)
            self.backend._dispatch(at)

    def trace(self) -> Trace:
        """Every core event fed to this session so far, in order (refused submissions and the
        ``Advance`` of each timer included), for ``qsession.spec.check_trace``."""
        with self.scheduler._lock:
            self.scheduler._sync()
            events = tuple(_EVENT_KINDS[code](*fields) for code, *fields in self._events)
            return Trace(self.policy, self.session_id, self.opened_at, events)

    def timeline(self) -> Timeline:
        """State changes, exclusivity changes and jobs so far, in the order they happened."""
        with self.scheduler._lock:
            at = self.scheduler._sync()
            entries = tuple(
                e.entry() if isinstance(e, LocalJob) else _ENTRY_KINDS[e[0]](*e[1:])
                for e in self._entries
            )
            return Timeline(
                self.session_id, self.backend.name, self.policy, self.opened_at, at, entries
            )

    def _feed(self, kind: type[Event], *fields: Any) -> None:
        """Hand the event ``kind(*fields)`` to the core, record it, carry out the effects."""
        self._events.append((_EVENT_CODES[kind], *fields))
        effects = self.core.handle(kind(*fields))
        if effects:
            self.scheduler._apply(self, effects)
        self._watch()

    def _watch(self) -> None:
        """Keep exactly one live heap entry for the core's next deadline."""
        deadline = self.core.next_deadline
        if deadline != self._armed:
            superseded = self._armed is not None
            self._armed = deadline
            self._armed_seq = -1
            if superseded:
                self.scheduler._mark_stale(True)
            if deadline is not None:
                self._armed_seq = self.scheduler._push(deadline, _DEADLINE, self)

    def _on_deadline(self, at: float) -> None:
        self._armed = None
        self._armed_seq = -1
        self._feed(Advance, at)
        self.backend._dispatch(at)

    def __repr__(self) -> str:
        return f"<LocalSession {self.session_id!r} {self.core.state!s} on {self.backend.name!r}>"


class Scheduler:
    """Fake QPUs, their sessions and jobs, and the event loop that drives them."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = VirtualClock() if clock is None else clock
        self.clock._attach(self)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, int, Any, bool]] = []
        self._seq = itertools.count()
        self._fg_events = 0
        self._stale = 0
        self._fg_live = 0
        self._stepping = False
        self._backends: dict[str, LocalBackend] = {}
        self._sessions: dict[str, LocalSession] = {}
        self._session_ids = itertools.count(1)
        self._job_ids = itertools.count(1)

    def now(self) -> float:
        return self.clock.now()

    def add_backend(
        self,
        name: str,
        *,
        duration: DurationModel = IBM_QPU,
        load: BackgroundLoad | None = None,
        qiskit_backend: Any = None,
        seed: int | None = None,
        num_qubits: int | None = None,
        exact: bool = False,
    ) -> LocalBackend:
        """Add a fake QPU. ``qiskit_backend`` (a ``BackendV2``) makes it execute through
        ``BackendEstimatorV2`` / ``BackendSamplerV2``, otherwise statevector primitives with
        shot noise, or exact values if ``exact``; ``num_qubits`` (for ``least_busy``) defaults
        to that backend's, else 24."""
        with self._lock:
            if name in self._backends:
                raise ValueError(f"backend {name!r} already exists on this scheduler")
            qubits = num_qubits or getattr(qiskit_backend, "num_qubits", None) or 24
            backend = LocalBackend(
                self,
                name,
                duration=duration,
                execution=QiskitExecution(qiskit_backend, seed=seed, exact=exact),
                load=load,
                num_qubits=qubits,
            )
            self._backends[name] = backend
            if load is not None:
                at = self.clock.now()
                for _ in range(load.backlog):
                    backend._add_other(at)
                first = at + backend._rng.expovariate(1.0 / load.every)
                self._push(first, _ARRIVAL, backend, False)
            return backend

    def backend(self, name: str) -> LocalBackend:
        try:
            return self._backends[name]
        except KeyError:
            raise KeyError(f"no backend {name!r}; known: {sorted(self._backends)}") from None

    @property
    def backends(self) -> tuple[LocalBackend, ...]:
        return tuple(self._backends.values())

    def open_session(
        self, policy: Policy, backend: LocalBackend, *, session_id: str | None = None
    ) -> LocalSession:
        """Open a session with ``policy`` on ``backend`` now."""
        if backend.scheduler is not self:
            raise ValueError(f"backend {backend.name!r} belongs to another scheduler")
        if policy.target not in (None, backend.name):
            raise ValueError(
                f"the policy is for {policy.target!r} but the backend is {backend.name!r}"
            )
        with self._lock:
            at = self._sync()
            sid = f"session-{next(self._session_ids)}" if session_id is None else session_id
            if sid in self._sessions:
                raise ValueError(f"session id {sid!r} is already in use")
            session = LocalSession(self, backend, policy, sid, at)
            self._sessions[sid] = session
            return session

    def session(self, session_id: str) -> LocalSession:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise KeyError(f"no session {session_id!r} on this scheduler") from None

    @property
    def sessions(self) -> tuple[LocalSession, ...]:
        return tuple(self._sessions.values())

    def call_at(self, at: float, fn: Callable[[], object]) -> None:
        """Run ``fn()`` from the event loop at session time ``at`` (not before now)."""
        with self._lock:
            if not at >= self.clock.now():
                raise ValueError(f"call_at time {at!r} is before now ({self.clock.now()!r})")
            self._push(at, _CALL, fn)

    def run(self, until: float | None = None) -> None:
        """Process events up to session time ``until``; with None, until no user job is live
        and no session timer or callback is pending (other users' jobs never keep it going)."""
        clock = self.clock
        with self._cond:
            while True:
                if until is None and not (self._fg_events or self._fg_live):
                    break
                heap = self._heap
                nxt = heap[0][0] if heap else math.inf
                if until is not None and nxt > until:
                    if clock.virtual or clock.now() >= until:
                        break
                    clock._sleep(self._cond, until)
                    continue
                if not heap:
                    raise RuntimeError(f"{self._fg_live} jobs are live but nothing can happen")
                if not clock.virtual and nxt > clock.now():
                    clock._sleep(self._cond, nxt)
                    continue
                self._step()
            if until is not None:
                clock._reach(until)

    def wait(self, job: LocalJob) -> None:
        """Run the loop (or, on a wall clock, sleep between events) until ``job`` ends."""
        clock = self.clock
        with self._cond:
            while job.state.in_flight:
                if not self._heap:
                    raise RuntimeError(f"{job!r} can never end: no event is pending")
                if clock.virtual or self._heap[0][0] <= clock.now():
                    self._step()
                else:
                    clock._sleep(self._cond, self._heap[0][0])

    def _push(self, at: float, kind: int, payload: Any, foreground: bool = True) -> int:
        seq = next(self._seq)
        heapq.heappush(self._heap, (at, seq, kind, payload, foreground))
        if foreground:
            self._fg_events += 1
        if not self.clock.virtual:
            self._cond.notify_all()
        return seq

    def _mark_stale(self, foreground: bool) -> None:
        """An entry in the heap no longer means anything: it will be dropped when popped (it
        neither moves the clock nor keeps ``run`` going), and the heap is rebuilt without such
        entries when they are the majority, so superseded deadlines do not pile up."""
        self._stale += 1
        if foreground:
            self._fg_events -= 1
        if self._stale > 256 and 2 * self._stale > len(self._heap):
            live = [entry for entry in self._heap if _live(entry)]
            self._fg_events = sum(1 for entry in live if entry[4])
            self._heap[:] = live
            heapq.heapify(self._heap)
            self._stale = 0

    def _step(self) -> None:
        entry = heapq.heappop(self._heap)
        at, _, kind, payload, foreground = entry
        if not _live(entry):
            self._stale -= 1
            return
        if foreground:
            self._fg_events -= 1
        self.clock._reach(at)
        outer, self._stepping = self._stepping, True
        try:
            if kind == _COMPLETE:
                self._complete(payload, at)
            elif kind == _DEADLINE:
                payload._on_deadline(at)
            elif kind == _CALL:
                payload()
            else:
                payload._arrival(at)
        finally:
            self._stepping = outer

    def _sync(self) -> float:
        """Process every event due by now (unless inside the loop already); return now."""
        now = self.clock.now()
        if not self._stepping:
            heap = self._heap
            while heap and heap[0][0] <= now:
                self._step()
        return now

    def _new_job_id(self) -> str:
        return f"job-{next(self._job_ids)}"

    def _admit(self, job: LocalJob) -> None:
        self._fg_live += 1
        job.backend._enqueue(job)
        job.backend._dispatch(job.submitted_at)
        if not self.clock.virtual:
            self._cond.notify_all()

    def _complete(self, job: LocalJob, at: float) -> None:
        backend = job.backend
        backend._running = None
        failure = job._failure
        value = None
        if failure is None and job.work is not None:
            try:
                value = job.work()
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
        if job.session is not None:
            if failure is None:
                job.session._feed(JobCompleted, job.job_id, at)
            else:
                job.session._feed(JobFailed, job.job_id, at, failure)
        if failure is None:
            self._finish(job, JobState.COMPLETED, at, None, value)
        else:
            self._finish(job, JobState.FAILED, at, failure)
        backend._dispatch(at)

    def _finish(
        self, job: LocalJob, state: JobState, at: float, reason: str | None, value: Any = None
    ) -> None:
        backend = job.backend
        was_running = backend._running is job
        if was_running:
            backend._running = None
        elif job.state is _QUEUED:
            backend._queued -= 1
        job.state = state
        job.ended_at = at
        job.reason = reason
        job.value = value
        if not job.background:
            self._fg_live -= 1
        if was_running:
            self._mark_stale(not job.background)
        if job._callbacks is not None:
            for fn in job._callbacks:
                self._push(at, _CALL, partial(fn, job))
            job._callbacks = None
        self._cond.notify_all()

    def _apply(self, session: LocalSession, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if isinstance(effect, StateChanged):
                session._entries.append(
                    ("state", effect.at, effect.state, effect.accepting_jobs, effect.cause)
                )
            elif isinstance(effect, ExclusivityChanged):
                session.backend._set_holder(session, effect.exclusive)
                session._entries.append(("exclusive", effect.at, effect.exclusive))
            else:
                end = JobState.FAILED if isinstance(effect, JobsFailed) else JobState.CANCELLED
                assert isinstance(effect, JobsFailed | JobsCancelled)
                for job_id in effect.job_ids:
                    self._finish(session._jobs[job_id], end, effect.at, effect.reason)
