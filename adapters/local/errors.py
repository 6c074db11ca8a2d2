"""The errors users of each SDK already know, raised by the local backend.

The IBM ones are qiskit-ibm-runtime's own exception classes (the ``local`` extra installs it), so
existing ``except`` clauses keep working.
"""

from __future__ import annotations

from qiskit_ibm_runtime.exceptions import (
    IBMInputValueError,
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
)
from qsession.core.errors import SessionClosedError

#: What Qiskit Runtime says when a job is submitted to a closed session (PR #1643).
SESSION_CLOSED = "The session is closed."
#: What Azure Quantum answers (400 ``InvalidJobDefinition``) for a job sent to a terminal session.
AZURE_SESSION_TERMINAL = (
    "Session is already in a terminal state. This may have been due to failures in prior jobs"
    " in the session."
)


class JobRejectedError(SessionClosedError):
    """Azure: the session no longer accepts jobs, so the submission was refused before any
    work was done (no job was created). ``code`` is the service's error code."""

    code = "InvalidJobDefinition"


class JobFailedError(RuntimeError):
    """Azure: the job failed or was cancelled, so it has no results."""


__all__ = [
    "AZURE_SESSION_TERMINAL",
    "SESSION_CLOSED",
    "IBMInputValueError",
    "IBMRuntimeError",
    "JobFailedError",
    "JobRejectedError",
    "RuntimeInvalidStateError",
    "RuntimeJobFailureError",
]
