"""Session policies: what a provider allows a session to be, validated once at construction.

A policy is a frozen value shared by every session opened with it; it picks the provider's
compiled machine. Bad input raises ``PolicyError`` naming the field, what is accepted and what
arrived.
"""

from __future__ import annotations

import re

import attrs

from . import azure as _azure
from . import ibm as _ibm
from .engine import Machine
from .errors import PolicyError


@attrs.frozen
class IBMPlan:
    """Limits of an IBM Quantum plan (IBM-PLAN-LIMITS: "Run jobs in a session", Default values)."""

    name: str
    sessions_allowed: bool
    interactive_ttl: float
    max_ttl: float


#: IBM plans. Premium: interactive TTL 60 s, max TTL 8 h; Open Plan may not run sessions.
IBM_PLANS: dict[str, IBMPlan] = {
    "premium": IBMPlan("premium", sessions_allowed=True, interactive_ttl=60.0, max_ttl=28800.0),
    "open": IBMPlan("open", sessions_allowed=False, interactive_ttl=60.0, max_ttl=28800.0),
}
#: Batch defaults on every plan (IBM Quantum docs "Run jobs in a batch"): 1 s and 10 min.
IBM_BATCH_INTERACTIVE_TTL = 1.0
IBM_BATCH_DEFAULT_MAX_TIME = 600.0
#: A session no job was submitted to closes 30 minutes after opening (IBM-UNUSED-30MIN).
IBM_UNUSED_TIMEOUT = 1800.0
#: Azure: a session with no new job for 10 minutes times out (AZ-TIMEOUT-10MIN).
AZURE_IDLE_TIMEOUT = 600.0
#: Azure providers whose sessions hold the hardware while jobs come within this many seconds.
AZURE_EXCLUSIVE_WINDOWS: dict[str, float] = {"quantinuum": 60.0}

_TOKEN = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@attrs.frozen
class IBMPolicy:
    """An IBM Qiskit Runtime session (``mode="dedicated"``) or batch (``mode="batch"``)."""

    mode: str
    plan: str
    max_time: float
    interactive_ttl: float
    unused_timeout: float
    exclusive: bool
    backend: str | None = None
    machine: Machine = attrs.field(default=_ibm.MACHINE, init=False, repr=False, eq=False)

    @property
    def target(self) -> str | None:
        """The backend every job of the session runs on, when known."""
        return self.backend


@attrs.frozen
class AzurePolicy:
    """An Azure Quantum session on one target."""

    target: str
    provider_id: str
    job_failure_policy: str
    priority: str | None
    idle_timeout: float
    exclusive_window: float | None
    machine: Machine = attrs.field(default=_azure.MACHINE, init=False, repr=False, eq=False)


Policy = IBMPolicy | AzurePolicy


def parse_max_time(max_time: int | str, *, limit: float, plan: str) -> float:
    """Seconds from an int or a strict ``"2h 30m 40s"`` string (IBM-MAXTIME-FORMAT).

    Stricter than qiskit-ibm-runtime's parser, which reads ``"1.5h"`` as 5 hours: whole
    numbers, units ``d h m s`` in that order, lower case, each at most once.
    """
    accepted = (
        f"max_time must be a positive whole number of seconds (e.g. 9040) or a string of whole"
        f" units in d h m s order such as '2h 30m 40s' or '25m', at most {limit:g} s on the"
        f" {plan!r} plan"
    )
    if isinstance(max_time, bool) or not isinstance(max_time, int | str):
        raise PolicyError(f"{accepted}; got {max_time!r} ({type(max_time).__name__})")
    seconds = max_time if isinstance(max_time, int) else _hms_seconds(max_time)
    if seconds is None:
        raise PolicyError(f"{accepted}; got {max_time!r}")
    if seconds <= 0:
        raise PolicyError(f"{accepted}; got {max_time!r}, which is not positive")
    if seconds > limit:
        raise PolicyError(f"{accepted}; got {max_time!r} = {seconds} s, over the plan's maximum")
    return float(seconds)


def _hms_seconds(text: str) -> int | None:
    """Seconds of ``"2h 30m 40s"``-style text, or None if it is not of that form."""
    stripped = text.strip()
    tokens = _TOKEN.findall(stripped)
    units = [unit for _, unit in tokens]
    if not tokens or "  " in stripped or units != sorted(set(units), key="dhms".index):
        return None
    if "".join(n + unit for n, unit in tokens) != stripped.replace(" ", ""):
        return None
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in tokens)


def _plan(plan: str) -> IBMPlan:
    found = IBM_PLANS.get(plan) if isinstance(plan, str) else None
    if found is None:
        raise PolicyError(f"plan must be one of {sorted(IBM_PLANS)}; got {plan!r}")
    return found


def _backend(backend: str | None) -> str | None:
    if backend is not None and (not isinstance(backend, str) or not backend):
        raise PolicyError(f"backend must be a backend name or None; got {backend!r}")
    return backend


def ibm_session(
    plan: str = "premium", max_time: int | str | None = None, *, backend: str | None = None
) -> IBMPolicy:
    """A dedicated IBM session: exclusive while active, plan TTLs (IBM-PLAN-LIMITS)."""
    limits = _plan(plan)
    if not limits.sessions_allowed:
        raise PolicyError(
            f"You are not authorized to run a session when using the {plan} plan: the Open Plan"
            " runs only in job mode or batch mode; use policies.ibm_batch(plan='open', ...)"
            " (IBM-OPEN-PLAN-NO-SESSION)"
        )
    return IBMPolicy(
        mode="dedicated",
        plan=plan,
        max_time=limits.max_ttl
        if max_time is None
        else parse_max_time(max_time, limit=limits.max_ttl, plan=plan),
        interactive_ttl=limits.interactive_ttl,
        unused_timeout=IBM_UNUSED_TIMEOUT,
        exclusive=True,
        backend=_backend(backend),
    )


def ibm_batch(
    plan: str = "premium", max_time: int | str | None = None, *, backend: str | None = None
) -> IBMPolicy:
    """An IBM batch: interactive TTL 1 s, max TTL 10 min by default, never exclusive
    (IBM-BATCH-DEFAULTS); allowed on every plan."""
    limits = _plan(plan)
    return IBMPolicy(
        mode="batch",
        plan=plan,
        max_time=IBM_BATCH_DEFAULT_MAX_TIME
        if max_time is None
        else parse_max_time(max_time, limit=limits.max_ttl, plan=plan),
        interactive_ttl=IBM_BATCH_INTERACTIVE_TTL,
        unused_timeout=IBM_UNUSED_TIMEOUT,
        exclusive=False,
        backend=_backend(backend),
    )


def azure_session(
    target: str, job_failure_policy: str | None = "abort", *, priority: str | None = None
) -> AzurePolicy:
    """An Azure Quantum session on ``target`` (``"provider.name"``, e.g. ``"ionq.simulator"``).

    ``job_failure_policy`` is ``"abort"`` (the service default, also used for None) or
    ``"continue"``, case-insensitive like the SDK's enum (AZ-POLICY).
    """
    if not isinstance(target, str) or not target or any(c.isspace() for c in target):
        raise PolicyError(
            f"target must be an Azure Quantum target id such as 'ionq.simulator'; got {target!r}"
        )
    policy = "abort" if job_failure_policy is None else job_failure_policy
    if not isinstance(policy, str) or policy.lower() not in ("abort", "continue"):
        raise PolicyError(
            f"job_failure_policy must be 'abort' (the service default) or 'continue';"
            f" got {job_failure_policy!r}"
        )
    canonical = {"standard": "Standard", "high": "High"}
    if priority is not None and (
        not isinstance(priority, str) or priority.lower() not in canonical
    ):
        raise PolicyError(f"priority must be 'Standard', 'High' or None; got {priority!r}")
    provider_id = target.split(".", 1)[0].lower()
    return AzurePolicy(
        target=target,
        provider_id=provider_id,
        job_failure_policy=policy.lower(),
        priority=None if priority is None else canonical[priority.lower()],
        idle_timeout=AZURE_IDLE_TIMEOUT,
        exclusive_window=AZURE_EXCLUSIVE_WINDOWS.get(provider_id),
    )


__all__ = [
    "IBM_PLANS",
    "AzurePolicy",
    "IBMPolicy",
    "Policy",
    "azure_session",
    "ibm_batch",
    "ibm_session",
    "parse_max_time",
]
