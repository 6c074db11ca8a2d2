"""Properties of the policy constructors: what ``ibm_session``, ``ibm_batch`` and
``azure_session`` must accept, refuse, and produce (IBM-PLAN-LIMITS, IBM-MAXTIME-FORMAT,
IBM-OPEN-PLAN-NO-SESSION, AZ-POLICY).

``check_policy_call`` takes the call and its outcome (a policy or the ``PolicyError``); the
expected outcome is computed here from the rules, with its own parser of ``max_time``.
"""

from __future__ import annotations

from typing import Any

from qsession.core.errors import PolicyError
from qsession.core.policies import AzurePolicy, IBMPolicy

from .catalogue import RULES_BY_ID
from .coverage import COVERAGE
from .reference import BATCH_INTERACTIVE_TTL, BATCH_MAX_TTL, PLAN_MAX_TTL, PREMIUM_INTERACTIVE_TTL

UNIT_ORDER = "dhms"
UNIT_SECONDS = (86400, 3600, 60, 1)

POLICY_RULES = ("IBM-PLAN-LIMITS", "IBM-MAXTIME-FORMAT", "IBM-OPEN-PLAN-NO-SESSION", "AZ-POLICY")


def reference_max_time(value: object) -> int | None:
    """Seconds the rules allow for ``value`` before the plan cap, or None if malformed.

    A character scanner: digits then a unit, units in d h m s order, each at most once,
    single spaces between units, surrounding white space ignored.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text, total, last_unit, i = value.strip(), 0, -1, 0
    while i < len(text):
        start = i
        while i < len(text) and text[i].isascii() and text[i].isdigit():
            i += 1
        if i == start or i == len(text) or text[i] not in UNIT_ORDER:
            return None
        unit = UNIT_ORDER.index(text[i])
        if unit <= last_unit:
            return None
        total += int(text[start:i]) * UNIT_SECONDS[unit]
        last_unit, i = unit, i + 1
        if i < len(text) and text[i] == " ":
            i += 1
            if i == len(text) or text[i] == " ":
                return None
    return total if last_unit >= 0 and total > 0 else None


def check_policy_call(kind: str, kwargs: dict[str, Any], outcome: object) -> list[str]:
    """Check one call ``policies.<kind>(**kwargs)`` that returned or raised ``outcome``."""
    violations: list[str] = []

    def expect(rule_id: str, held: bool, why: str) -> None:
        COVERAGE[rule_id] += 1
        if not held:
            violations.append(
                f"{rule_id} violated ({RULES_BY_ID[rule_id].sentence}): {kind}(**{kwargs!r})"
                f" gave {outcome!r}; {why}"
            )

    refused = isinstance(outcome, PolicyError)
    if kind == "azure_session":
        _check_azure(kwargs, outcome, refused, expect)
        return violations
    plan = kwargs.get("plan", "premium")
    if plan not in ("premium", "open"):
        expect("IBM-PLAN-LIMITS", refused, "an unknown plan must be refused")
        return violations
    if kind == "ibm_session" and plan == "open":
        expect("IBM-OPEN-PLAN-NO-SESSION", refused, "the Open Plan may not open sessions")
        return violations
    if kind == "ibm_batch" and plan == "open" and "max_time" not in kwargs:
        expect("IBM-OPEN-PLAN-NO-SESSION", not refused, "the Open Plan may open batches")
    max_time = kwargs.get("max_time")
    if max_time is not None:
        seconds = reference_max_time(max_time)
        valid = seconds is not None and seconds <= PLAN_MAX_TTL
        expect("IBM-MAXTIME-FORMAT", refused is not valid, f"max_time valid={valid}")
        if not valid:
            return violations
    if refused or not isinstance(outcome, IBMPolicy):
        expect("IBM-PLAN-LIMITS", False, "a valid call must give an IBMPolicy")
        return violations
    batch = kind == "ibm_batch"
    default_max = BATCH_MAX_TTL if batch else PLAN_MAX_TTL
    expected_max = default_max if max_time is None else reference_max_time(max_time)
    expect(
        "IBM-PLAN-LIMITS",
        outcome.interactive_ttl == (BATCH_INTERACTIVE_TTL if batch else PREMIUM_INTERACTIVE_TTL)
        and outcome.max_time == expected_max
        and outcome.exclusive is not batch
        and outcome.mode == ("batch" if batch else "dedicated"),
        f"expected max TTL {expected_max} and the {'batch' if batch else 'session'} defaults",
    )
    return violations


def _check_azure(kwargs: dict[str, Any], outcome: object, refused: bool, expect: Any) -> None:
    target = kwargs.get("target")
    failure_policy = kwargs.get("job_failure_policy", "abort")
    priority = kwargs.get("priority")
    valid_target = isinstance(target, str) and bool(target) and target.split() == [target]
    valid_policy = failure_policy is None or (
        isinstance(failure_policy, str) and failure_policy.lower() in ("abort", "continue")
    )
    valid_priority = priority is None or (
        isinstance(priority, str) and priority.lower() in ("standard", "high")
    )
    if not (valid_target and valid_policy and valid_priority):
        expect("AZ-POLICY", refused, "an invalid target, policy or priority must be refused")
        return
    expected = "abort" if failure_policy is None else failure_policy.lower()
    expect(
        "AZ-POLICY",
        isinstance(outcome, AzurePolicy)
        and outcome.target == target
        and outcome.job_failure_policy == expected,
        f"expected job_failure_policy {expected!r} on target {target!r}",
    )


SDK_RULES = ("IBM-SIMULATOR-NO-SESSION",)


def check_simulator_session(session: Any) -> list[str]:
    """IBM-SIMULATOR-NO-SESSION on a real ``qiskit_ibm_runtime.Session`` or ``Batch`` opened
    on a simulator or a local (fake) backend: no server session, so ``session_id``,
    ``status()`` and ``details()`` are all None."""
    COVERAGE["IBM-SIMULATOR-NO-SESSION"] += 1
    seen = (session.session_id, session.status(), session.details())
    if seen == (None, None, None):
        return []
    rule = RULES_BY_ID["IBM-SIMULATOR-NO-SESSION"]
    return [
        f"IBM-SIMULATOR-NO-SESSION violated ({rule.sentence}): {session!r} has session_id,"
        f" status(), details() = {seen!r}"
    ]
