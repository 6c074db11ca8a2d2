"""qsession.adapters.local: a local quantum backend whose sessions behave like the real clouds.

Sessions obey ``qsession.core`` exactly (exclusivity, interactive and max TTL, close, cancel,
Azure abort and timeout), circuits run through qiskit's reference primitives, and time is
virtual by default, so a user sees in seconds what a real session does to their hybrid loop.
Two shapes, so existing code runs with only its imports changed::

    from qsession.adapters.local import QiskitRuntimeService, Session, EstimatorV2
    from qsession.adapters.local.executor_sampler import Sampler   # qiskit-ibm-runtime 0.50+
    from qsession.adapters.local import Workspace          # Azure Quantum style

The IBM shape offers qiskit-ibm-runtime's top-level names for what it supports, aliased as the
SDK aliases them (0.51: ``Estimator`` is ``EstimatorV2``, ``Sampler`` is ``SamplerV2``,
``IBMQuantumComputeService`` is ``QiskitRuntimeService``).

``Scheduler`` underneath is usable directly (fleet simulations, property tests).
"""

from .azure import AzureJob, AzureSession, Target, Workspace
from .clock import Clock, VirtualClock, WallClock
from .errors import (
    IBMInputValueError,
    IBMRuntimeError,
    JobFailedError,
    JobRejectedError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
)
from .model import BackgroundLoad, DurationModel
from .runtime import (
    Batch,
    EstimatorOptions,
    EstimatorV2,
    Executor,
    ExecutorOptions,
    QiskitRuntimeService,
    QuantumProgram,
    RuntimeJobV2,
    SamplerOptions,
    SamplerV2,
    Session,
    current_session,
)
from .scheduler import LocalBackend, LocalJob, LocalSession, Scheduler
from .timeline import ExclusivityEntry, JobEntry, Moment, StateEntry, Timeline, render_timeline

#: The SDK's top-level aliases (qiskit_ibm_runtime/__init__.py, 0.51).
Estimator = EstimatorV2
Sampler = SamplerV2
IBMQuantumComputeService = QiskitRuntimeService

__all__ = [
    "AzureJob",
    "AzureSession",
    "BackgroundLoad",
    "Batch",
    "Clock",
    "DurationModel",
    "Estimator",
    "EstimatorOptions",
    "EstimatorV2",
    "ExclusivityEntry",
    "Executor",
    "ExecutorOptions",
    "IBMInputValueError",
    "IBMQuantumComputeService",
    "IBMRuntimeError",
    "JobEntry",
    "JobFailedError",
    "JobRejectedError",
    "LocalBackend",
    "LocalJob",
    "LocalSession",
    "Moment",
    "QiskitRuntimeService",
    "QuantumProgram",
    "RuntimeInvalidStateError",
    "RuntimeJobFailureError",
    "RuntimeJobV2",
    "Sampler",
    "SamplerOptions",
    "SamplerV2",
    "Scheduler",
    "Session",
    "StateEntry",
    "Target",
    "Timeline",
    "VirtualClock",
    "WallClock",
    "Workspace",
    "current_session",
    "render_timeline",
]
