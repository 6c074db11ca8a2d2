"""Qiskit Runtime shape on the local scheduler: the seeds' code runs with only its imports changed.

``QiskitRuntimeService`` hands out fake QPUs; ``Session`` / ``Batch`` (object or context
manager), ``EstimatorV2`` / ``SamplerV2``, the executor-based primitives (``Executor``,
``executor_sampler.Sampler``, ``executor_estimator.Estimator``) and ``RuntimeJobV2`` behave
like qiskit-ibm-runtime's, except that the session rules are enforced (by ``qsession.core``)
instead of ignored. The current session of a ``with`` block lives in a ``ContextVar``, as in
qiskit-ibm-runtime: each thread and asyncio task sees its own, and a primitive captures it when
it is constructed.

As strict as the service: on a fake IBM backend every circuit must be an ISA circuit of its
target (qiskit-ibm-runtime's own check, ``IBMInputValueError`` before anything is queued), and
estimates carry the shot noise of the precision or shots asked for (Qiskit Runtime's default
precision 0.015625 when none is); values are exact only on a backend added with ``exact=True``.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import attrs
from pydantic import BaseModel
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike
from qiskit_ibm_runtime import fake_provider
from qiskit_ibm_runtime.options_models import ExecutorOptions
from qiskit_ibm_runtime.quantum_program import QuantumProgram
from qsession.core import policies
from qsession.core.errors import SessionClosedError
from qsession.core.policies import IBMPolicy
from qsession.core.records import JobState
from qsession.spec import Trace

from . import programs
from .clock import Clock
from .errors import (
    SESSION_CLOSED,
    IBMInputValueError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
)
from .model import (
    IBM_QPU,
    RUNTIME_DEFAULT_PRECISION,
    RUNTIME_DEFAULT_SHOTS,
    QiskitExecution,
    isa_problem,
)
from .scheduler import LocalBackend, LocalJob, Scheduler
from .timeline import Timeline

_CURRENT: ContextVar[Session | None] = ContextVar("qsession_local_session", default=None)
#: The tokens of the ``with`` blocks entered in this context, innermost last.
_ENTERED: ContextVar[tuple[Token[Session | None], ...]] = ContextVar(
    "qsession_local_entered", default=()
)
_SERVICES: weakref.WeakKeyDictionary[LocalBackend, QiskitRuntimeService] = (
    weakref.WeakKeyDictionary()
)
#: ``RuntimeJobV2.status()`` strings for each job state.
_JOB_STATUS = {
    JobState.QUEUED: "QUEUED",
    JobState.RUNNING: "RUNNING",
    JobState.COMPLETED: "DONE",
    JobState.FAILED: "ERROR",
    JobState.CANCELLED: "CANCELLED",
}
#: The backend a new ``QiskitRuntimeService`` offers when its scheduler has none.
DEFAULT_BACKEND = "local_qpu"


def current_session() -> Session | None:
    """The session of the innermost ``with Session(...)`` block in this context, if any."""
    return _CURRENT.get()


class QiskitRuntimeService:
    """A local stand-in for ``QiskitRuntimeService``: its backends are fake QPUs.

    Without ``scheduler`` it makes one on a virtual clock with one QPU, ``"local_qpu"``, whose
    estimates carry shot noise unless ``exact``. ``backend("fake_manila")`` and the like wrap
    qiskit-ibm-runtime's fake backends (shot-based execution of ISA circuits only).
    """

    def __init__(
        self, *, scheduler: Scheduler | None = None, plan: str = "premium", exact: bool = False
    ) -> None:
        if plan not in policies.IBM_PLANS:
            raise ValueError(f"plan must be one of {sorted(policies.IBM_PLANS)}; got {plan!r}")
        self.plan = plan
        self.scheduler = Scheduler() if scheduler is None else scheduler
        if not self.scheduler.backends:
            self.scheduler.add_backend(DEFAULT_BACKEND, duration=IBM_QPU, exact=exact)
        for backend in self.scheduler.backends:
            _SERVICES[backend] = self

    @property
    def clock(self) -> Clock:
        """The scheduler's clock: ``service.clock.advance(70)`` models 70 s of classical work."""
        return self.scheduler.clock

    def backend(self, name: str | None = None) -> LocalBackend:
        """The named backend (the first one when ``name`` is None)."""
        if name is None:
            return self.scheduler.backends[0]
        if name not in {b.name for b in self.scheduler.backends} and name.startswith("fake_"):
            backend = self.scheduler.add_backend(name, qiskit_backend=_fake(name))
            _SERVICES[backend] = self
            return backend
        return self.scheduler.backend(name)

    def backends(self) -> list[LocalBackend]:
        return list(self.scheduler.backends)

    def least_busy(
        self,
        min_num_qubits: int | None = None,
        *,
        operational: bool = True,
        simulator: bool = False,
    ) -> LocalBackend:
        """The backend with the shortest queue. Local backends model QPUs: they are operational
        and not simulators, so asking for anything else finds none."""
        found = [
            b
            for b in self.scheduler.backends
            if operational
            and not simulator
            and (min_num_qubits is None or b.num_qubits >= min_num_qubits)
        ]
        if not found:
            raise ValueError("No backend matches the criteria.")
        return min(found, key=lambda b: b.queue_length)


def _charge(job: LocalJob, now: float) -> float:
    """A job's QPU charge time: from its start to its end (to ``now`` while it runs)."""
    if job.started_at is None:
        return 0.0
    return (now if job.ended_at is None else job.ended_at) - job.started_at


def _fake(name: str) -> Any:
    """qiskit-ibm-runtime's fake backend called ``name`` (only that one is built)."""
    for candidate in vars(fake_provider).values():
        if isinstance(candidate, type) and getattr(candidate, "backend_name", None) == name:
            return candidate()
    raise ValueError(f"qiskit-ibm-runtime has no fake backend {name!r}")


S = TypeVar("S", bound="Session")


class Session:
    """A Qiskit Runtime session (``mode="dedicated"``) on a local backend.

    Exclusive use of the QPU while active, interactive TTL, max TTL, ``close()`` draining and
    ``cancel()`` all follow ``qsession.core``; a submission to a session that no longer accepts
    jobs raises ``IBMRuntimeError('The session is closed.')``.
    """

    _mode: ClassVar[str] = "dedicated"

    def __init__(self, backend: LocalBackend, max_time: int | str | None = None) -> None:
        if not isinstance(backend, LocalBackend):
            raise ValueError(
                f"Invalid backend type {type(backend)}: use a backend from"
                " qsession.adapters.local.QiskitRuntimeService"
            )
        service = _SERVICES.get(backend)
        policy = self._policy(service.plan if service else "premium", max_time, backend.name)
        self._local = backend.scheduler.open_session(policy, backend)

    @staticmethod
    def _policy(plan: str, max_time: int | str | None, backend: str) -> IBMPolicy:
        return policies.ibm_session(plan, max_time, backend=backend)

    @classmethod
    def from_id(
        cls: type[S],
        session_id: str,
        service: QiskitRuntimeService | None = None,
        backend: LocalBackend | None = None,
    ) -> S:
        """The session with ``session_id`` on ``service``'s (or ``backend``'s) scheduler."""
        scheduler = service.scheduler if service is not None else None
        if scheduler is None and backend is not None:
            scheduler = backend.scheduler
        if scheduler is None:
            raise ValueError("from_id needs the local service (or a backend) the session is on")
        try:
            local = scheduler.session(session_id)
        except KeyError:
            raise IBMInputValueError(f"Session not found: {session_id}") from None
        mode = local.policy.mode if isinstance(local.policy, IBMPolicy) else "azure"
        if mode != cls._mode:
            raise IBMInputValueError(
                f"Input ID {session_id} has execution mode {mode} instead of {cls._mode}."
            )
        session = cls.__new__(cls)
        session._local = local
        return session

    @property
    def session_id(self) -> str:
        return self._local.session_id

    @property
    def service(self) -> QiskitRuntimeService | None:
        return _SERVICES.get(self._local.backend)

    def backend(self) -> str:
        return self._local.backend.name

    def status(self) -> str:
        """``Pending``, ``In progress, accepting new jobs``, ``In progress, not accepting new
        jobs`` or ``Closed``, exactly as qiskit-ibm-runtime computes it."""
        with self._local.scheduler._lock:
            self._local.scheduler._sync()
            return self._local.core.status

    def details(self) -> dict[str, Any]:
        """The keys of qiskit-ibm-runtime's ``Session.details()``; times in session seconds."""
        with self._local.scheduler._lock:
            self._local.scheduler._sync()
            return self._local.core.details()

    def usage(self) -> float:
        """What the session is billed for (IBM-USAGE-SESSION-BATCH): a dedicated session its
        active seconds, a batch the QPU charge time of its jobs."""
        if self._mode == "batch":
            scheduler = self._local.scheduler
            with scheduler._lock:
                scheduler._sync()
                return sum(_charge(job, scheduler.now()) for job in self._local.jobs)
        return float(self.details()["usage_time"])

    def close(self) -> None:
        """Accept no more jobs; queued and running ones still run, then the session closes."""
        self._local.close()

    def cancel(self) -> None:
        """Close now: queued jobs are cancelled, the running one finishes."""
        self._local.cancel()

    def timeline(self) -> Timeline:
        return self._local.timeline()

    def trace(self) -> Trace:
        return self._local.trace()

    def _run(self, work: Any, shots: int, tags: tuple[str, ...]) -> LocalJob:
        try:
            return self._local.submit(work, shots=shots, tags=tags)
        except SessionClosedError as err:
            raise IBMRuntimeError(SESSION_CLOSED) from err

    def __enter__(self: S) -> S:
        _ENTERED.set((*_ENTERED.get(), _CURRENT.set(self)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        *outer, token = _ENTERED.get()
        _ENTERED.set(tuple(outer))
        _CURRENT.reset(token)
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.session_id!r} on {self.backend()!r}>"


class Batch(Session):
    """A Qiskit Runtime batch: never exclusive, interactive TTL 1 s, max TTL 10 min default."""

    _mode: ClassVar[str] = "batch"

    @staticmethod
    def _policy(plan: str, max_time: int | str | None, backend: str) -> IBMPolicy:
        return policies.ibm_batch(plan, max_time, backend=backend)


@attrs.define
class EnvironmentOptions:
    job_tags: list[str] = attrs.Factory(list)


@attrs.define
class EstimatorOptions:
    """``default_precision`` None means ``1/sqrt(default_shots)`` if ``default_shots`` is set,
    else the runtime default 0.015625: the shot noise of the values (none on an exact
    backend) and the shots the job is timed for."""

    default_precision: float | None = None
    default_shots: int | None = None
    environment: EnvironmentOptions = attrs.Factory(EnvironmentOptions)


@attrs.define
class SamplerOptions:
    default_shots: int | None = None
    environment: EnvironmentOptions = attrs.Factory(EnvironmentOptions)


OptionsT = TypeVar("OptionsT", EstimatorOptions, SamplerOptions)


def _options(kind: type[OptionsT], given: OptionsT | Mapping[str, Any] | None) -> OptionsT:
    if given is None:
        return kind()
    if isinstance(given, kind):
        return given
    if not isinstance(given, Mapping):
        raise TypeError(f"options must be a {kind.__name__} or a dict; got {type(given)}")
    names = {field.name for field in attrs.fields(kind)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ValueError(
            f"Unexpected option(s) {unknown} for {kind.__name__}; known: {sorted(names)}"
        )
    values = dict(given)
    environment = values.get("environment")
    if isinstance(environment, Mapping):
        known = {field.name for field in attrs.fields(EnvironmentOptions)}
        if set(environment) - known:
            raise ValueError(f"Unexpected environment option(s) {sorted(set(environment) - known)}")
        values["environment"] = EnvironmentOptions(**environment)
    return kind(**values)


def _resolve(mode: Session | LocalBackend | None) -> tuple[Session | None, LocalBackend]:
    """Where a primitive runs: its ``mode``, else the current ``with Session(...)`` block."""
    current = _CURRENT.get()
    if isinstance(mode, Session):
        return mode, mode._local.backend
    if isinstance(mode, LocalBackend):
        if current is None:
            return None, mode
        if current._local.backend is mode:
            return current, mode
        raise ValueError(
            f"The backend passed in to the primitive ({mode.name}) is different from the session"
            f" backend ({current.backend()}). Please check which backend you intend to use."
        )
    if mode is None:
        if current is None:
            raise ValueError("A backend or session must be specified.")
        return current, current._local.backend
    raise ValueError(f"mode must be a Session, Batch or local backend; got {type(mode)}")


class RuntimeJobV2:
    """A primitive job on the local backend, with qiskit-ibm-runtime's job methods."""

    def __init__(self, job: LocalJob, primitive_id: str) -> None:
        self._job = job
        self.primitive_id = primitive_id

    def job_id(self) -> str:
        return self._job.job_id

    @property
    def session_id(self) -> str | None:
        return None if self._job.session is None else self._job.session.session_id

    @property
    def tags(self) -> list[str]:
        return list(self._job.tags)

    def backend(self) -> LocalBackend:
        return self._job.backend

    def status(self) -> str:
        """``QUEUED``, ``RUNNING``, ``DONE``, ``ERROR`` or ``CANCELLED``."""
        scheduler = self._job.backend.scheduler
        with scheduler._lock:
            scheduler._sync()
            return _JOB_STATUS[self._job.state]

    def done(self) -> bool:
        return self.status() == "DONE"

    def running(self) -> bool:
        return self.status() == "RUNNING"

    def cancelled(self) -> bool:
        return self.status() == "CANCELLED"

    def errored(self) -> bool:
        return self.status() == "ERROR"

    def in_final_state(self) -> bool:
        return self.status() in ("DONE", "ERROR", "CANCELLED")

    def metrics(self) -> dict[str, Any]:
        """Timestamps (session seconds) and usage, shaped like the service's: the QPU charge
        time so far, ``pending`` until the job ends (IBM-USAGE-JOB)."""
        job = self._job
        scheduler = job.backend.scheduler
        with scheduler._lock:
            scheduler._sync()
            charge = _charge(job, scheduler.now())
            return {
                "timestamps": {
                    "created": job.submitted_at,
                    "running": job.started_at,
                    "finished": job.ended_at,
                },
                "usage": {
                    "quantum_seconds": charge,
                    "qpu_charge_time_seconds": charge,
                    "status": "pending" if job.state.in_flight else "completed",
                },
            }

    def usage(self, partial: bool = False) -> float:
        """The job's QPU charge time: 0 until it ends unless ``partial``, as the client does."""
        usage = self.metrics()["usage"]
        if not partial and usage["status"] == "pending":
            return 0.0
        return float(usage["qpu_charge_time_seconds"])

    def error_message(self) -> str | None:
        return self._job.reason if self._job.state is JobState.FAILED else None

    def result(self) -> PrimitiveResult[Any]:
        """Wait for the job (on a virtual clock: run the loop to its end) and return the
        qiskit ``PrimitiveResult``; a failed or cancelled job raises like qiskit-ibm-runtime."""
        job = self._job.wait()
        if job.state is JobState.FAILED:
            raise RuntimeJobFailureError(f"Unable to retrieve job result. {job.reason}")
        if job.state is JobState.CANCELLED:
            raise RuntimeInvalidStateError(
                f"Unable to retrieve result for job {job.job_id}. Job was cancelled."
            )
        result: PrimitiveResult[Any] = job.value
        return result

    def cancel(self) -> None:
        if not self._job.cancel():
            raise RuntimeInvalidStateError(
                f"Job {self._job.job_id} cannot be cancelled: it is {self.status()}."
            )

    def __repr__(self) -> str:
        return f"<RuntimeJobV2('{self.job_id()}', '{self.primitive_id}')>"


class _Primitive:
    _program: ClassVar[str]

    def __init__(self, mode: Session | LocalBackend | None) -> None:
        self._session, self._backend = _resolve(mode)

    @property
    def mode(self) -> Session | LocalBackend:
        return self._backend if self._session is None else self._session

    def backend(self) -> LocalBackend:
        return self._backend

    def _check_isa(self, circuits: Iterable[Any]) -> None:
        """Refuse non-ISA circuits on a fake IBM backend, as the service does."""
        device = self._backend.execution.backend
        if device is None:
            return
        for circuit in circuits:
            problem = isa_problem(circuit, device)
            if problem:
                raise IBMInputValueError(problem)

    def _submit(self, work: Any, shots: int, tags: list[str]) -> RuntimeJobV2:
        if self._session is not None:
            job = self._session._run(work, shots, tuple(tags))
        else:
            job = self._backend.submit(work, shots=shots, tags=tags)
        return RuntimeJobV2(job, self._program)


def _exact(pub: EstimatorPub) -> EstimatorPub:
    """The pub at precision 0: ``StatevectorEstimator`` then adds no noise."""
    return EstimatorPub(pub.circuit, pub.observables, pub.parameter_values, 0.0)


def _estimate(execution: QiskitExecution, pubs: list[EstimatorPub]) -> PrimitiveResult[Any]:
    return execution.estimator.run(pubs).result()


def _sample(execution: QiskitExecution, pubs: list[SamplerPub]) -> PrimitiveResult[Any]:
    return execution.sampler.run(pubs).result()


class EstimatorV2(_Primitive):
    """Expectation values through qiskit's ``StatevectorEstimator`` (or ``BackendEstimatorV2``
    on a fake IBM backend), timed by the backend's duration model."""

    _program = "estimator"

    def __init__(
        self,
        mode: Session | LocalBackend | None = None,
        options: EstimatorOptions | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(mode)
        self.options = _options(EstimatorOptions, options)

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> RuntimeJobV2:
        """Validate the pubs now (a bad pub or a non-ISA circuit raises before anything is
        queued) and submit."""
        fixed = self.options.default_shots
        if precision is None:
            precision = self.options.default_precision
        if precision is None and fixed:
            precision = fixed**-0.5
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        self._check_isa(pub.circuit for pub in coerced)
        shots = 0
        for pub in coerced:
            per_set = fixed or math.ceil((pub.precision or RUNTIME_DEFAULT_PRECISION) ** -2)
            shots += per_set * math.prod(pub.shape)
        execution = self._backend.execution
        if execution.exact:
            coerced = [_exact(pub) for pub in coerced]
        work = partial(_estimate, execution, coerced)
        return self._submit(work, shots, self.options.environment.job_tags)


class SamplerV2(_Primitive):
    """Samples through qiskit's ``StatevectorSampler`` (or ``BackendSamplerV2`` on a fake IBM
    backend), timed by the backend's duration model."""

    _program = "sampler"

    def __init__(
        self,
        mode: Session | LocalBackend | None = None,
        options: SamplerOptions | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(mode)
        self.options = _options(SamplerOptions, options)

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> RuntimeJobV2:
        """Validate the pubs now (a bad pub or a non-ISA circuit raises before anything is
        queued) and submit."""
        if shots is None:
            shots = self.options.default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        self._check_isa(pub.circuit for pub in coerced)
        total = sum((pub.shots or RUNTIME_DEFAULT_SHOTS) * math.prod(pub.shape) for pub in coerced)
        work = partial(_sample, self._backend.execution, coerced)
        return self._submit(work, total, self.options.environment.job_tags)


class ClientSidePrimitive(_Primitive):
    """What the executor-based primitives share: qiskit-ibm-runtime's own pre-processing
    builds the quantum program, it runs as one ``executor`` job on the local backend, and the
    client's own post-processing turns it into the result (``qsession.adapters.local.programs``).
    """

    _program = "executor"

    def _run_program(self, program: Any, options: Any, *, dry_run: bool = False) -> RuntimeJobV2:
        """Check the program and ``options`` (the SDK's) now, then submit the program."""
        if dry_run:
            warnings.warn("`dry-run` has no effect in local testing mode.", stacklevel=3)
        if options.max_execution_time is not None:
            raise IBMInputValueError(
                "max_execution_time is not modelled by the local backend; unset it here (the"
                " emulator, qsession serve, enforces it)"
            )
        try:
            programs.check_program(program)
        except programs.ProgramError as exc:
            raise IBMInputValueError(str(exc)) from None
        self._check_isa(item.circuit for item in program.items)
        work = partial(_execute_program, self._backend.execution, program)
        tags = list(options.environment.job_tags or ())
        return self._submit(work, programs.program_shots(program), tags)


SdkOptionsT = TypeVar("SdkOptionsT", bound=BaseModel)


def _sdk_options(
    kind: type[SdkOptionsT], given: SdkOptionsT | Mapping[str, Any] | None
) -> SdkOptionsT:
    """The executor-based primitives take qiskit-ibm-runtime's own (pydantic) options."""
    if isinstance(given, kind):
        return given
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(f"options must be a {kind.__name__} or a dict; got {type(given)}")
    return kind(**(given or {}))


def _execute_program(execution: QiskitExecution, program: Any) -> Any:
    outputs = programs.run_items(execution, program, execution.generator())
    return programs.post_process(program, outputs)


class Executor(ClientSidePrimitive):
    """``qiskit_ibm_runtime.Executor``: runs a ``QuantumProgram``; the job's result is the
    ``QuantumProgramResult``."""

    def __init__(
        self,
        mode: Session | LocalBackend | None = None,
        options: ExecutorOptions | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(mode)
        self.options = _sdk_options(ExecutorOptions, options)

    def run(self, program: Any, dry_run: bool = False) -> RuntimeJobV2:
        if not isinstance(program, QuantumProgram):
            program = QuantumProgram.from_(program)
        return self._run_program(program, self.options, dry_run=dry_run)


__all__ = [
    "Batch",
    "ClientSidePrimitive",
    "EstimatorOptions",
    "EstimatorV2",
    "Executor",
    "ExecutorOptions",
    "QiskitRuntimeService",
    "QuantumProgram",
    "RuntimeJobV2",
    "SamplerOptions",
    "SamplerV2",
    "Session",
    "current_session",
]
