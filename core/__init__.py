"""qsession.core: quantum-cloud sessions as a pure, I/O-free state machine.

Time is an input (``at=`` on every event), timers are data (``next_deadline``), and every
verb returns the effects the host must carry out. Nothing here reads a clock or does I/O.
"""

from . import policies
from .azure import AzureState
from .effects import Effect, ExclusivityChanged, JobsCancelled, JobsFailed, StateChanged
from .errors import InvalidEventError, PolicyError, SessionClosedError, SessionError
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
from .ibm import IBMState, ibm_status
from .records import Job, JobState
from .session import Session

__all__ = [
    "Advance",
    "AzureState",
    "Cancel",
    "Close",
    "Effect",
    "Event",
    "ExclusivityChanged",
    "IBMState",
    "InvalidEventError",
    "Job",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobStarted",
    "JobState",
    "JobsCancelled",
    "JobsFailed",
    "PolicyError",
    "Session",
    "SessionClosedError",
    "SessionError",
    "StateChanged",
    "Submit",
    "ibm_status",
    "policies",
]
