"""Records: the per-session state, small attrs objects the tables act on.

A session is one ``SessionRecord`` (a few hundred bytes) plus one row per job it has seen: a
plain tuple of ``Job``'s fields, which costs no Python call to build; ``Job`` values are made
from the rows where they leave the core (``SessionRecord.jobs``, ``Session.job()``). Rows are
replaced, never mutated, so copying a record for an all-or-nothing update is a shallow copy of
its job map; a fork (``fork``) shares the job map itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

import attrs

P = TypeVar("P")


class JobState(StrEnum):
    """Job lifecycle shared by both providers (JOB-LIFECYCLE)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def in_flight(self) -> bool:
        return self is JobState.QUEUED or self is JobState.RUNNING


class Job(NamedTuple):
    """One job of a session, with the time of each transition (JOB-TIMES).

    A NamedTuple, so that a record's plain row for the job (``JobRow``, rebuilt on every job
    event without a Python call) is the same tuple; a ``Job`` is made only when a job leaves
    the core (``SessionRecord.jobs``, ``Session.job()``).
    """

    state: JobState
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None


#: A job as a record keeps it: ``Job``'s fields in order (a ``Job`` is one too).
JobRow = tuple[JobState, float, float | None, float | None, str | None]


class JobsView(Mapping[str, Job]):
    """A record's jobs as ``Job`` values, read-only, in submission order, over its rows."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Mapping[str, JobRow]) -> None:
        self._rows = rows

    def __getitem__(self, job_id: str) -> Job:
        row = self._rows[job_id]
        return row if isinstance(row, Job) else Job._make(row)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"JobsView({dict(self)!r})"


#: The job rows and state history of every session that has none yet: shared, never written.
#: Whatever adds the first entry puts a new container in its place.
NO_JOBS: dict[str, JobRow] = {}
NO_TIMESTAMPS: list[tuple[str, float]] = []


@attrs.define(weakref_slot=False)
class SessionRecord(Generic[P]):
    """Everything the core knows about one session. ``state`` is the provider's own enum;
    ``P`` is the policy type, so each provider module is typed against its own policy.
    (No weak-reference slot: a session's record is referenced only by its ``Session``.)"""

    policy: P
    session_id: str
    state: StrEnum
    created_at: float
    last_at: float
    accepting_jobs: bool = True
    exclusive: bool = False
    started_at: float | None = None
    activated_at: float | None = None
    closed_at: float | None = None
    last_submitted_at: float | None = None
    last_job_started: float | None = None
    last_job_completed: float | None = None
    #: Jobs queued or running (a cache of ``jobs``, checked by JOB-CONSERVATION).
    in_flight: int = 0
    #: Jobs that failed on their own (``job_failed``), not those the session failed in bulk at
    #: max TTL: Azure's ``Failure(s)`` and its close to ``Failed`` depend on it.
    failures: int = 0
    active_seconds: float = 0.0
    deadline: float = math.inf
    #: Each job's row, in submission order (``jobs`` shows them as ``Job`` values).
    job_rows: dict[str, JobRow] = attrs.Factory(dict)
    timestamps: list[tuple[str, float]] = attrs.Factory(list)

    @property
    def jobs(self) -> JobsView:
        """Every job of the session as a ``Job``, in submission order (read-only)."""
        return JobsView(self.job_rows)

    def clone(self) -> SessionRecord[P]:
        """An independent copy: rows are tuples, so copying the two containers is enough."""
        twin = self.fork()
        twin.job_rows = dict(self.job_rows)
        return twin

    def fork(self) -> SessionRecord[P]:
        """A copy that shares the job map, for firing timers before an event that may still be
        refused: a timer that ends jobs puts a new map in place first (``engine.end_jobs``),
        and the event writes the shared map only once accepted, when the original is dropped."""
        twin: SessionRecord[P] = object.__new__(SessionRecord)
        for name in _FIELDS:
            setattr(twin, name, getattr(self, name))
        twin.timestamps = list(self.timestamps)
        return twin

    def in_flight_ids(self, *states: JobState) -> tuple[str, ...]:
        """Ids of the jobs in one of ``states``, in submission order."""
        return tuple(job_id for job_id, row in self.job_rows.items() if row[0] in states)


_FIELDS = tuple(field.name for field in attrs.fields(SessionRecord))
