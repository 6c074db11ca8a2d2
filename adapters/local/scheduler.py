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
sleeps until the next event. Nothing polls.

A job's work (its circuits) is handed to a bounded thread pool when the job starts, outside the
lock, so QPUs execute in parallel and a long job on one QPU never holds up another. Its end
waits for the work: on a virtual clock time does not pass a job end whose work is still
running; on a wall clock a job whose work outlasts its modelled duration ends when the work
does. The input is dropped once the work has run (or the job ended without running).

No-idle invariant: whenever a QPU is idle, no job that the rules let it run is queued on it
(``idle_violations()`` is always empty). Every verb and every read that brings a session up to
date carries out what that changes, dispatch included, in the same step.

The emulator (``qsession serve``) runs on this scheduler too: it chooses the session and job
ids, rebuilds sessions from their stored traces (``restore_session``, ``restore_job``), hears
every accepted core event and job change through an ``Observer`` (its store), and lets
``start()`` drive the loop from a thread. On a virtual clock that thread moves time only while
jobs are in flight, and only to the next event: to a job end once its work is done (no timer
can lapse on the way, since the job end is the earliest event), to a session timer only when
no request is being handled (``handling()``) and none has been for ``quiet`` real seconds, so
clients between two jobs are not overtaken by time (trio's ``MockClock.autojump_threshold``).

All public methods take the scheduler's lock, so sessions may be used from several threads.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

import attrs
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

log = logging.getLogger(__name__)
#: Why a job stopped at its time limit ends cancelled (IBM's words for ``max_execution_time``).
RAN_TOO_LONG = "Ran too long"


def default_workers() -> int:
    """Threads that execute jobs' work: ``ThreadPoolExecutor``'s default for this machine."""
    return min(32, (os.cpu_count() or 1) + 4)


class JobLimitError(ValueError):
    """A submission over a backend's limit (``max_shots``), refused before anything is queued.
    ``limit`` names it, ``value`` is what was asked, ``backend`` the QPU's name."""

    def __init__(self, backend: str, limit: str, value: int, maximum: int) -> None:
        super().__init__(
            f"{value} {limit.removeprefix('max_')} exceeds the maximum of {maximum} for"
            f" {backend}; submit at most {maximum}"
        )
        self.backend, self.limit, self.value, self.maximum = backend, limit, value, maximum


class Observer(Protocol):
    """What a host that persists the scheduler (the emulator's store) hears, under the lock."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group the writes of one loop step."""
        ...

    def session_event(self, session: LocalSession, event: Event) -> None:
        """The core accepted ``event``."""
        ...

    def job_changed(self, job: LocalJob) -> None:
        """``job`` started or ended."""
        ...


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

    ``work`` computes the result (``value``) in the scheduler's pool once the job starts; None
    means a null job. It is dropped once it has run or the job has ended.
    """

    __slots__ = (
        "_callbacks",
        "_cut",
        "_failure",
        "_future",
        "_overdue",
        "backend",
        "background",
        "duration",
        "ended_at",
        "host",
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
        time_limit: float | None = None,
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
        #: Whether the time limit stops the job before its work is done (it ends cancelled).
        self._cut = time_limit is not None and self.duration > time_limit
        if time_limit is not None and self._cut:
            self.duration = float(time_limit)
        self.state = _QUEUED
        self.submitted_at = at
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.reason: str | None = None
        self.value: Any = None
        self._failure: str | None = None
        self._future: Future[None] | None = None
        self._overdue = False
        self._callbacks: list[Callable[[LocalJob], object]] | None = None
        #: Whatever the host attaches (the emulator: its row, then its view of the job).
        self.host: Any = None

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
        max_shots: int | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.name = name
        self.max_shots = max_shots
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
        job_id: str | None = None,
        host: Any = None,
        time_limit: float | None = None,
    ) -> LocalJob:
        """Queue a job outside any session (IBM job mode, an Azure job with no session).
        Raises ``JobLimitError`` for more shots than ``max_shots``, queueing nothing. A job
        whose duration exceeds ``time_limit`` seconds runs that long and ends cancelled,
        ``RAN_TOO_LONG`` (IBM ``max_execution_time``)."""
        scheduler = self.scheduler
        self._check(shots)
        with scheduler._lock:
            at = scheduler._sync()
            job = LocalJob(
                scheduler._new_job_id() if job_id is None else job_id,
                self,
                None,
                work,
                at=at,
                shots=shots,
                tags=tuple(tags),
                name=name,
                time_limit=time_limit,
            )
            job.host = host
            scheduler._admit(job)
            return job

    def fail_next_job(self, reason: str = "injected failure") -> None:
        """Make the next user job that starts on this QPU fail when it ends (fault injection)."""
        with self.scheduler._lock:
            self._failures.append(reason)

    def _check(self, shots: int) -> None:
        if self.max_shots is not None and shots > self.max_shots:
            raise JobLimitError(self.name, "max_shots", shots, self.max_shots)

    def _runnable(self) -> list[LocalJob]:
        """The queued jobs the rules let this QPU start now: its holder's, else anyone's."""
        for holder in self._holders:
            return [job for job in holder._queue if job.state is _QUEUED]
        return [job for job in self._fifo if job.state is _QUEUED]

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
        scheduler = self.scheduler
        scheduler._begin(job)
        scheduler._push(at + job.duration, _COMPLETE, job, not job.background)
        if scheduler.observer is not None and not job.background:
            scheduler.observer.job_changed(job)

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
        *,
        events: Iterable[Event] = (),
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
        #: Whatever the host attaches (the emulator: its view of the session).
        self.host: Any = None
        for event in events:  # a stored trace: replayed exactly (the core is deterministic)
            self._events.append((_EVENT_CODES[type(event)], *attrs.astuple(event, recurse=False)))
            for effect in self.core.handle(event):
                if isinstance(effect, StateChanged | ExclusivityChanged):
                    self.scheduler._apply(self, (effect,))
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
        job_id: str | None = None,
        host: Any = None,
        time_limit: float | None = None,
    ) -> LocalJob:
        """Queue a job in the session; raises the core's ``SessionClosedError`` if it no longer
        accepts jobs (``InvalidEventError`` for a job id in use, ``JobLimitError`` for more
        shots than the QPU's ``max_shots``), before anything is queued or run. ``time_limit``
        as for ``LocalBackend.submit``."""
        scheduler = self.scheduler
        self.backend._check(shots)
        with scheduler._lock:
            at = scheduler._sync()
            job = LocalJob(
                scheduler._new_job_id() if job_id is None else job_id,
                self.backend,
                self,
                work,
                at=at,
                shots=shots,
                tags=tuple(tags),
                name=name,
                time_limit=time_limit,
            )
            job.host = host
            self._feed(Submit, job.job_id, at, self.backend.name)
            self._jobs[job.job_id] = job
            self._entries.append(job)
            scheduler._admit(job)
            return job

    def close(self) -> None:
        """Stop accepting jobs; the submitted ones still run (IBM ``close()``, Azure close).
        A session that already accepts no jobs is left as it is: nothing is fed or recorded."""
        with self.scheduler._lock:
            at = self.scheduler._sync()
            if not self.core.accepting_jobs:
                return
            self._feed(Close, at)
            self.backend._dispatch(at)

    def cancel(self) -> None:
        """End the session now; queued jobs are cancelled (IBM ``cancel()``). A session that
        has already ended is left as it is: nothing is fed or recorded."""
        with self.scheduler._lock:
            at = self.scheduler._sync()
            if self.core.ended:
                return
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
        event = kind(*fields)
        effects = self.core.handle(event)
        observer = self.scheduler.observer
        if observer is not None:
            observer.session_event(self, event)
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
    """Fake QPUs, their sessions and jobs, and the event loop that drives them.

    ``workers`` bounds the threads that execute jobs' work (default: ``default_workers()``);
    ``observer`` hears every accepted core event and job change.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        workers: int | None = None,
        observer: Observer | None = None,
    ) -> None:
        if workers is not None and not (isinstance(workers, int) and workers >= 1):
            raise ValueError(f"workers must be a whole number >= 1; got {workers!r}")
        self.clock: Clock = VirtualClock() if clock is None else clock
        self.clock._attach(self)
        self.workers = default_workers() if workers is None else workers
        self.observer = observer
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, int, Any, bool]] = []
        self._seq = itertools.count()
        self._fg_events = 0
        self._stale = 0
        self._fg_live = 0
        self._stepping = False
        self._backends: dict[str, LocalBackend] = {}
        self._sessions: dict[Any, LocalSession] = {}
        self._session_ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._executing = 0
        self._handling = 0
        self._last_request = 0.0
        self._driver: threading.Thread | None = None
        self._stopping = False

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
        max_shots: int | None = None,
    ) -> LocalBackend:
        """Add a fake QPU. ``qiskit_backend`` (a ``BackendV2``) makes it execute through
        ``BackendEstimatorV2`` / ``BackendSamplerV2``, otherwise statevector primitives with
        shot noise, or exact values if ``exact``; ``num_qubits`` (for ``least_busy``) defaults
        to that backend's, else 24; a job asking for more than ``max_shots`` shots is refused
        at submission."""
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
                max_shots=max_shots,
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
        self,
        policy: Policy,
        backend: LocalBackend,
        *,
        session_id: str | None = None,
        key: Any = None,
    ) -> LocalSession:
        """Open a session with ``policy`` on ``backend`` now. ``key`` (default: the session
        id) is what ``session()`` finds it by, so a host may scope ids (by tenant)."""
        self._check_placement(policy, backend)
        with self._lock:
            at = self._sync()
            sid = f"session-{next(self._session_ids)}" if session_id is None else session_id
            key = sid if key is None else key
            if key in self._sessions:
                raise ValueError(f"session id {sid!r} is already in use")
            session = LocalSession(self, backend, policy, sid, at)
            self._sessions[key] = session
            return session

    def restore_session(
        self,
        policy: Policy,
        backend: LocalBackend,
        *,
        session_id: str,
        opened_at: float,
        events: Iterable[Event],
        key: Any = None,
    ) -> LocalSession:
        """A session rebuilt from its stored trace (its jobs follow with ``restore_job``);
        its timer resumes from the replayed state."""
        self._check_placement(policy, backend)
        with self._lock:
            key = session_id if key is None else key
            if key in self._sessions:
                raise ValueError(f"session id {session_id!r} is already in use")
            session = LocalSession(self, backend, policy, session_id, opened_at, events=events)
            self._sessions[key] = session
            return session

    def restore_job(
        self,
        backend: LocalBackend,
        session: LocalSession | None,
        job_id: str,
        work: Callable[[], Any] | None,
        *,
        state: JobState,
        submitted_at: float,
        started_at: float | None = None,
        ended_at: float | None = None,
        reason: str | None = None,
        shots: int = 0,
        time_limit: float | None = None,
    ) -> LocalJob:
        """A job rebuilt from its stored row, in submission order: a queued one queues again, a
        running one executes again and ends at its stored start plus its duration, an ended
        one is kept for its views (``work`` is then ignored). ``resume()`` follows."""
        with self._lock:
            job = LocalJob(
                job_id, backend, session, None, at=submitted_at, shots=shots, time_limit=time_limit
            )
            job.started_at, job.ended_at, job.reason = started_at, ended_at, reason
            if session is not None:
                session._jobs[job_id] = job
                session._entries.append(job)
            if state is _QUEUED:
                job.work = work
                self._fg_live += 1
                backend._enqueue(job)
            elif state is _RUNNING:
                if backend._running is not None or started_at is None:
                    raise ValueError(f"{job!r} cannot run: {backend._running!r} is running")
                job.work, job.state = work, _RUNNING
                self._fg_live += 1
                backend._running = job
                self._begin(job)
                self._push(started_at + job.duration, _COMPLETE, job)
            else:
                job.state = state
            return job

    def resume(self) -> None:
        """After a restore: fire what fell due meanwhile and start what may run."""
        with self._lock:
            at = self._sync()
            for backend in self._backends.values():
                backend._dispatch(at)

    def session(self, key: Any) -> LocalSession:
        try:
            return self._sessions[key]
        except KeyError:
            raise KeyError(f"no session {key!r} on this scheduler") from None

    @property
    def sessions(self) -> tuple[LocalSession, ...]:
        return tuple(self._sessions.values())

    def call_at(self, at: float, fn: Callable[[], object]) -> None:
        """Run ``fn()`` from the event loop at session time ``at`` (not before now)."""
        with self._lock:
            if not at >= self.clock.now():
                raise ValueError(f"call_at time {at!r} is before now ({self.clock.now()!r})")
            self._push(at, _CALL, fn)

    def sync(self) -> float:
        """Bring every session and QPU up to now (due timers fired, freed QPUs started, all in
        one step); return now. Reads call it before they look."""
        with self._lock:
            return self._sync()

    def idle_violations(self) -> list[tuple[LocalBackend, LocalJob]]:
        """(QPU, job) pairs where the QPU is idle although the rules let it start that queued
        job now: the no-idle invariant says there are none, after any call returns."""
        with self._lock:
            return [
                (backend, job)
                for backend in self._backends.values()
                if backend._running is None
                for job in backend._runnable()[:1]
            ]

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
                    if self._executing:
                        self._cond.wait()
                        continue
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
                    if self._executing:
                        self._cond.wait()
                        continue
                    raise RuntimeError(f"{job!r} can never end: no event is pending")
                if clock.virtual or self._heap[0][0] <= clock.now():
                    self._step()
                else:
                    clock._sleep(self._cond, self._heap[0][0])

    # The driver: a thread that runs the loop for hosts with no waiting caller (the emulator).

    def start(self, *, quiet: float = 0.0) -> None:
        """Run the loop from a thread until ``stop()``: on a wall clock each event at its time;
        on a virtual clock as described at the top (``quiet``: real seconds without requests
        before time jumps to a session timer)."""
        with self._cond:
            if self._driver is None:
                self._stopping = False
                self._driver = threading.Thread(
                    target=self._drive, args=(quiet,), name="qsession-scheduler", daemon=True
                )
                self._driver.start()

    def stop(self) -> None:
        """Stop the driver thread (idempotent); work being executed is abandoned."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            driver, self._driver = self._driver, None
        if driver is not None:
            driver.join()

    def close(self) -> None:
        """``stop()``, then shut the work pool down without waiting for running work."""
        self.stop()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """Mark a request as being handled: a virtual clock does not move meanwhile."""
        with self._cond:
            self._handling += 1
        try:
            yield
        finally:
            with self._cond:
                self._handling -= 1
                self._last_request = time.monotonic()
                self._cond.notify_all()

    def _drive(self, quiet: float) -> None:
        clock, cond = self.clock, self._cond
        with cond:
            while not self._stopping:
                heap = self._heap
                if heap and not _live(heap[0]):
                    self._step()
                    continue
                if not heap:
                    cond.wait()
                    continue
                at, _, kind, payload, _ = heap[0]
                if clock.virtual:
                    if not self._fg_live:
                        cond.wait()
                        continue
                    if kind == _COMPLETE:
                        if payload._future is not None:
                            cond.wait()  # its work is running: time waits for it
                            continue
                    elif self._handling:
                        cond.wait()
                        continue
                    else:
                        hush = quiet - (time.monotonic() - self._last_request)
                        if hush > 0:
                            cond.wait(hush)
                            continue
                elif at > clock.now():
                    clock._sleep(cond, at)
                    continue
                try:
                    self._step()
                except Exception:  # a bug must not stop every QPU: log it, carry on
                    log.exception("the scheduler's loop failed at t=%s", at)
                    cond.wait(1.0)

    # Internals ------------------------------------------------------------------------------

    def _check_placement(self, policy: Policy, backend: LocalBackend) -> None:
        if backend.scheduler is not self:
            raise ValueError(f"backend {backend.name!r} belongs to another scheduler")
        if policy.target not in (None, backend.name):
            raise ValueError(
                f"the policy is for {policy.target!r} but the backend is {backend.name!r}"
            )

    def _push(self, at: float, kind: int, payload: Any, foreground: bool = True) -> int:
        seq = next(self._seq)
        heapq.heappush(self._heap, (at, seq, kind, payload, foreground))
        if foreground:
            self._fg_events += 1
        if not self.clock.virtual or self._driver is not None:
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
        """Process the heap's first entry. A job end whose work is still running waits for
        it: virtual time stands (the pool notifies), wall time lets the job overrun."""
        entry = self._heap[0]
        at, _, kind, payload, foreground = entry
        if kind == _COMPLETE and payload._future is not None and _live(entry):
            if self.clock.virtual:
                if not self._steal(payload):
                    self._cond.wait()
                return
            heapq.heappop(self._heap)
            if foreground:
                self._fg_events -= 1
            payload._overdue = True
            return
        heapq.heappop(self._heap)
        if not _live(entry):
            self._stale -= 1
            return
        if foreground:
            self._fg_events -= 1
        self.clock._reach(at)
        outer, self._stepping = self._stepping, True
        try:
            if self.observer is None:
                self._process(kind, payload, at)
            else:
                with self.observer.transaction():
                    self._process(kind, payload, at)
        finally:
            self._stepping = outer

    def _process(self, kind: int, payload: Any, at: float) -> None:
        if kind == _COMPLETE:
            self._complete(payload, at)
        elif kind == _DEADLINE:
            payload._on_deadline(at)
        elif kind == _CALL:
            payload()
        else:
            payload._arrival(at)

    def _sync(self) -> float:
        """Process every event due by now (unless inside the loop already); return now. (A
        step may wait for a job's work, letting other threads move time meanwhile: now is
        read again after each step.)"""
        now = self.clock.now()
        if not self._stepping:
            heap = self._heap
            while heap and heap[0][0] <= now:
                self._step()
                now = self.clock.now()
        return now

    def _new_job_id(self) -> str:
        return f"job-{next(self._job_ids)}"

    def _admit(self, job: LocalJob) -> None:
        self._fg_live += 1
        if self.observer is not None:
            self.observer.job_changed(job)
        job.backend._enqueue(job)
        job.backend._dispatch(job.submitted_at)
        if not self.clock.virtual or self._driver is not None:
            self._cond.notify_all()

    def _begin(self, job: LocalJob) -> None:
        """Hand a started job's work to the pool (an injected failure runs nothing)."""
        if job.work is None or job._failure is not None or job._cut:
            job.work = None
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qsession-qpu")
        self._executing += 1
        job._future = self._pool.submit(self._execute, job, job.work)

    def _steal(self, job: LocalJob) -> bool:
        """Run a job's work in this (waiting) thread if no pool thread has started it: a
        caller waiting for it has nothing else to do. The lock is released meanwhile."""
        future, work = job._future, job.work
        if future is None or work is None or not future.cancel():
            return False
        saved = self._lock._release_save()  # type: ignore[attr-defined]
        try:
            self._execute(job, work)
        finally:
            self._lock._acquire_restore(saved)  # type: ignore[attr-defined]
        return True

    def _execute(self, job: LocalJob, work: Callable[[], Any]) -> None:
        """A pool thread: run the work outside the lock, then hand its outcome to the job."""
        value: Any = None
        failure: str | None = None
        try:
            value = work()
        except Exception as exc:
            code = getattr(exc, "code", None)
            failure = f"{code if isinstance(code, str) else type(exc).__name__}: {exc}"
        del work
        with self._cond:
            if job._future is not None:
                job._future = None
                job.work = None  # the input is dropped once it has run
                self._executing -= 1
                job.value, job._failure = value, failure
                if job._overdue:
                    job._overdue = False
                    self._push(self.clock.now(), _COMPLETE, job, not job.background)
            self._cond.notify_all()

    def _complete(self, job: LocalJob, at: float) -> None:
        backend = job.backend
        backend._running = None  # this end is being processed: it is not stale
        if job._cut:
            if job.session is not None:
                job.session._feed(JobCancelled, job.job_id, at)
            self._finish(job, JobState.CANCELLED, at, RAN_TOO_LONG)
            backend._dispatch(at)
            return
        failure = job._failure
        if job.session is not None:
            if failure is None:
                job.session._feed(JobCompleted, job.job_id, at)
            else:
                job.session._feed(JobFailed, job.job_id, at, failure)
        if failure is None:
            self._finish(job, JobState.COMPLETED, at, None, job.value)
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
        if job._future is not None:
            job._future.cancel()
            job._future = None
            self._executing -= 1
        job.work = None
        overdue, job._overdue = job._overdue, False
        job.state = state
        job.ended_at = at
        job.reason = reason
        job.value = value
        if not job.background:
            self._fg_live -= 1
            if self.observer is not None:
                self.observer.job_changed(job)
        if was_running and not overdue:  # an overdue job's end is no longer in the heap
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
