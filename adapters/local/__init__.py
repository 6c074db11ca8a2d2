"""qsession.adapters.local: a local quantum backend whose sessions behave like the real clouds.

Sessions obey ``qsession.core`` exactly (exclusivity, interactive and max TTL, close, cancel,
Azure abort and timeout), circuits run through qiskit's reference primitives, and time is
virtual by default, so a user sees in seconds what a real session does to their hybrid loop.
Two shapes, so existing code runs with only its imports changed::

    from qsession.adapters.local import QiskitRuntimeService, Session, EstimatorV2
    from qsession.adapters.local import Workspace          # Azure Quantum style

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
    EstimatorV2,
    QiskitRuntimeService,
    RuntimeJobV2,
    SamplerV2,
    Session,
    current_session,
)
from .scheduler import LocalBackend, LocalJob, LocalSession, Scheduler
from .timeline import ExclusivityEntry, JobEntry, Moment, StateEntry, Timeline, render_timeline

__all__ = [
    "AzureJob",
    "AzureSession",
    "BackgroundLoad",
    "Batch",
    "Clock",
    "DurationModel",
    "EstimatorV2",
    "ExclusivityEntry",
    "IBMInputValueError",
    "IBMRuntimeError",
    "JobEntry",
    "JobFailedError",
    "JobRejectedError",
    "LocalBackend",
    "LocalJob",
    "LocalSession",
    "Moment",
    "QiskitRuntimeService",
    "RuntimeInvalidStateError",
    "RuntimeJobFailureError",
    "RuntimeJobV2",
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
