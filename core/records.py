"""Records: the per-session state, small attrs objects the tables act on.

A session is one ``SessionRecord`` (a few hundred bytes) plus one frozen ``Job`` per job it
has seen. Jobs are replaced, never mutated, so copying a record for an all-or-nothing update
is a shallow copy of its job map; a fork (``fork``) shares the job map itself.
"""

from __future__ import annotations

import math
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

    A NamedTuple rather than a frozen attrs class: a job is rebuilt on every job event, and
    building a tuple is about five times cheaper (measured by ``benchmarks/core.py``).
    """

    state: JobState
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None


#: The job map and state history of every session that has none yet: shared, never written.
#: Whatever adds the first entry puts a new container in its place.
NO_JOBS: dict[str, Job] = {}
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
    jobs: dict[str, Job] = attrs.Factory(dict)
    timestamps: list[tuple[str, float]] = attrs.Factory(list)

    def clone(self) -> SessionRecord[P]:
        """An independent copy: jobs are frozen, so copying the two containers is enough."""
        twin = self.fork()
        twin.jobs = dict(self.jobs)
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
        return tuple(job_id for job_id, job in self.jobs.items() if job.state in states)


_FIELDS = tuple(field.name for field in attrs.fields(SessionRecord))
