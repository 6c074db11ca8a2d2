"""qsession.adapters.azure: session rules and predicted statuses for azure-quantum users.

``track(target)`` (or a Qiskit backend, or an opened ``Session``) returns it tracked: sessions
predict their ``SessionStatus`` exactly (``predicted_status()``, ``next_deadline``,
``remaining()``, ``timeline()``), a submission to an ended or foreign-target session is refused
before its input is uploaded, ``latest_session`` is cleared once a session stops accepting jobs,
and ``Failure(s)`` is not an end::

    ionq = track(workspace.get_targets("ionq.simulator"))
    with ionq.open_session(job_failure_policy="Continue") as session:
        ionq.submit(circuit, shots=100)
"""

from .tracking import TrackedSession, track

__all__ = ["TrackedSession", "track"]
