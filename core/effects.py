"""Effects: what handling an event asks the host to do or to know. Frozen values, in order."""

from __future__ import annotations

import attrs


@attrs.frozen
class StateChanged:
    """The session's state or ``accepting_jobs`` changed at ``at`` because of ``cause``
    (an event name such as ``"close"``, or a timer such as ``"interactive_ttl_expired"``)."""

    session_id: str
    at: float
    previous: str
    state: str
    accepting_jobs: bool
    cause: str


@attrs.frozen
class ExclusivityChanged:
    """The session gained or lost exclusive use of its QPU (IBM active session, Quantinuum)."""

    session_id: str
    at: float
    exclusive: bool


@attrs.frozen
class JobsFailed:
    """The host must fail these jobs (IBM: still queued when the max TTL was reached)."""

    session_id: str
    at: float
    job_ids: tuple[str, ...]
    reason: str


@attrs.frozen
class JobsCancelled:
    """The host must cancel these jobs (IBM ``cancel()``; Azure abort after a failed job)."""

    session_id: str
    at: float
    job_ids: tuple[str, ...]
    reason: str


Effect = StateChanged | ExclusivityChanged | JobsFailed | JobsCancelled
