"""qsession.spec: every provider rule stated once, with its source, as an executable property.

``RULES`` is the catalogue (``SERVICE_READINGS``: how the emulated services answer where the
provider documents leave it open); ``Reference`` restates the rules over the trace,
independently of the core; ``check_trace`` replays a session's events on both and returns the
rules a step violated; ``explore`` runs every event sequence up to a bound; ``COVERAGE`` counts
which rules the checks exercised.
"""

from .catalogue import RULES, RULES_BY_ID, SERVICE_READINGS, Rule
from .checker import Checker, Trace, check_trace
from .coverage import COVERAGE
from .policy_properties import check_policy_call
from .reference import Reference

__all__ = [
    "COVERAGE",
    "RULES",
    "RULES_BY_ID",
    "SERVICE_READINGS",
    "Checker",
    "Reference",
    "Rule",
    "Trace",
    "check_policy_call",
    "check_trace",
]
