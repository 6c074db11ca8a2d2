"""Events: what the caller tells a session happened, each at a time on the caller's clock.

Events are frozen values; ``Session`` builds them from its methods, and ``Session.handle`` takes
them directly (the spec's checker and explorer replay traces of them).
"""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen
class Submit:
    """A job was submitted to the session (``target`` is the backend or target it is for)."""

    name: ClassVar[str] = "submit"
    job_id: str
    at: float
    target: str | None = None


@attrs.frozen
class JobStarted:
    """A queued job of the session started running on the QPU."""

    name: ClassVar[str] = "job_started"
    job_id: str
    at: float


@attrs.frozen
class JobCompleted:
    """A running job of the session completed."""

    name: ClassVar[str] = "job_completed"
    job_id: str
    at: float


@attrs.frozen
class JobFailed:
    """A queued or running job of the session failed."""

    name: ClassVar[str] = "job_failed"
    job_id: str
    at: float
    reason: str = ""


@attrs.frozen
class JobCancelled:
    """A queued or running job of the session was cancelled on its own (not by the session)."""

    name: ClassVar[str] = "job_cancelled"
    job_id: str
    at: float


@attrs.frozen
class Close:
    """The user closed the session: stop accepting jobs, let the submitted ones finish."""

    name: ClassVar[str] = "close"
    at: float


@attrs.frozen
class Cancel:
    """The user cancelled the session: end it now, queued jobs are cancelled."""

    name: ClassVar[str] = "cancel"
    at: float


@attrs.frozen
class Advance:
    """Time moved on to ``at``: every timer due by then fires, each at its own deadline."""

    name: ClassVar[str] = "advance"
    at: float


@attrs.frozen
class Expire:
    """A timer fired (internal: produced by the core while advancing, never by the caller)."""

    timer: str
    at: float

    @property
    def name(self) -> str:
        return self.timer


JobEvent = Submit | JobStarted | JobCompleted | JobFailed | JobCancelled
Event = JobEvent | Close | Cancel | Advance
