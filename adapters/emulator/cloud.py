"""The emulated cloud behind both REST surfaces: tenancy, stored rows and provider views over
the local backend's scheduler.

Theory of operation
-------------------
Sessions, jobs, QPUs and time are the ``Scheduler`` of ``qsession.adapters.local`` (the same
engine the local backend and the fleet simulation run on): every session is a
``qsession.core.Session`` fed each submission, job start and end, close, cancel and due timer;
each backend or target is one fake QPU whose holder (a session the core made exclusive) goes
first; jobs execute in the scheduler's bounded thread pool, outside its lock, so QPUs run in
parallel; reads bring sessions up to date and start whatever that frees, in the same step.

This module adds only what the emulator needs on top: tenants (every session and job is keyed
by its owner, so one tenant never sees another's), the rows the store keeps, and the views the
routes render (``CloudSession``, ``CloudJob``). Submissions over a backend's ``max_shots`` are
refused with ``JobLimitError`` before anything is stored.

Persistence: the cloud is the scheduler's ``Observer``. Every accepted core event is appended
to its session's stored trace and every job start and end is written, in the transaction of
the request or loop step that caused it, before any answer leaves; results go to the store and
leave memory, and a job's input (``params``) lives only in the store once the job has run. On
start the cloud replays each session's trace into the scheduler (exact: the core is
deterministic), re-queues queued jobs and re-runs the jobs that were running, which end at
their stored start plus their duration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

import attrs
from qsession.adapters.local.azure import DEFAULT_TARGETS
from qsession.adapters.local.azure_targets import DEFAULT_SHOTS, MAX_SHOTS
from qsession.adapters.local.model import IBM_QPU, DurationModel
from qsession.adapters.local.scheduler import (
    RAN_TOO_LONG,
    JobLimitError,
    LocalBackend,
    LocalJob,
    LocalSession,
    Scheduler,
)
from qsession.core import Session as CoreSession
from qsession.core import policies
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
from .store import BlobRow, JobRow, SessionRow, Store

log = logging.getLogger(__name__)

IBM, AZURE = "ibm", "azure"
#: Largest shot count an Azure target takes in the emulator (its own bound: the targets'
#: limits are provider-specific and not all published).
AZURE_MAX_SHOTS = MAX_SHOTS
#: Real seconds without requests before virtual time jumps to a session timer.
QUIET = 0.05
_EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.__name__: cls
    for cls in (Submit, JobStarted, JobCompleted, JobFailed, JobCancelled, Close, Cancel, Advance)
}
__all__ = [
    "AZURE",
    "IBM",
    "RAN_TOO_LONG",
    "Cloud",
    "CloudJob",
    "CloudSession",
    "Conflict",
    "JobLimitError",
]


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


@cache
def ibm_max_shots(name: str) -> int | None:
    """``max_shots`` of a qiskit-ibm-runtime fake backend's configuration."""
    cls = execution.fake_backend_classes().get(name)
    if cls is None:
        return None
    with open(os.path.join(cls.dirname, cls.conf_filename)) as handle:
        value = json.load(handle).get("max_shots")
    return value if isinstance(value, int) else None


def azure_shots_asked(input_params: Mapping[str, Any]) -> int:
    """The shots an Azure job asks for (``shots``, or Quantinuum's ``count``), unbounded, so
    that too many are refused at submission; 0 if not a whole number (the job then fails)."""
    shots = input_params.get("shots", input_params.get("count", DEFAULT_SHOTS))
    return shots if isinstance(shots, int) and not isinstance(shots, bool) and shots > 0 else 0


@attrs.frozen
class CloudSession:
    """One tenant's session: its stored row and the scheduler's session."""

    row: SessionRow
    local: LocalSession

    tenant = property(lambda self: self.row.tenant)
    id = property(lambda self: self.row.id)
    provider = property(lambda self: self.row.provider)
    backend = property(lambda self: self.row.backend)
    policy = property(lambda self: self.row.policy)
    attrs = property(lambda self: self.row.attrs)
    opened_at = property(lambda self: self.row.opened_at)

    @property
    def core(self) -> CoreSession:
        return self.local.core

    @property
    def key(self) -> tuple[str, str]:
        return (self.row.tenant, self.row.id)


@attrs.define
class CloudJob:
    """One tenant's job: its stored row without the input (the store has it) and the
    scheduler's job (state, times, reason). ``row`` is replaced when its attributes change."""

    row: JobRow
    local: LocalJob

    tenant = property(lambda self: self.row.tenant)
    id = property(lambda self: self.row.id)
    provider = property(lambda self: self.row.provider)
    backend = property(lambda self: self.row.backend)
    session_id = property(lambda self: self.row.session_id)
    program = property(lambda self: self.row.program)
    attrs = property(lambda self: self.row.attrs)

    @property
    def state(self) -> JobState:
        return self.local.state

    @property
    def submitted_at(self) -> float:
        return self.local.submitted_at

    @property
    def started_at(self) -> float | None:
        return self.local.started_at

    @property
    def ended_at(self) -> float | None:
        return self.local.ended_at

    @property
    def reason(self) -> str | None:
        return self.local.reason

    @property
    def due_at(self) -> float | None:
        """When a running job ends."""
        local = self.local
        if local.state is not JobState.RUNNING or local.started_at is None:
            return None
        return local.started_at + local.duration

    @property
    def key(self) -> tuple[str, str]:
        return (self.row.tenant, self.row.id)


class Cloud:
    """Tenants' sessions and jobs for both providers, on one scheduler and one store."""

    def __init__(
        self,
        store: Store,
        clock: ServerClock,
        *,
        plan: str = "premium",
        ibm_backends: Mapping[str, DurationModel] | None = None,
        azure_targets: Mapping[str, DurationModel] | None = None,
        seed: int | None = None,
        workers: int | None = None,
    ) -> None:
        if plan not in policies.IBM_PLANS:
            raise ValueError(f"plan must be one of {sorted(policies.IBM_PLANS)}; got {plan!r}")
        self.store = store
        self.clock = clock
        self.plan = plan
        self.executors = execution.Executors(seed)
        self.scheduler = Scheduler(clock, workers=workers, observer=self)
        self._providers: dict[str, str] = {}
        names = execution.fake_backend_classes() if ibm_backends is None else ibm_backends
        for name in names:
            duration = IBM_QPU if ibm_backends is None else ibm_backends[name]
            self._add_backend(name, IBM, duration, ibm_max_shots(name))
        for name in execution.mock_backends(names):
            twin = execution.mock_twin(name)
            self._add_backend(name, IBM, self.duration(twin), ibm_max_shots(twin))
        for name, duration in (DEFAULT_TARGETS if azure_targets is None else azure_targets).items():
            self._add_backend(name, AZURE, duration, AZURE_MAX_SHOTS)
        self._sessions: dict[tuple[str, str], CloudSession] = {}
        self._jobs: dict[tuple[str, str], CloudJob] = {}
        self._restore()
        #: Wall-clock seconds (Unix time) of session time 0: REST timestamps are epoch + t.
        self.epoch = clock.epoch(store.get_meta("epoch"))
        with store.transaction():
            store.set_meta("epoch", repr(self.epoch))
            store.set_meta("clock", clock.reading())

    def _add_backend(
        self, name: str, provider: str, duration: DurationModel, max_shots: int | None
    ) -> None:
        self.scheduler.add_backend(name, duration=duration, max_shots=max_shots)
        self._providers[name] = provider

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler's driver thread (idempotent)."""
        self.scheduler.start(quiet=QUIET)

    def stop(self) -> None:
        """Stop the driver and the work pool; a job being executed is re-run after a restart."""
        self.scheduler.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[float]:
        """The scheduler's lock with everything due carried out, then one store transaction;
        yields now. The transaction commits even when the body raises: a refused event can
        follow a recorded timer whose effects stand."""
        failure: Exception | None = None
        with self.scheduler._cond:
            now = self.scheduler._sync()
            with self.store.transaction():
                try:
                    yield now
                except Exception as exc:
                    failure = exc
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
        return [name for name, owner in self._providers.items() if owner == provider]

    def queue_length(self, backend: str) -> int:
        with self._locked():
            return self.scheduler.backend(backend).queue_length

    def duration(self, backend: str) -> DurationModel:
        """The duration model of a backend's jobs."""
        return self.scheduler.backend(backend).duration

    def charge_seconds(self, job: CloudJob) -> float:
        """The QPU time a job is charged: from its start to its end (to now while it runs)."""
        if job.started_at is None:
            return 0.0
        return (self.clock.now() if job.ended_at is None else job.ended_at) - job.started_at

    def _backend(self, provider: str, name: str) -> LocalBackend:
        if self._providers.get(name) != provider:
            raise NotFound(f"backend {name!r}")
        return self.scheduler.backend(name)

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
        qpu = self._backend(provider, backend)
        built = build_policy(policy)
        with self._locked() as now:
            sid = new_id() if session_id is None else session_id
            if (tenant, sid) in self._sessions:
                raise Conflict(f"session {sid!r} already exists")
            row = SessionRow(tenant, sid, provider, backend, policy, attributes, now)
            self.store.add_session(row)
            local = self.scheduler.open_session(built, qpu, session_id=sid, key=(tenant, sid))
            session = local.host = CloudSession(row, local)
            self._sessions[session.key] = session
            return session

    def session(self, tenant: str, session_id: str) -> CloudSession:
        """The tenant's session, brought up to now (its due timers fired, their effects
        carried out)."""
        with self._locked() as now:
            session = self._session(tenant, session_id)
            self._catch_up(session, now)
            return session

    def sessions(self, tenant: str, provider: str) -> list[CloudSession]:
        with self._locked() as now:
            found = [
                s for s in self._sessions.values() if s.tenant == tenant and s.provider == provider
            ]
            for session in found:
                self._catch_up(session, now)
            return found

    def close_session(self, tenant: str, session_id: str) -> CloudSession:
        """Stop accepting jobs; submitted ones still run (IBM PATCH, Azure ``:close``). A
        session that already accepts no jobs is left as it is (nothing is recorded)."""
        with self._locked():
            session = self._session(tenant, session_id)
            session.local.close()
            return session

    def cancel_session(self, tenant: str, session_id: str) -> CloudSession:
        """IBM ``cancel()``: end the session now, cancelling its queued jobs. A session that
        has already ended is left as it is (nothing is recorded)."""
        with self._locked():
            session = self._session(tenant, session_id)
            session.local.cancel()
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
        """Queue a job now (``work``: IBM's decoded pubs). Raises ``NotFound`` (backend or
        session), ``Conflict`` (job id in use), ``JobLimitError`` (shots over the backend's
        maximum) or the core's ``SessionClosedError`` / ``InvalidEventError``, changing
        nothing."""
        qpu = self._backend(provider, backend)
        with self._locked() as now:
            jid = new_id() if job_id is None else job_id
            if (tenant, jid) in self._jobs:
                raise Conflict(f"job {jid!r} already exists")
            session = None if session_id is None else self._session(tenant, session_id)
            if session is not None and session.provider != provider:
                raise NotFound(f"session {session_id!r}")
            row = JobRow(
                tenant, jid, provider, backend, session_id, program, attributes, params, now
            )
            run = self._work(row, work)
            target = qpu if session is None else session.local
            local = target.submit(
                run, shots=shots, job_id=jid, host=row, time_limit=self._time_limit(row)
            )
            job: CloudJob = local.host
            self._jobs[job.key] = job
            return job

    def job(self, tenant: str, job_id: str) -> CloudJob:
        with self._locked():
            return self._job(tenant, job_id)

    def jobs(self, tenant: str, provider: str, session_id: str | None = None) -> list[CloudJob]:
        with self._locked():
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
            job.row = attrs.evolve(job.row, attrs={**job.row.attrs, **changes})
            self.store.update_job(tenant, job_id, attrs=job.row.attrs)
            return job

    def params(self, tenant: str, job_id: str) -> bytes | None:
        """A job's input, from the store (it leaves memory once the job has run)."""
        self._job(tenant, job_id)
        return self.store.get_params(tenant, job_id)

    def cancel_job(self, tenant: str, job_id: str) -> CloudJob:
        """Cancel a queued or running job; ``Conflict`` if it has already ended."""
        with self._locked():
            job = self._job(tenant, job_id)
            if not job.local.cancel():
                raise Conflict(f"job {job_id!r} is {job.state}; it can no longer be cancelled")
            return job

    def result(self, tenant: str, job_id: str) -> bytes | None:
        self._job(tenant, job_id)
        return self.store.get_result(tenant, job_id)

    def advance(self, seconds: float) -> float:
        """Virtual clocks only: let ``seconds`` pass, firing every event due meanwhile
        (``ClockError``, changing nothing, for seconds outside the clock's bounds)."""
        if not self.clock.virtual:
            raise Conflict("the clock is real; only a virtual clock can be advanced")
        with self.scheduler._cond:
            until = self.clock.advance_to(seconds)
            self.scheduler.run(until=until)
            with self.store.transaction():
                self.store.set_meta("clock", self.clock.reading())
            return until

    # Internals ------------------------------------------------------------------------------

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

    @staticmethod
    def _catch_up(session: CloudSession, now: float) -> None:
        """Let the session's core see now, for its views (no timer is due: the scheduler has
        fired them, so nothing changes but the time its details are computed at)."""
        core = session.core
        deadline = core.next_deadline
        if now > core.last_event_at and (deadline is None or deadline > now):
            core.advance(to=now)

    @staticmethod
    def _view(row: JobRow, local: LocalJob) -> CloudJob:
        """The job as the routes see it: the row without its input, and the scheduler's job."""
        return CloudJob(attrs.evolve(row, params=None), local)

    def _work(self, row: JobRow, work: Any) -> Callable[[], bytes]:
        """What the QPU executes: IBM's decoded work on the fake backend, an Azure job's input
        blob on its target."""
        if row.provider == IBM:
            return partial(execution.run_ibm, self.executors, row.backend, row.program, work)
        return partial(
            execution.run_azure, self.executors, row.backend, row.program, row.params, row.attrs
        )

    @staticmethod
    def _time_limit(row: JobRow) -> float | None:
        """An IBM job's ``max_execution_time`` (sent as ``cost``): it ends cancelled there."""
        limit = row.attrs.get("cost") if row.provider == IBM else None
        return None if limit is None else float(limit)

    # The scheduler's observer: every change is written in the request's or step's transaction.

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.store.transaction()

    def session_event(self, session: LocalSession, event: Event) -> None:
        cloud: CloudSession = session.host
        self.store.append_event(cloud.tenant, cloud.id, encode_event(event))

    def job_changed(self, local: LocalJob) -> None:
        job = local.host
        if isinstance(job, JobRow):  # just submitted: store the row, keep it without its input
            self.store.add_job(job)
            local.host = self._view(job, local)
            return
        if local.state is JobState.RUNNING:
            self.store.update_job(
                job.tenant,
                job.id,
                state=str(local.state),
                started_at=local.started_at,
                due_at=(local.started_at or 0.0) + local.duration,
            )
            return
        self.store.update_job(
            job.tenant,
            job.id,
            state=str(local.state),
            ended_at=local.ended_at,
            due_at=None,
            reason=local.reason,
        )
        output, local.value = local.value, None  # the output lives in the store from here on
        if job.provider == IBM:
            self.store.put_result(
                job.tenant, job.id, output if output is not None else (local.reason or "").encode()
            )
        elif output is not None:
            account, container, name = job.attrs["output_blob"]
            self.store.put_blob(
                BlobRow(
                    account,
                    container,
                    name,
                    output,
                    "application/json",
                    None,
                    new_id(),
                    local.ended_at or 0.0,
                )
            )

    # Restore ---------------------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild sessions (by replaying their traces) and jobs from the store."""
        scheduler, clock = self.scheduler, self.clock
        for row, events in self.store.load_sessions():
            if row.backend not in self._providers:
                log.warning("session %s is on %r, which this emulator lacks", row.id, row.backend)
                continue
            local = scheduler.restore_session(
                build_policy(row.policy),
                scheduler.backend(row.backend),
                session_id=row.id,
                opened_at=row.opened_at,
                events=[decode_event(event) for event in events],
                key=(row.tenant, row.id),
            )
            local.host = session = CloudSession(row, local)
            self._sessions[session.key] = session
            clock.at_least(local.core.last_event_at)
        for row, progress in self.store.load_jobs():
            session = self._sessions.get((row.tenant, row.session_id or ""))
            if row.backend not in self._providers or (row.session_id and session is None):
                continue
            state = JobState(progress.state)
            work, shots = None, 0
            if state.in_flight:
                work, shots = self._restored_work(row)
            local = scheduler.restore_job(
                scheduler.backend(row.backend),
                None if session is None else session.local,
                row.id,
                work,
                state=state,
                submitted_at=row.submitted_at,
                started_at=progress.started_at,
                ended_at=progress.ended_at,
                reason=progress.reason,
                shots=shots,
                time_limit=self._time_limit(row),
            )
            local.host = job = self._view(row, local)
            self._jobs[job.key] = job
            times = (row.submitted_at, progress.started_at, progress.ended_at)
            clock.at_least(max(t for t in times if t is not None))
        with self.store.transaction():
            scheduler.resume()

    def _restored_work(self, row: JobRow) -> tuple[Callable[[], bytes], int]:
        if row.provider == IBM:
            assert row.params is not None
            work = execution.ibm_work(row.program, execution.decode_ibm_params(row.params))
            return self._work(row, work), execution.work_shots(work)
        shots = execution.shots_of(row.attrs.get("inputParams") or {})
        return self._work(row, None), shots
