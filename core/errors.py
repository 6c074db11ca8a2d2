"""The error hierarchy: one base, every error carrying the session, state and event it concerns.

A rejected event raises before anything is applied, so the session is left exactly as it was.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base of every qsession error.

    ``session_id``, ``state`` and ``event`` are kept as attributes (``None`` where they do not
    apply, as for a policy that was never opened), so callers need not parse the message.
    """

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        state: str | None = None,
        event: str | None = None,
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.state = state
        self.event = event


class SessionClosedError(SessionError):
    """A job was submitted to a session that no longer accepts jobs.

    Rules IBM-SUBMIT-CLOSED and AZ-TERMINAL.
    """


class InvalidEventError(SessionError):
    """The session's state does not allow this event: unknown or duplicate job, a job event its
    job's state forbids, time going backwards, a foreign target, or a verb the provider lacks."""


class PolicyError(SessionError, ValueError):
    """A session policy was asked for with values the provider would refuse."""
