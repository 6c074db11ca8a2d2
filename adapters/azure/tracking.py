"""``track()`` for azure-quantum: session statuses predicted exactly, the SDK's session traps fixed.

Theory of operation
-------------------
``track`` adopts the SDK object in place: a ``Session`` gets ``TrackedSession`` mixed in first,
as the IBM adapter does; a session host (a ``Target``, a Qiskit ``AzureBackendBase``, anything
implementing ``SessionHost``) gets ``HostTracking``'s methods installed on the instance.

A tracked session mirrors itself in the core from what the service reports: each observation
(``refresh()``, ``close()``, a host's submission) reads the session and its jobs, learns every
job's submission, start and end at the service's own times, settles them up to a clock reading
taken before the reads, and compares the predicted status with the service's. A mismatch is
logged with both and the service's view adopted: a status the service has ended is closed in
the core; any other difference is reported as the service's until the core's next change.
Predictions (``predicted_status()``, ``next_deadline``, ``remaining()``, ``timeline()``) make no
network call. The clock counts POSIX seconds like the service's timestamps (``time.time`` by
default; against a virtual-time emulator, its clock).

A tracked host fixes the SDK's two traps. The SDK uploads a job's input before it sends the job,
so the service's refusal of a job for a finished session leaves an orphaned blob; the host's
``get_latest_session_id()``, which every submission path calls before uploading, refuses a
session that no longer accepts jobs (after asking the service) or runs on another target. And
the SDK never clears ``latest_session``, so jobs submitted after a session ended are silently
tagged with it; a tracked session clears it on every host holding it when it is closed, and
when a submission to it is refused because it ended on its own (an ``Abort`` failure, the idle
timeout): that submission fails loudly, later ones run outside the session, as they do after a
``with`` block. ``Failure(s)`` (a failed job under ``job_failure_policy="Continue"``) is not an
end: the session keeps accepting jobs and stays the host's session.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from azure.quantum import Workspace
from azure.quantum.job import Job, Session
from azure.quantum.job.session import SessionHost
from qsession.adapters._mirror import RESOLUTION, Clock, Mirror
from qsession.core import Session as CoreSession
from qsession.core import policies
from qsession.core.azure import TERMINAL
from qsession.core.effects import Effect, StateChanged
from qsession.core.errors import InvalidEventError, SessionClosedError
from qsession.core.events import Close, JobCancelled, JobCompleted, JobFailed, JobStarted, Submit
from qsession.core.policies import AzurePolicy

if TYPE_CHECKING:
    from qsession.adapters.local.timeline import Timeline

log = logging.getLogger("qsession.adapters.azure")

T = TypeVar("T")
#: Job statuses (v1 and v2 workspaces) by the phase they put a job in.
_STARTED = frozenset({"Executing", "Finishing", "CancellationRequested", "Cancelling"})
_SUCCEEDED = frozenset({"Succeeded", "Completed"})
_ENDED = _SUCCEEDED | {"Failed", "Cancelled"}
_TERMINAL = frozenset(str(state) for state in TERMINAL)


def track(item: T, *, clock: Clock | None = None) -> T:
    """Track an opened ``Session``, or a session host (``Target``, Qiskit backend); return it.

    ``clock``: POSIX seconds, ``time.time`` by default. A host's sessions are tracked as it
    opens them (or, set by hand as ``latest_session``, when it first submits to them).
    """
    if isinstance(item, TrackedSession) or hasattr(item, "_qsession_host"):
        raise ValueError(f"{item!r} is already tracked; use it as it is")
    if isinstance(item, Session):
        adopt_session(item, clock or time.time)
    elif SessionHost in type(item).__mro__:
        HostTracking(item, clock or time.time)
    else:
        raise TypeError(
            "track() takes an azure.quantum Session or a session host (a Target or a Qiskit"
            f" backend); got {type(item).__name__}"
        )
    return item


def adopt_session(session: Session, clock: Clock) -> TrackedSession:
    """Make ``session`` (opened) a ``TrackedSession``, unless it already is one."""
    if not isinstance(session, TrackedSession):
        tracker = Tracker(session, clock)
        session.__class__ = _tracked_class(TrackedSession, type(session))
        session._qsession = tracker
        tracker.sync(session.details)
    assert isinstance(session, TrackedSession)
    return session


class TrackedSession(Session):
    """What ``track`` adds to an azure-quantum ``Session``."""

    _qsession: Tracker

    def refresh(self) -> Session:
        """The SDK's refresh, then the session's jobs, reconciled with the prediction."""
        with self._qsession.mirror.lock:
            at = self._qsession.mirror.now()
            super().refresh()
            self._qsession.sync(self.details, at)
        return self

    def close(self) -> Session:
        """The SDK's close, mirrored: the core stops accepting; the host forgets the session."""
        tracker = self._qsession
        with tracker.mirror.lock:
            at = tracker.mirror.now()
            tracker.sync(tracker.fetch(), at)
            super().close()
            tracker.mirror.feed(Close(at))
            tracker.reconcile(self.details, at)
            tracker.release()
        return self

    def predicted_status(self) -> str:
        """The status the service reports now (``SessionStatus``), without a network call."""
        return self._qsession.predicted()

    @property
    def next_deadline(self) -> float | None:
        """When the next session timer (idle timeout, exclusivity) fires, in clock seconds."""
        return self._qsession.view()[1].next_deadline

    def remaining(self) -> float | None:
        """Seconds until the 10-minute idle timeout ends the session; None while a job is in
        flight (the timer does not run), 0 once the session has ended."""
        at, view = self._qsession.view()
        if view.ended:
            return 0.0
        record = view.snapshot()
        if record.in_flight:
            return None
        last = max(
            t
            for t in (record.created_at, record.last_submitted_at, record.last_job_completed)
            if t is not None
        )
        return max(0.0, last + self._qsession.policy.idle_timeout - at)

    def timeline(self) -> Timeline:
        """The session's status changes and jobs so far, as the local backend reports them
        (its record types live in ``qsession.adapters.local``, which needs qiskit)."""
        at, _ = self._qsession.view()
        return self._qsession.mirror.timeline(at)

    @property
    def qsession(self) -> Mirror:
        """The mirror: its core session, policy and the events fed to it (for check_trace)."""
        return self._qsession.mirror


class HostTracking:
    """What ``track`` installs on a session host, as instance attributes: its sessions are
    tracked, and the two fixed traps. Not a subclass: the SDK finds target and Qiskit backend
    classes through ``__subclasses__()``, where a subclass would show up as one more backend."""

    def __init__(self, host: Any, clock: Clock) -> None:
        self.host = host
        self.clock = clock
        host.open_session = self.open_session
        host.get_latest_session_id = self.get_latest_session_id
        if hasattr(type(host), "submit"):
            host.submit = self.submit
        host._qsession_host = self

    def open_session(self, *args: Any, **kwargs: Any) -> Session:
        """Open a session as the SDK does; it is tracked, with this host as its holder."""
        opened = type(self.host).open_session(self.host, *args, **kwargs)
        session = adopt_session(opened, self.clock)
        session._qsession.hosts.append(self.host)
        return session

    def get_latest_session_id(self) -> str | None:
        """The SDK asks this right before uploading a job's input: refuse a session that no
        longer accepts jobs or runs on another target, so nothing is uploaded for it."""
        session = self.host.latest_session
        if session is None:
            return None
        tracked = adopt_session(session, self.clock)
        if self.host not in tracked._qsession.hosts:
            tracked._qsession.hosts.append(self.host)
        tracked._qsession.admit(self.host._get_azure_target_id())
        return str(session.id)

    def submit(self, *args: Any, **kwargs: Any) -> Job:
        """Submit as the SDK does; the session learns the job at once (a host without
        ``submit``, such as a Qiskit backend, has its jobs learned at the next observation)."""
        job = type(self.host).submit(self.host, *args, **kwargs)
        session = self.host.latest_session
        if isinstance(session, TrackedSession) and job.details.session_id == session.id:
            job.__class__ = _tracked_job_class(type(job))
            job._qsession = session._qsession
            session._qsession.learn([job])
        return job


def _tracked_job_class(cls: type) -> type:
    """``cls`` whose ``refresh()`` (polled by ``wait_until_completed``, ``get_results``)
    teaches the session each status it sees; built once per class."""
    if cls in _TRACKED_JOBS:
        return _TRACKED_JOBS[cls]

    class Tracked(cls):
        _qsession: Tracker

        def refresh(self) -> None:
            super().refresh()
            self._qsession.learn([self])

    Tracked.__name__ = Tracked.__qualname__ = f"Tracked{cls.__name__}"
    _TRACKED_JOBS[cls] = Tracked
    return Tracked


_TRACKED_JOBS: dict[type, type] = {}
_TRACKED: dict[tuple[type, type], type] = {}


def _tracked_class(mixin: type, cls: type) -> type:
    """``cls`` with ``mixin`` first, built once per class."""
    if (mixin, cls) not in _TRACKED:
        _TRACKED[mixin, cls] = type(f"Tracked{cls.__name__}", (mixin, cls), {})
    return _TRACKED[mixin, cls]


def seconds(moment: datetime | str | None) -> float | None:
    """POSIX seconds of a service time (a datetime or ISO 8601 text; UTC when zoneless)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _policy(details: Any) -> AzurePolicy:
    priority = details.priority if details.priority in ("Standard", "High") else None
    return policies.azure_session(
        str(details.target), _text(details.job_failure_policy), priority=priority
    )


def _text(value: Any) -> str | None:
    """An SDK enum member or string as its wire text (``"Failure(s)"``, ``"Abort"``)."""
    return None if value is None else str(getattr(value, "value", value))


class Tracker:
    """The per-session state behind ``TrackedSession``: the mirror and the hosts holding it."""

    def __init__(self, session: Session, clock: Clock) -> None:
        details = session.details
        if details.status is None:
            raise ValueError(f"session {session.id!r} is not open yet; track it after open()")
        self.session = session
        self.workspace: Workspace = session.workspace
        self.hosts: list[SessionHost] = []
        if session.target is not None:
            self.hosts.append(session.target)
        self._override: str | None = None
        self._learned: dict[str, int] = {}
        created = seconds(details.creation_time)
        self.policy = _policy(details)
        self.mirror = Mirror(
            self.policy,
            session_id=str(session.id),
            opened_at=clock() if created is None else created,
            backend=str(details.target),
            clock=clock,
            on_effects=self._carry_out,
        )

    def fetch(self) -> Any:
        """The session's details from the service (the SDK's own call)."""
        return self.workspace.get_session(self.session.id).details

    def sync(self, details: Any, at: float | None = None) -> None:
        """Learn the session's jobs, settle up to ``at`` (a reading taken before ``details``
        was fetched), compare the prediction with ``details`` and adopt the service's view."""
        with self.mirror.lock:
            at = self.mirror.now() if at is None else at
            self.learn(self.workspace.list_session_jobs(self.session.id))
            self.mirror.settle(at)
            self.reconcile(details, at)

    def learn(self, jobs: list[Job]) -> None:
        """Learn what is new about each job, at the service's times (fed to the core by the
        next ``sync``, which reads every job of the session first)."""
        for job in jobs:
            d = job.details
            status, job_id = _text(d.status), str(d.id)
            submitted, begun, ended = (
                seconds(d.creation_time),
                seconds(d.begin_execution_time),
                seconds(d.end_execution_time),
            )
            phase = self._learned.get(job_id, 0)
            if phase < 1 and submitted is not None:
                self.mirror.learn(Submit(job_id, submitted, d.target), name=d.name)
                phase = 1
            if phase < 2 and (status in _STARTED or begun is not None or status in _SUCCEEDED):
                self.mirror.learn(JobStarted(job_id, begun or ended or self.mirror.now()))
                phase = 2
            if phase < 3 and status in _ENDED:
                end_at = ended or self.mirror.now()
                if status == "Failed":
                    error = d.error_data
                    reason = "" if error is None else f"{error.code}: {error.message}"
                    self.mirror.learn(JobFailed(job_id, end_at, reason))
                elif status == "Cancelled":
                    self.mirror.learn(JobCancelled(job_id, end_at))
                else:
                    self.mirror.learn(JobCompleted(job_id, end_at))
                phase = 3
            self._learned[job_id] = phase

    def reconcile(self, details: Any, at: float) -> None:
        """Compare the prediction at ``at`` with the service's status; adopt the service's.
        Not when the service has moved on since ``at`` (a job event or the session's end
        after it): the two would describe different moments."""
        ended = seconds(details.end_execution_time)
        if self.mirror.unsettled or (ended is not None and ended > at + RESOLUTION):
            log.debug("session %s changed while observed; not compared", self.session.id)
            return
        core = self.mirror.core
        predicted = self._override or str(core.state)
        reported = _text(details.status)
        if reported is None or predicted == reported:
            self._override = None
            return
        log.warning(
            "session %s: predicted status %r but the service reports %r; adopting the service's",
            core.session_id,
            predicted,
            reported,
        )
        if reported in _TERMINAL and core.accepting_jobs:
            self.mirror.feed(Close(at))
        self._override = None if str(core.state) == reported else reported

    def view(self) -> tuple[float, CoreSession]:
        """The time now and the core as the service shows it then (a copy)."""
        with self.mirror.lock:
            at = self.mirror.now()
            return at, self.mirror.preview(at)

    def predicted(self) -> str:
        with self.mirror.lock:
            return self._override or str(self.view()[1].state)

    def admit(self, target: str) -> None:
        """Refuse a submission for ``target`` unless the session runs on it and (as the
        service says now) still accepts jobs."""
        with self.mirror.lock:
            core, policy = self.mirror.core, self.policy
            if target != policy.target:
                raise InvalidEventError(
                    f"session {core.session_id!r} runs on {policy.target!r}, not {target!r}:"
                    " the job was not uploaded; open a session on that target instead",
                    session_id=core.session_id,
                    state=str(core.state),
                    event="submit",
                )
            at = self.mirror.now()
            self.sync(self.fetch(), at)
            if not self._accepting():
                status = self.predicted()
                self.release()
                raise SessionClosedError(
                    f"session {core.session_id!r} is {status!r} and accepts no more jobs: the"
                    " job was not uploaded; open a new session (open_session(...)) to submit"
                    " more; it is no longer this host's latest_session",
                    session_id=core.session_id,
                    state=status,
                    event="submit",
                )

    def _accepting(self) -> bool:
        if self._override is not None:
            return self._override not in _TERMINAL
        return self.mirror.core.accepting_jobs

    def _carry_out(self, effects: tuple[Effect, ...]) -> None:
        if any(isinstance(effect, StateChanged) for effect in effects):
            self._override = None

    def release(self) -> None:
        """The session is no host's ``latest_session`` any more (closed, or found ended)."""
        for host in self.hosts:
            if host.latest_session is self.session:
                host.latest_session = None
