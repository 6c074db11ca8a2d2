"""qsession: IBM Qiskit Runtime and Azure Quantum session rules, stated once and executable.

``qsession.core`` is the state machine, ``qsession.spec`` the rule catalogue and checker,
``qsession.adapters`` the bridges to SDKs and a local backend.
"""

from qsession.core.errors import InvalidEventError, PolicyError, SessionClosedError, SessionError

__all__ = ["InvalidEventError", "PolicyError", "SessionClosedError", "SessionError"]
