"""Azure Quantum shape on the local scheduler: workspace, targets, sessions and jobs.

``Workspace().get_targets("ionq.simulator")`` gives a target; ``target.open_session(...)`` (a
context manager) attaches a session to it, and ``target.submit(input_data, name=...,
shots=...)`` runs a job in that session. ``input_data`` is what the SDK's ``Target.submit``
takes: ``qsharp.compile(...)`` output (QIR), an IonQ JSON circuit (a ``dict``), OpenQASM 2 text
for Quantinuum, or any blob with its ``input_data_format``; they run exactly as the emulator runs
them (``azure_targets``), and ``job.get_results()`` decodes the output as the SDK does. A
qiskit ``QuantumCircuit`` runs through ``StatevectorSampler`` and ``job.result()`` is its
``PrimitiveResult``. Statuses are the service's (``Waiting``, ``Executing``, ``Failure(s)``,
``Succeeded``, ``Failed``, ``TimedOut``).

Two traps of azure-quantum are fixed: closing a session detaches it from its target, so later
submissions are not silently tagged with it; and a submission to a session that no longer
accepts jobs raises ``JobRejectedError`` before any job is created or run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import partial
from types import TracebackType
from typing import Any

import attrs
import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qsession.core import policies
from qsession.core.errors import SessionClosedError
from qsession.core.records import JobState
from qsession.spec import Trace

from . import azure_targets
from .azure_targets import (
    IONQ_JSON,
    QIR,
    QIR_RESULTS,
    TARGETS,
    AzureTarget,
)
from .clock import Clock
from .errors import AZURE_SESSION_TERMINAL, JobFailedError, JobRejectedError
from .model import DurationModel, QiskitExecution
from .scheduler import LocalBackend, LocalJob, LocalSession, Scheduler
from .timeline import Timeline

#: Targets a new local workspace offers, with their duration models.
DEFAULT_TARGETS: Mapping[str, DurationModel] = {
    name: spec.duration for name, spec in TARGETS.items()
}
#: Shots when ``submit`` is given none (the IonQ default in azure-quantum).
DEFAULT_SHOTS = azure_targets.DEFAULT_SHOTS
#: Job statuses as the service reports them.
_JOB_STATUS = {
    JobState.QUEUED: "Waiting",
    JobState.RUNNING: "Executing",
    JobState.COMPLETED: "Succeeded",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


@attrs.frozen
class SessionDetails:
    """A snapshot of the service's ``SessionDetails`` (times in session seconds)."""

    id: str
    name: str
    provider_id: str
    target: str
    job_failure_policy: str
    status: str
    creation_time: float
    begin_execution_time: float | None
    end_execution_time: float | None


@attrs.frozen
class JobDetails:
    """A snapshot of the service's ``JobDetails`` (times in session seconds)."""

    id: str
    name: str
    session_id: str | None
    provider_id: str
    target: str
    status: str
    tags: tuple[str, ...]
    creation_time: float
    begin_execution_time: float | None
    end_execution_time: float | None
    error_data: Mapping[str, str] | None


class Workspace:
    """A local Azure Quantum workspace whose targets are fake QPUs on one scheduler."""

    def __init__(
        self,
        *,
        scheduler: Scheduler | None = None,
        targets: Mapping[str, DurationModel] | None = None,
        seed: int | None = None,
    ) -> None:
        self.scheduler = Scheduler() if scheduler is None else scheduler
        #: Shots of non-circuit jobs are drawn from this generator (``seed`` fixes them).
        self.rng = np.random.default_rng(seed)
        known = {backend.name for backend in self.scheduler.backends}
        self._targets: dict[str, Target] = {}
        for name, duration in (DEFAULT_TARGETS if targets is None else targets).items():
            if name not in known:
                self.scheduler.add_backend(name, duration=duration)
            self._targets[name] = Target(self, self.scheduler.backend(name))
        self._sessions: dict[str, AzureSession] = {}
        self._jobs: dict[str, AzureJob] = {}

    @property
    def clock(self) -> Clock:
        """The scheduler's clock: ``workspace.clock.advance(600)`` lets ten minutes pass."""
        return self.scheduler.clock

    def get_targets(
        self, name: str | None = None, provider_id: str | None = None
    ) -> Target | list[Target]:
        """The target called ``name`` if exactly one matches, else the list of matches."""
        found = [
            t
            for t in self._targets.values()
            if (name is None or t.name == name) and (provider_id in (None, t.provider_id))
        ]
        if name is not None and len(found) == 1:
            return found[0]
        if name is not None and not found:
            raise ValueError(
                f"no target {name!r} in this workspace; known: {sorted(self._targets)}"
            )
        return found

    def list_sessions(self) -> list[AzureSession]:
        return list(self._sessions.values())

    def get_session(self, session_id: str) -> AzureSession:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ValueError(f"no session {session_id!r} in this workspace") from None

    def list_session_jobs(self, session_id: str) -> list[AzureJob]:
        """The jobs the session accepted, in submission order (rejected ones never existed)."""
        return [self._jobs[job.job_id] for job in self.get_session(session_id)._local.jobs]

    def close_session(self, session: AzureSession) -> None:
        session.close()


class Target:
    """One target (``provider.name``); ``latest_session`` is the session its jobs join."""

    def __init__(self, workspace: Workspace, backend: LocalBackend) -> None:
        self.workspace = workspace
        self.backend = backend
        self.name = backend.name
        self.spec: AzureTarget = azure_targets.target(backend.name)
        self.provider_id = self.spec.provider_id
        self.latest_session: AzureSession | None = None

    def get_latest_session_id(self) -> str | None:
        return None if self.latest_session is None else self.latest_session.id

    def open_session(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        job_failure_policy: str | None = None,
        priority: str | None = None,
    ) -> AzureSession:
        """Open a session and attach it to this target (closing the one attached before)."""
        if self.latest_session is not None:
            self.latest_session.close()
        policy = policies.azure_session(self.name, job_failure_policy, priority=priority)
        local = self.workspace.scheduler.open_session(policy, self.backend, session_id=id)
        session = AzureSession(self, local, name or f"session-{local.session_id}")
        self.workspace._sessions[session.id] = session
        self.latest_session = session
        return session

    def submit(
        self,
        input_data: Any,
        name: str = "azure-quantum-job",
        shots: int | None = None,
        *,
        input_params: Mapping[str, Any] | None = None,
        input_data_format: str | None = None,
        output_data_format: str | None = None,
        tags: Iterable[str] = (),
    ) -> AzureJob:
        """Submit a job, in ``latest_session`` if one is attached. A format the target does not
        accept or an output format it cannot produce fails the job, as on the service."""
        params = dict(input_params or {})
        if shots is not None:
            params["shots"] = shots
        shots_ = azure_targets.shots_of(params) or DEFAULT_SHOTS
        if isinstance(input_data, QuantumCircuit):
            pub = SamplerPub.coerce(input_data, shots_)
            work: Any = partial(_sample, self.backend.execution, pub)
            input_format, output_format = "qiskit.circuit", None
        else:
            data, input_format = self._blob(input_data, input_data_format)
            output_format = output_data_format or self.spec.formats.get(input_format, ("",))[0]
            work = partial(
                _run_program,
                self.spec,
                input_format,
                data,
                params,
                self.workspace.rng,
                output_format=output_data_format,
            )
        session = self.latest_session
        if session is None:
            job = self.backend.submit(work, shots=shots_, tags=tags, name=name)
        else:
            job = session._submit(work, shots_, tuple(tags), name)
        facade = AzureJob(self.workspace, job, output_format)
        self.workspace._jobs[job.job_id] = facade
        return facade

    def _blob(self, input_data: Any, input_data_format: str | None) -> tuple[bytes, str]:
        """The job's input blob and its format, as the SDK's ``Target.submit`` derives them."""
        if hasattr(input_data, "_repr_qir_"):
            return input_data._repr_qir_(target=self.name), input_data_format or QIR
        default = input_data_format or next(iter(self.spec.formats))
        if isinstance(input_data, dict):
            return json.dumps(input_data).encode(), input_data_format or IONQ_JSON
        if isinstance(input_data, str):
            return input_data.encode(), default
        if isinstance(input_data, bytes):
            return input_data, default
        raise TypeError(
            f"input_data must be a qiskit QuantumCircuit, qsharp.compile(...) output, an IonQ"
            f" JSON dict, OpenQASM text or bytes; got {type(input_data).__name__}"
        )

    def fail_next_job(self, reason: str = "injected failure") -> None:
        """Fault injection: the next job that starts on this target fails when it ends."""
        self.backend.fail_next_job(reason)

    def __repr__(self) -> str:
        return f"<Target {self.name!r}>"


def _run_program(
    spec: AzureTarget,
    input_format: str,
    data: bytes,
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    output_format: str | None,
) -> bytes:
    """Run the job's program; a failure's reason starts with the service's error code."""
    try:
        return azure_targets.run_program(
            spec, input_format, data, params, rng, output_format=output_format
        )
    except azure_targets.ExecutionError as exc:
        raise azure_targets.ExecutionError(f"{exc.code}: {exc}", exc.code) from exc


_CODED = re.compile(r"^(?:\w+: )?([A-Z][A-Za-z]+): (.*)$", re.DOTALL)


def _error_data(state: str, reason: str) -> dict[str, str]:
    """``errorData`` as the service writes it: the code a failure names, else the state."""
    coded = _CODED.match(reason)
    if coded is None:
        return {"code": state, "message": reason}
    return {"code": coded.group(1), "message": coded.group(2)}


def _sample(execution: QiskitExecution, pub: SamplerPub) -> PrimitiveResult[Any]:
    return execution.sampler.run([pub]).result()


class AzureSession:
    """An Azure Quantum session; a context manager that closes it on exit."""

    def __init__(self, target: Target, local: LocalSession, name: str) -> None:
        self.target = target
        self.name = name
        self._local = local

    @property
    def id(self) -> str:
        return self._local.session_id

    @property
    def workspace(self) -> Workspace:
        return self.target.workspace

    @property
    def details(self) -> SessionDetails:
        with self._local.scheduler._lock:
            self._local.scheduler._sync()
            data = self._local.core.details()
        return SessionDetails(
            self.id,
            self.name,
            self.target.provider_id.lower(),
            data["target"],
            data["jobFailurePolicy"],
            data["status"],
            data["creationTime"],
            data["beginExecutionTime"],
            data["endExecutionTime"],
        )

    def refresh(self) -> AzureSession:
        return self

    def is_in_terminal_state(self) -> bool:
        return self.details.status in ("Succeeded", "Failed", "TimedOut")

    def close(self) -> None:
        """Stop accepting jobs and detach from the target (in-flight jobs still finish)."""
        if self.target.latest_session is self:
            self.target.latest_session = None
        self._local.close()

    def list_jobs(self) -> list[AzureJob]:
        return self.workspace.list_session_jobs(self.id)

    def timeline(self) -> Timeline:
        return self._local.timeline()

    def trace(self) -> Trace:
        return self._local.trace()

    def _submit(self, work: Any, shots: int, tags: tuple[str, ...], name: str) -> LocalJob:
        try:
            return self._local.submit(work, shots=shots, tags=tags, name=name)
        except SessionClosedError as err:
            why = (
                AZURE_SESSION_TERMINAL
                if self._local.core.ended
                else "Session is closed and no longer accepts jobs."
            )
            raise JobRejectedError(
                f"{why} Session {self.id!r} is {err.state!r}; open a new session"
                " (target.open_session(...)) to submit more jobs.",
                session_id=err.session_id,
                state=err.state,
                event=err.event,
            ) from err

    def __enter__(self) -> AzureSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AzureSession {self.id!r} {self._local.core.status!r} on {self.target.name!r}>"


class AzureJob:
    """A job on a local Azure target."""

    def __init__(self, workspace: Workspace, job: LocalJob, output_format: str | None) -> None:
        self.workspace = workspace
        self._job = job
        #: The output data format of a non-circuit job (None: a qiskit circuit's job).
        self.output_format = output_format

    @property
    def id(self) -> str:
        return self._job.job_id

    @property
    def details(self) -> JobDetails:
        job = self._job
        scheduler = job.backend.scheduler
        with scheduler._lock:
            scheduler._sync()
            return JobDetails(
                job.job_id,
                job.name or job.job_id,
                None if job.session is None else job.session.session_id,
                azure_targets.target(job.backend.name).provider_id.lower(),
                job.backend.name,
                _JOB_STATUS[job.state],
                job.tags,
                job.submitted_at,
                job.started_at,
                job.ended_at,
                None if job.reason is None else _error_data(job.state.value, job.reason),
            )

    def has_completed(self) -> bool:
        return self.details.status in ("Succeeded", "Failed", "Cancelled")

    def wait_until_completed(self) -> None:
        self._job.wait()

    def _value(self) -> Any:
        job = self._job.wait()
        if job.state is not JobState.COMPLETED:
            raise JobFailedError(
                f"Cannot retrieve results as job execution failed (status:"
                f" {_JOB_STATUS[job.state]}. error: {job.reason})"
            )
        return job.value

    def result(self) -> PrimitiveResult[Any]:
        """The qiskit ``PrimitiveResult`` of a circuit's job (waits for it)."""
        if self.output_format is not None:
            raise TypeError(
                f"job {self.id!r} ran a {self.output_format} program, not a qiskit circuit;"
                " use get_results()"
            )
        result: PrimitiveResult[Any] = self._value()
        return result

    def get_results(self) -> Any:
        """The results as azure-quantum's ``Job.get_results()`` returns them: each outcome's
        frequency for histograms, the registers' shots for Quantinuum, the raw output of an
        echo target."""
        if self.output_format is None:
            counts = self.result()[0].join_data().get_counts()
            total = sum(counts.values())
            return {bits: count / total for bits, count in sorted(counts.items())}
        return decode_results(self.output_format, self._value())

    def __repr__(self) -> str:
        return f"<AzureJob {self.id!r} {_JOB_STATUS[self._job.state]!r}>"


def decode_results(output_format: str, payload: bytes) -> Any:
    """An output blob decoded as azure-quantum 3.13's ``Job.get_results()`` decodes it: a
    ``microsoft.quantum-results.v2`` histogram as each display's frequency, other JSON as
    parsed, anything else as text."""
    try:
        data = json.loads(payload)
        if output_format == QIR_RESULTS:
            first = data["Results"][0]
            total = len(first["Shots"])
            return {entry["Display"]: entry["Count"] / total for entry in first["Histogram"]}
    except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError):
        return payload.decode(errors="replace")
    return data
