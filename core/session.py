"""``Session``: the public face of one session record. Every verb returns a tuple of effects.

A session is an instance of its machine's compiled subclass of ``Session``, whose verbs and
``handle`` are the generated hot path (``qsession.core.compiled``); ``Session(record)`` picks
it too. Whatever the generated code does not take goes to ``_interpret``, the generic
interpreter; ``Session.handle(session, event)`` on the base class runs the interpreter alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from . import azure, engine, ibm
from .compiled import Compiled, compile_machine
from .effects import Effect
from .engine import Machine
from .errors import InvalidEventError, PolicyError
from .events import (
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
from .policies import AzurePolicy, IBMPolicy, Policy
from .records import Job, JobState, SessionRecord

_POLICIES = (IBMPolicy, AzurePolicy)
_NUMBERS = (int, float)
_INF = math.inf


class Session:
    """One IBM or Azure session, driven by events on the caller's clock.

    ``Session.open(policy, session_id=..., at=...)`` creates it; ``submit``, ``job_started``,
    ``job_completed``, ``job_failed``, ``job_cancelled``, ``close``, ``cancel`` and ``advance``
    feed it events. A refused event raises a ``SessionError`` and changes nothing.
    """

    __slots__ = ("_rec",)

    def __new__(cls, record: SessionRecord[Policy] | None = None) -> Session:
        """``Session(record)`` is an instance of the record's compiled machine subclass
        (``copy`` calls this without a record, on that subclass)."""
        if cls is Session and record is not None:
            return object.__new__(_compile(record.policy.machine)[2])
        return object.__new__(cls)

    def __init__(self, record: SessionRecord[Policy]) -> None:
        self._rec = record

    @classmethod
    def open(cls, policy: Policy, *, session_id: str, at: float) -> Session:
        """Open a session with ``policy`` at time ``at`` (IBM ``open``, Azure ``Waiting``)."""
        if not isinstance(policy, _POLICIES):
            raise PolicyError(
                f"policy must come from qsession.core.policies (ibm_session, ibm_batch,"
                f" azure_session); got {policy!r}"
            )
        if type(session_id) is not str or not session_id:
            raise InvalidEventError(
                f"session id must be a non-empty str; got {session_id!r}", event="open"
            )
        if not isinstance(at, _NUMBERS) or not -_INF < at < _INF:
            raise InvalidEventError(
                f"session {session_id!r}: open time must be a finite number; got {at!r}",
                session_id=session_id,
                event="open",
            )
        machine = policy.machine
        entry = _COMPILED.get(id(machine))
        if entry is None or entry[0] is not machine:
            entry = _compile(machine)
        session = object.__new__(entry[2] if cls is Session else cls)
        session._rec = entry[3](policy, session_id, at)
        return session

    def handle(self, event: Event) -> tuple[Effect, ...]:
        """Apply any event; the verbs below are shorthands for this. (This is the generic
        interpreter; a session's own ``handle`` is generated and gives the same answers.)"""
        return _interpret(self, event)

    def submit(self, job_id: str, *, at: float, target: str | None = None) -> tuple[Effect, ...]:
        """Submit a job; ``target`` (a backend or target name) must be the session's own."""
        return self.handle(Submit(job_id, at, target))

    def job_started(self, job_id: str, *, at: float) -> tuple[Effect, ...]:
        return self.handle(JobStarted(job_id, at))

    def job_completed(self, job_id: str, *, at: float) -> tuple[Effect, ...]:
        return self.handle(JobCompleted(job_id, at))

    def job_failed(self, job_id: str, *, at: float, reason: str = "") -> tuple[Effect, ...]:
        return self.handle(JobFailed(job_id, at, reason))

    def job_cancelled(self, job_id: str, *, at: float) -> tuple[Effect, ...]:
        return self.handle(JobCancelled(job_id, at))

    def close(self, *, at: float) -> tuple[Effect, ...]:
        """Stop accepting jobs; submitted jobs still run, then the session ends."""
        return self.handle(Close(at))

    def cancel(self, *, at: float) -> tuple[Effect, ...]:
        """IBM only: end the session now; queued jobs are cancelled, the running job finishes."""
        return self.handle(Cancel(at))

    def advance(self, *, to: float) -> tuple[Effect, ...]:
        """Move time to ``to``, firing each due timer at its own deadline, in order."""
        return self.handle(Advance(to))

    @property
    def session_id(self) -> str:
        return self._rec.session_id

    @property
    def policy(self) -> Policy:
        return self._rec.policy

    @property
    def state(self) -> StrEnum:
        """The provider-native state (``IBMState`` or ``AzureState``), a str enum."""
        return self._rec.state

    @property
    def status(self) -> str:
        """The provider's user-facing status string (IBM ``Session.status()``, Azure status)."""
        return self._rec.policy.machine.status(self._rec)

    @property
    def accepting_jobs(self) -> bool:
        return self._rec.accepting_jobs

    @property
    def exclusive(self) -> bool:
        """Whether the session holds its QPU exclusively right now."""
        return self._rec.exclusive

    @property
    def ended(self) -> bool:
        """Whether the session is in a terminal state (it will never accept jobs again)."""
        return self._rec.state in self._rec.policy.machine.terminal

    @property
    def next_deadline(self) -> float | None:
        """When the next timer fires if nothing else happens, or None if no timer is armed."""
        deadline = self._rec.deadline
        return None if deadline == math.inf else deadline

    @property
    def last_event_at(self) -> float:
        return self._rec.last_at

    def job_state(self, job_id: str) -> JobState:
        """``"queued"``, ``"running"``, ``"completed"``, ``"failed"`` or ``"cancelled"``."""
        return self.job(job_id).state

    def job(self, job_id: str) -> Job:
        """The job's record with its state and transition times."""
        row = self._rec.job_rows.get(job_id)
        if row is None:
            raise InvalidEventError(
                f"session {self.session_id!r} has no job {job_id!r}",
                session_id=self.session_id,
                state=str(self.state),
                event="job_state",
            )
        return Job._make(row)

    @property
    def jobs(self) -> Mapping[str, Job]:
        """Every job of the session, in submission order (read-only)."""
        return self._rec.jobs

    def details(self) -> dict[str, Any]:
        """The provider's session details (IBM: the keys of ``Session.details()``)."""
        return self._rec.policy.machine.details(self._rec)

    def snapshot(self) -> SessionRecord[Policy]:
        """An independent copy of the record, for comparing before and after."""
        return self._rec.clone()

    def __repr__(self) -> str:
        return (
            f"<Session {self.session_id!r} {self._rec.policy.machine.name} {str(self.state)!r}"
            f" accepting_jobs={self.accepting_jobs} jobs={len(self._rec.job_rows)}>"
        )


def _interpret(session: Session, event: Event) -> tuple[Effect, ...]:
    """The generic interpreter applied to ``session``: the generated verbs' fallback."""
    session._rec, effects = engine.handle(session._rec, event)
    return tuple(effects) if effects else ()


Opener = Callable[[Policy, str, float], SessionRecord[Policy]]
_COMPILED: dict[int, tuple[Machine, Compiled, type[Session], Opener]] = {}


def _compile(machine: Machine) -> tuple[Machine, Compiled, type[Session], Opener]:
    """The compiled code of ``machine``, the ``Session`` subclass with its generated verbs,
    and its record opener; generated on first use (at import for the providers' machines)."""
    entry = _COMPILED.get(id(machine))
    if entry is None or entry[0] is not machine:
        code = compile_machine(machine, _interpret)
        methods = {name: f for name, f in code.functions.items() if name != "open"}
        name = f"Compiled{machine.chart.__name__.removesuffix('Chart')}"
        kind = type(name, (Session,), {"__slots__": (), "__module__": __name__, **methods})
        entry = (machine, code, kind, code.functions["open"])
        _COMPILED[id(machine)] = entry
    return entry


def compiled_source(machine: Machine) -> str:
    """The generated source of ``machine``'s sessions (``qsession spec --compiled``)."""
    return _compile(machine)[1].source


for _machine in (ibm.MACHINE, azure.MACHINE):
    _compile(_machine)
