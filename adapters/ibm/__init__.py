"""qsession.adapters.ibm: session rules and remaining time for qiskit-ibm-runtime users.

``track(session)`` takes a ``qiskit_ibm_runtime.Session`` or ``Batch`` (real service or local
testing mode) and returns it tracked: primitives still accept it as ``mode=``, and it adds
``remaining()``, ``next_deadline``, ``predicted_status()``, ``predicted_details()``,
``timeline()`` and a ``MaxTTLWarning`` shortly before its max TTL. In local testing mode,
``track(session, enforce=True)`` applies IBM's session rules with the core::

    session = track(Session(backend=FakeManilaV2(), max_time="10m"), enforce=True)
    estimator = EstimatorV2(mode=session)
"""

from .tracking import MaxTTLWarning, SessionRuleWarning, TrackedSession, track

__all__ = ["MaxTTLWarning", "SessionRuleWarning", "TrackedSession", "track"]
