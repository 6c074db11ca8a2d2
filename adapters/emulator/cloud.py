"""The emulated cloud behind both REST surfaces: sessions, jobs, QPUs, time and persistence.

Theory of operation
-------------------
Every session is a ``qsession.core.Session``; the cloud feeds it each submission, job start and
end, close, cancel and due timer as a core event, appends the event to the session's stored
trace, and carries out the effects (end these jobs, make the session its QPU's holder or
release it). Session rules therefore live in the core only; this module owns queues and time.

Each backend or target is one fake QPU: one job runs at a time; when it is free it starts the
oldest queued job of its holder (a session the core made exclusive) and otherwise the oldest
queued job of anyone (the scheduling rules of ``qsession.adapters.local``). A running job ends
after the local backend's duration model for its shots; its circuits are executed by the worker
thread, outside the lock, so requests never wait for qiskit.

One worker thread runs the loop: fire each due session timer and each due job end, in time
order, start the next jobs, execute the running ones. On a real clock it sleeps until the next
event; on a virtual clock it jumps to the next event while any job is in flight and otherwise
stands still, so the TTLs between a client's jobs lapse only when a test advances the clock.

Persistence: every change is written to the ``Store`` inside the lock, one transaction per
request or loop step, before any answer leaves. On start the cloud replays each session's
trace into a fresh core session (exact: the core is deterministic), re-queues queued jobs and
re-runs the jobs that were running, which end at their stored end times.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from qsession.adapters.local.azure import DEFAULT_TARGETS
from qsession.adapters.local.model import IBM_QPU, DurationModel
from qsession.core import Session as CoreSession
from qsession.core import policies
from qsession.core.effects import Effect, ExclusivityChanged, JobsCancelled, JobsFailed
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
from qsession.core.records import JobState

from . import execution
from .clock import ServerClock
from .execution import ExecutionError, Executors
from .store import BlobRow, JobRow, SessionRow, Store

log = logging.getLogger(__name__)

IBM, AZURE = "ibm", "azure"
#: The reason of an IBM job stopped at its ``max_execution_time`` (``cost``).
RAN_TOO_LONG = "Ran too long"
_QUEUED, _RUNNING = JobState.QUEUED, JobState.RUNNING
_EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.__name__: cls
    for cls in (Submit, JobStarted, JobCompleted, JobFailed, JobCancelled, Close, Cancel, Advance)
}


class NotFound(LookupError):
    """No such session or job for this tenant (another tenant's is reported the same way)."""


class Conflict(Exception):
    """The request contradicts the item's current state (e.g. cancelling a finished job)."""


def new_id() -> str:
    """An unguessable id: 96 random bits, lower-case hex."""
    return secrets.token_hex(12)


def encode_event(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, **attrs.asdict(event)}


def decode_event(data: Mapping[str, Any]) -> Event:
    fields = dict(data)
    return _EVENT_TYPES[fields.pop("type")](**fields)


def build_policy(spec: Mapping[str, Any]) -> Policy:
    """The core policy a stored spec describes (raises ``PolicyError`` for a bad one)."""
    kind = spec["kind"]
    if kind == "ibm_session":
        return policies.ibm_session(spec["plan"], spec.get("max_time"), backend=spec["backend"])
    if kind == "ibm_batch":
        return policies.ibm_batch(spec["plan"], spec.get("max_time"), backend=spec["backend"])
    return policies.azure_session(
        spec["target"], spec.get("job_failure_policy"), priority=spec.get("priority")
    )


@attrs.define(eq=False)
class CloudSession:
    """One session: its owner, its core session, and what the REST surface shows of it."""

    tenant: str
    id: str
    provider: str
    backend: str
    policy: dict[str, Any]
    attrs: dict[str, Any]
    opened_at: float
    core: CoreSession

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.id)


@attrs.define(eq=False)
class CloudJob:
    """One job: owner, placement, input, state and times; ``output`` once executed."""

    tenant: str
    id: str
    provider: str
    backend: str
    session_id: str | None
    program: str
    attrs: dict[str, Any]
    params: bytes | None
    state: JobState
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None
    due_at: float | None = None
    reason: str | None = None
    shots: int = 0
    executed: bool = False
    output: bytes | None = None
    error: ExecutionError | None = None
    work: Any = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.id)

    def row(self) -> JobRow:
        return JobRow(
            self.tenant,
            self.id,
            self.provider,
            self.backend,
            self.session_id,
            self.program,
            self.attrs,
            self.params,
            str(self.state),
            self.submitted_at,
            self.started_at,
            self.ended_at,
            self.due_at,
            self.reason,
        )


@attrs.define(eq=False)
class Qpu:
    """A fake QPU: its queue in submission order, the running job, exclusive holders."""

    name: str
    provider: str
    duration: DurationModel
    queue: list[CloudJob] = attrs.Factory(list)
    running: CloudJob | None = None
    holders: dict[tuple[str, str], None] = attrs.Factory(dict)


def run_seconds(job: CloudJob, duration: DurationModel) -> tuple[float, bool]:
    """How long a job holds its QPU, and whether that is cut short by its IBM
    ``max_execution_time`` (sent as ``cost``)."""
    seconds = duration.seconds(job.shots)
    limit = job.attrs.get("cost") if job.provider == IBM else None
    if limit is not None and seconds > limit:
        return float(limit), True
    return seconds, False


def run_job(executors: Executors, job: CloudJob, work: Any) -> bytes:
    """Execute one job's circuits (``work``: IBM's decoded pubs): its output, or
    ``ExecutionError``."""
    if job.provider == IBM:
        return execution.run_ibm(executors, job.backend, job.program, work)
    assert job.params is not None
    return execution.run_azure(executors, job.backend, job.program, job.params, job.attrs)


class Cloud:
    """Sessions, jobs and QPUs for both providers, on one clock and one store."""

    def __init__(
        self,
        store: Store,
        clock: ServerClock,
        *,
        plan: str = "premium",
        ibm_backends: Mapping[str, DurationModel] | None = None,
        azure_targets: Mapping[str, DurationModel] | None = None,
        seed: int | None = None,
    ) -> None:
        if plan not in policies.IBM_PLANS:
            raise ValueError(f"plan must be one of {sorted(policies.IBM_PLANS)}; got {plan!r}")
        self.store = store
        self.clock = clock
        self.plan = plan
        self.executors = Executors(seed)
        self._cond = threading.Condition(threading.RLock())
        self._qpus: dict[str, Qpu] = {}
        names = execution.fake_backend_classes() if ibm_backends is None else ibm_backends
        for name in names:
            duration = IBM_QPU if ibm_backends is None else ibm_backends[name]
            self._qpus[name] = Qpu(name, IBM, duration)
        for name in execution.mock_backends(names):
            self._qpus[name] = Qpu(name, IBM, self._qpus[execution.mock_twin(name)].duration)
        for name, duration in (DEFAULT_TARGETS if azure_targets is None else azure_targets).items():
            self._qpus[name] = Qpu(name, AZURE, duration)
        self._sessions: dict[tuple[str, str], CloudSession] = {}
        self._jobs: dict[tuple[str, str], CloudJob] = {}
        self._armed: dict[tuple[str, str], CloudSession] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._restore()
        epoch = store.get_meta("epoch")
        #: Wall-clock seconds (Unix time) of session time 0: REST timestamps are epoch + t.
        self.epoch = time.time() - clock.now() if epoch is None else float(epoch)
        with store.transaction():
            store.set_meta("epoch", repr(self.epoch))
            store.set_meta("clock", clock.reading())

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._loop, name="qsession-cloud", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the worker thread; a job being executed is re-run after a restart."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[float]:
        """The lock and one store transaction; yields now. The transaction commits even when
        the body raises: a refused event can follow a recorded timer whose effects stand."""
        failure: Exception | None = None
        with self._cond:
            with self.store.transaction():
                try:
                    yield self.clock.now()
                except Exception as exc:
                    failure = exc
            self._cond.notify_all()
        if failure is not None:
            raise failure

    def iso(self, t: float | None, timespec: str = "milliseconds") -> str | None:
        """Session time ``t`` as the services write timestamps (ISO 8601, UTC, ``Z``)."""
        if t is None:
            return None
        moment = datetime.fromtimestamp(self.epoch + t, UTC)
        return moment.isoformat(timespec=timespec).replace("+00:00", "Z")

    # Backends -------------------------------------------------------------------------------

    def backends(self, provider: str) -> list[str]:
        return [name for name, qpu in self._qpus.items() if qpu.provider == provider]

    def queue_length(self, backend: str) -> int:
        with self._cond:
            return len(self._qpus[backend].queue)

    def duration(self, backend: str) -> DurationModel:
        """The duration model of a backend's jobs."""
        return self._qpus[backend].duration

    def charge_seconds(self, job: CloudJob) -> float:
        """The QPU time a job is charged: from its start to its end (to now while it runs)."""
        if job.started_at is None:
            return 0.0
        return (self.clock.now() if job.ended_at is None else job.ended_at) - job.started_at

    # Sessions -------------------------------------------------------------------------------

    def open_session(
        self,
        tenant: str,
        provider: str,
        backend: str,
        policy: dict[str, Any],
        attributes: dict[str, Any],
        *,
        session_id: str | None = None,
    ) -> CloudSession:
        """Open a session now; raises ``PolicyError`` for a policy the provider refuses."""
        if self._qpus.get(backend) is None or self._qpus[backend].provider != provider:
            raise NotFound(f"backend {backend!r}")
        built = build_policy(policy)
        with self._locked() as now:
            sid = new_id() if session_id is None else session_id
            if (tenant, sid) in self._sessions:
                raise Conflict(f"session {sid!r} already exists")
            core = CoreSession.open(built, session_id=sid, at=now)
            session = CloudSession(tenant, sid, provider, backend, policy, attributes, now, core)
            self.store.add_session(
                SessionRow(tenant, sid, provider, backend, policy, attributes, now)
            )
            self._sessions[session.key] = session
            self._watch(session)
            return session

    def session(self, tenant: str, session_id: str) -> CloudSession:
        """The tenant's session, brought up to now (its due timers fired)."""
        with self._locked() as now:
            session = self._session(tenant, session_id)
            self._sync(session, now)
            return session

    def sessions(self, tenant: str, provider: str) -> list[CloudSession]:
        with self._locked() as now:
            found = [
                s for s in self._sessions.values() if s.tenant == tenant and s.provider == provider
            ]
            for session in found:
                self._sync(session, now)
            return found

    def close_session(self, tenant: str, session_id: str) -> CloudSession:
        """Stop accepting jobs; submitted ones still run (IBM PATCH, Azure ``:close``)."""
        with self._locked() as now:
            session = self._session(tenant, session_id)
            self._feed(session, Close(now))
            self._dispatch(self._qpus[session.backend], now)
            return session

    def cancel_session(self, tenant: str, session_id: str) -> CloudSession:
        """IBM ``cancel()``: end the session now, cancelling its queued jobs."""
        with self._locked() as now:
            session = self._session(tenant, session_id)
            self._feed(session, Cancel(now))
            self._dispatch(self._qpus[session.backend], now)
            return session

    # Jobs -----------------------------------------------------------------------------------

    def submit(
        self,
        tenant: str,
        provider: str,
        backend: str,
        program: str,
        *,
        params: bytes | None,
        attributes: dict[str, Any],
        session_id: str | None = None,
        job_id: str | None = None,
        shots: int = 0,
        work: Any = None,
    ) -> CloudJob:
        """Queue a job now. Raises ``NotFound`` (backend or session), ``Conflict`` (job id in
        use) or the core's ``SessionClosedError`` / ``InvalidEventError``, changing nothing."""
        qpu = self._qpus.get(backend)
        if qpu is None or qpu.provider != provider:
            raise NotFound(f"backend {backend!r}")
        with self._locked() as now:
            jid = new_id() if job_id is None else job_id
            if (tenant, jid) in self._jobs:
                raise Conflict(f"job {jid!r} already exists")
            session = None if session_id is None else self._session(tenant, session_id)
            if session is not None and session.provider != provider:
                raise NotFound(f"session {session_id!r}")
            job = CloudJob(
                tenant,
                jid,
                provider,
                backend,
                session_id,
                program,
                attributes,
                params,
                _QUEUED,
                now,
                shots=shots,
                work=work,
            )
            if session is not None:
                job.submitted_at = self._feed(session, Submit(jid, now, backend))
            self.store.add_job(job.row())
            self._jobs[job.key] = job
            qpu.queue.append(job)
            self._dispatch(qpu, job.submitted_at)
            return job

    def job(self, tenant: str, job_id: str) -> CloudJob:
        with self._locked() as now:
            job = self._job(tenant, job_id)
            if job.session_id is not None:
                self._sync(self._sessions[(tenant, job.session_id)], now)
            return job

    def jobs(self, tenant: str, provider: str, session_id: str | None = None) -> list[CloudJob]:
        with self._cond:
            return [
                j
                for j in self._jobs.values()
                if j.tenant == tenant
                and j.provider == provider
                and (session_id is None or j.session_id == session_id)
            ]

    def update_job_attributes(
        self, tenant: str, job_id: str, changes: Mapping[str, Any]
    ) -> CloudJob:
        """Change what the REST surface shows of a job (Azure ``PATCH``: name, priority,
        tags), stored before the answer leaves."""
        with self._locked():
            job = self._job(tenant, job_id)
            job.attrs = {**job.attrs, **changes}
            self.store.update_job(tenant, job_id, attrs=job.attrs)
            return job

    def cancel_job(self, tenant: str, job_id: str) -> CloudJob:
        """Cancel a queued or running job; ``Conflict`` if it has already ended."""
        with self._locked() as now:
            job = self._job(tenant, job_id)
            if job.session_id is not None:
                self._sync(self._sessions[(tenant, job.session_id)], now)
            if not job.state.in_flight:
                raise Conflict(f"job {job_id!r} is {job.state}; it can no longer be cancelled")
            at = now
            if job.session_id is not None:
                session = self._sessions[(tenant, job.session_id)]
                at = self._feed(session, JobCancelled(job.id, now))
            self._end(job, JobState.CANCELLED, at, "cancelled by the user")
            self._dispatch(self._qpus[job.backend], at)
            return job

    def result(self, tenant: str, job_id: str) -> bytes | None:
        with self._cond:
            self._job(tenant, job_id)
            return self.store.get_result(tenant, job_id)

    def advance(self, seconds: float) -> float:
        """Virtual clocks only: let ``seconds`` pass, firing every event due meanwhile."""
        if not self.clock.virtual:
            raise Conflict("the clock is real; only a virtual clock can be advanced")
        if not 0 <= seconds < math.inf:
            raise ValueError(f"seconds must be a finite number >= 0; got {seconds!r}")
        with self._locked() as now:
            until = now + seconds
            while True:
                step = self._next_event(until)
                if step is None:
                    break
                self.clock.jump(step)
                self._process(step)
            self.clock.jump(until)
            self._process(until)
            self.store.set_meta("clock", self.clock.reading())
            return until

    # Internals: the core ---------------------------------------------------------------------

    def _session(self, tenant: str, session_id: str) -> CloudSession:
        session = self._sessions.get((tenant, session_id))
        if session is None:
            raise NotFound(f"session {session_id!r}")
        return session

    def _job(self, tenant: str, job_id: str) -> CloudJob:
        job = self._jobs.get((tenant, job_id))
        if job is None:
            raise NotFound(f"job {job_id!r}")
        return job

    def _watch(self, session: CloudSession) -> None:
        if session.core.next_deadline is None:
            self._armed.pop(session.key, None)
        else:
            self._armed[session.key] = session

    def _sync(self, session: CloudSession, at: float) -> None:
        """Bring ``session`` to time ``at``: a due timer is a recorded ``Advance``; otherwise
        only the core's notion of now moves (no effects, so nothing to record)."""
        deadline = session.core.next_deadline
        if deadline is not None and deadline <= at:
            self._feed(session, Advance(at))
        elif at > session.core.last_event_at:
            session.core.advance(to=at)

    def _feed(self, session: CloudSession, event: Event) -> float:
        """Fire due timers, hand ``event`` to the core, record it, carry out the effects.
        Returns the event's time (never before the session's last event)."""
        at = max(event.at, session.core.last_event_at)
        if at != event.at:
            event = attrs.evolve(event, at=at)
        if not isinstance(event, Advance):
            self._sync(session, at)
        effects = session.core.handle(event)
        self.store.append_event(session.tenant, session.id, encode_event(event))
        self._apply(session, effects)
        self._watch(session)
        return at

    def _apply(self, session: CloudSession, effects: tuple[Effect, ...]) -> None:
        qpu = self._qpus[session.backend]
        for effect in effects:
            if isinstance(effect, ExclusivityChanged):
                if effect.exclusive:
                    qpu.holders[session.key] = None
                else:
                    qpu.holders.pop(session.key, None)
            elif isinstance(effect, JobsFailed | JobsCancelled):
                end = JobState.FAILED if isinstance(effect, JobsFailed) else JobState.CANCELLED
                for job_id in effect.job_ids:
                    self._end(self._jobs[(session.tenant, job_id)], end, effect.at, effect.reason)

    # Internals: QPUs ------------------------------------------------------------------------

    def _end(self, job: CloudJob, state: JobState, at: float, reason: str | None) -> None:
        """End a job the core or the user ended (its output, if any, is dropped)."""
        qpu = self._qpus[job.backend]
        if qpu.running is job:
            qpu.running = None
        elif job in qpu.queue:
            qpu.queue.remove(job)
        job.state, job.ended_at, job.due_at, job.reason = state, at, None, reason
        job.work = None
        self.store.update_job(
            job.tenant, job.id, state=str(state), ended_at=at, due_at=None, reason=reason
        )

    def _next_job(self, qpu: Qpu) -> CloudJob | None:
        for holder in qpu.holders:
            return next(
                (j for j in qpu.queue if j.session_id == holder[1] and j.tenant == holder[0]), None
            )
        return qpu.queue[0] if qpu.queue else None

    def _dispatch(self, qpu: Qpu, at: float) -> None:
        """Start the next job if the QPU is free and someone may use it."""
        while qpu.running is None:
            job = self._next_job(qpu)
            if job is None:
                return
            session = (
                None if job.session_id is None else self._sessions[(job.tenant, job.session_id)]
            )
            if session is not None:
                deadline = session.core.next_deadline
                if deadline is not None and deadline <= at:
                    self._sync(session, at)  # its timer is due first and may end this job
                    continue
                try:
                    at = self._feed(session, JobStarted(job.id, at))
                except SessionError as exc:  # the core disagrees: fail the job, not the QPU
                    log.error("job %s cannot start: %s", job.id, exc)
                    self._end(job, JobState.FAILED, at, f"InternalError: {exc}")
                    continue
            qpu.queue.remove(job)
            qpu.running = job
            job.state, job.started_at = _RUNNING, at
            job.due_at = at + run_seconds(job, qpu.duration)[0]
            self.store.update_job(
                job.tenant, job.id, state=str(_RUNNING), started_at=at, due_at=job.due_at
            )

    def _complete(self, job: CloudJob, at: float) -> None:
        """End a running job whose time is up: completed with its output, failed, or
        cancelled at its ``max_execution_time``."""
        qpu = self._qpus[job.backend]
        if run_seconds(job, qpu.duration)[1]:
            if job.session_id is not None:
                at = self._feed(
                    self._sessions[(job.tenant, job.session_id)], JobCancelled(job.id, at)
                )
            self._end(job, JobState.CANCELLED, at, RAN_TOO_LONG)
            job.output = None
            self.store.put_result(job.tenant, job.id, RAN_TOO_LONG.encode())
            return
        failed = job.error is not None
        if job.session_id is not None:
            session = self._sessions[(job.tenant, job.session_id)]
            event: Event = (
                JobFailed(job.id, at, f"{job.error.code}: {job.error}")
                if job.error is not None
                else JobCompleted(job.id, at)
            )
            at = self._feed(session, event)
        assert job.state is _RUNNING, "a job end never ends another session's running job"
        qpu.running = None
        reason = None if job.error is None else f"{job.error.code}: {job.error}"
        job.state = JobState.FAILED if failed else JobState.COMPLETED
        job.ended_at, job.due_at, job.reason, job.work = at, None, reason, None
        self.store.update_job(
            job.tenant, job.id, state=str(job.state), ended_at=at, due_at=None, reason=reason
        )
        output = job.output if job.error is None else None
        job.output = None
        if job.provider == IBM:
            self.store.put_result(
                job.tenant, job.id, output if output is not None else (reason or "").encode()
            )
        elif output is not None:
            account, container, name = job.attrs["output_blob"]
            self.store.put_blob(
                BlobRow(account, container, name, output, "application/json", None, new_id(), at)
            )

    # Internals: the loop --------------------------------------------------------------------

    def _in_flight(self) -> bool:
        return any(q.queue or q.running is not None for q in self._qpus.values())

    def _next_event(self, until: float) -> float | None:
        """The earliest timer or executed job end due by ``until``."""
        times = [
            d
            for s in self._armed.values()
            if (d := s.core.next_deadline) is not None and d <= until
        ]
        times += [
            q.running.due_at
            for q in self._qpus.values()
            if q.running is not None
            and q.running.executed
            and q.running.due_at is not None
            and q.running.due_at <= until
        ]
        return min(times, default=None)

    def _process(self, now: float) -> None:
        """Handle every timer and executed job end due by ``now``, in time order (timers
        first on a tie), starting the next jobs as QPUs free up."""
        while True:
            due: list[tuple[float, int, CloudSession | CloudJob]] = [
                (d, 0, s)
                for s in list(self._armed.values())
                if (d := s.core.next_deadline) is not None and d <= now
            ]
            for qpu in self._qpus.values():
                job = qpu.running
                if job is not None and job.executed and (job.due_at or math.inf) <= now:
                    due.append((job.due_at or now, 1, job))
            if not due:
                return
            at, _, item = min(due, key=lambda entry: entry[:2])
            if isinstance(item, CloudSession):
                self._sync(item, at)
            else:
                self._complete(item, at)
            self._dispatch(self._qpus[item.backend], at)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                try:
                    job = self._step()
                except Exception:  # a bug must not stop every QPU: log it, retry shortly
                    log.exception("the emulator's loop failed; retrying in 1 s")
                    self._cond.wait(1.0)
                    continue
                if job is None:
                    continue
                work = job.work
            self._execute(job, work)

    def _step(self) -> CloudJob | None:
        """One turn of the loop under the lock: returns a job to execute, or waits."""
        with self.store.transaction():
            now = self.clock.now()
            self._process(now)
            for qpu in self._qpus.values():
                if qpu.running is not None and not qpu.running.executed:
                    return qpu.running
            if self.clock.virtual and self._in_flight():
                step = self._next_event(math.inf)
                if step is not None:
                    self.clock.jump(step)
                    self.store.set_meta("clock", self.clock.reading())
                    return None
        if self.clock.virtual:
            self._cond.wait()
        else:
            nxt = self._next_event(math.inf)
            self._cond.wait(None if nxt is None else self.clock.seconds_until(nxt))
        return None

    def _execute(self, job: CloudJob, work: Any) -> None:
        """Run the job's circuits outside the lock and keep the output for its end."""
        output: bytes | None = None
        error: ExecutionError | None = None
        try:
            output = run_job(self.executors, job, work)
        except ExecutionError as exc:
            error = exc
        except Exception as exc:
            log.exception("job %s failed to execute", job.id)
            error = ExecutionError(f"{type(exc).__name__}: {exc}", code="ExecutionFailed")
        with self._cond:
            if job.state is _RUNNING and self._qpus[job.backend].running is job:
                job.output, job.error, job.executed = output, error, True
            self._cond.notify_all()

    # Restore ---------------------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild sessions (by replaying their traces) and jobs from the store."""
        for row, events in self.store.load_sessions():
            core = CoreSession.open(build_policy(row.policy), session_id=row.id, at=row.opened_at)
            for event in events:
                core.handle(decode_event(event))
            session = CloudSession(
                row.tenant,
                row.id,
                row.provider,
                row.backend,
                row.policy,
                row.attrs,
                row.opened_at,
                core,
            )
            self._sessions[session.key] = session
            self._watch(session)
            self.clock.at_least(core.last_event_at)
            if core.exclusive and row.backend in self._qpus:
                self._qpus[row.backend].holders[session.key] = None
        for jrow in self.store.load_jobs():
            qpu = self._qpus.get(jrow.backend)
            job = CloudJob(
                jrow.tenant,
                jrow.id,
                jrow.provider,
                jrow.backend,
                jrow.session_id,
                jrow.program,
                jrow.attrs,
                jrow.params,
                JobState(jrow.state),
                jrow.submitted_at,
                jrow.started_at,
                jrow.ended_at,
                jrow.due_at,
                jrow.reason,
            )
            self._jobs[job.key] = job
            self.clock.at_least(
                max(t for t in (job.submitted_at, job.started_at, job.ended_at) if t is not None)
            )
            if qpu is None or not job.state.in_flight:
                continue
            if job.provider == IBM:
                job.work, job.shots = self._prepare_ibm(job)
            else:
                job.shots = execution.shots_of(job.attrs.get("inputParams") or {})
            if job.state is _QUEUED:
                qpu.queue.append(job)
            else:
                qpu.running = job

    @staticmethod
    def _prepare_ibm(job: CloudJob) -> tuple[Any, int]:
        assert job.params is not None
        work = execution.ibm_work(job.program, execution.decode_ibm_params(job.params))
        return work, execution.work_shots(work)
