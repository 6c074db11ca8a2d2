"""Child process of the mutation gate: load ``qsession.core`` from a (mutated) copy, then run
the properties alone on it and print which rules they found broken, as one JSON line.

Run as a script, ``python mutant_driver.py CORE_DIR``, never imported: the copy of the core
must be in place before anything imports ``qsession``. The checks, cheapest first, stop at the
first stage that finds a violation: the policy properties over a grid of constructor calls,
then scenario and random traces through the checker (core against the reference model at
every step) and the explorer, first on the core's generated hot path and then on its
interpreter alone.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import random
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


class _CoreFromCopy(importlib.abc.MetaPathFinder):
    """Resolves ``qsession.core`` and its modules to the files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "qsession.core":
            return importlib.util.spec_from_file_location(
                fullname, self.root / "__init__.py", submodule_search_locations=[str(self.root)]
            )
        if fullname.startswith("qsession.core."):
            return importlib.util.spec_from_file_location(
                fullname, self.root / (fullname.rsplit(".", 1)[1] + ".py")
            )
        return None


class _Hang(BaseException):
    """One trace ran past ``HANG_SECONDS``: the core loops (on its own, out of the checker's
    reach)."""


#: Seconds one trace of a few dozen events may take before it counts as a hang.
HANG_SECONDS = 10.0
#: Random traces per policy kind.
TRACES = 200


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def _rules(violations: list[str]) -> list[str]:
    return sorted({v.split(" ", 1)[0] for v in violations})


def _policy_violations() -> list[str]:
    """The policy properties over a grid of constructor calls."""
    from qsession.core import policies  # noqa: PLC0415 - after the finder is installed
    from qsession.core.errors import PolicyError  # noqa: PLC0415
    from qsession.spec.policy_properties import check_policy_call  # noqa: PLC0415

    violations: list[str] = []
    for kind in ("ibm_session", "ibm_batch"):
        for plan in ("premium", "open", "gold"):
            for max_time in (None, 0, 1, 600, 28800, 28801, "25m", "8h", "8h 1s", "1.5h", "2h x"):
                kwargs: dict[str, Any] = {"plan": plan}
                if max_time is not None:
                    kwargs["max_time"] = max_time
                try:
                    outcome: object = getattr(policies, kind)(**kwargs)
                except PolicyError as error:
                    outcome = error
                violations += check_policy_call(kind, kwargs, outcome)
    for target in ("ionq.qpu", "quantinuum.h2", "", "a b"):
        for failure in (None, "abort", "Continue", "ABORT", "retry"):
            for priority in (None, "Standard", "high", "urgent"):
                kwargs = {"target": target, "job_failure_policy": failure, "priority": priority}
                try:
                    outcome = policies.azure_session(**kwargs)
                except PolicyError as error:
                    outcome = error
                violations += check_policy_call("azure_session", kwargs, outcome)
    return violations


def _random_trace(rng: random.Random, policy: Any) -> list[Any]:
    """Up to 30 events: mostly short gaps, fresh job ids, job events on live jobs, rare
    close and cancel, a few duplicates, foreign targets, unknown jobs and times in the past."""
    from qsession.core.events import (  # noqa: PLC0415 - after the finder is installed
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

    short = [0.0, 0.5, 1.0, 2.0, 59.0, 60.0, 61.0, 120.0]
    long = [599.0, 600.0, 601.0, 1799.0, 1800.0, 1801.0, 3599.0, 3600.0, 28800.0, 1e5]
    makers: list[Any] = [JobStarted] * 6 + [JobCompleted] * 5 + [JobFailed] * 2
    makers += [JobCancelled, *["submit"] * 6, Advance, Advance, Advance]
    at, events, jobs, live = 0.0, list[Event](), list[str](), list[str]()
    for _ in range(rng.randint(4, 30)):
        at += rng.choice(short if rng.random() < 0.8 else long)
        when = at - 1.0 if rng.random() < 0.02 else at
        draw = rng.random()
        make: Any = Close if draw < 0.03 else Cancel if draw < 0.05 else rng.choice(makers)
        event: Event
        if make == "submit":
            foreign = rng.random() < 0.08
            target = "elsewhere.qpu" if foreign else rng.choice((None, policy.target))
            job = rng.choice(jobs) if jobs and rng.random() < 0.05 else f"j{len(jobs)}"
            jobs.append(job)
            live.append(job)
            event = Submit(job, when, target)
        elif make is Advance or make is Close or make is Cancel:
            event = make(when)
        else:
            pool = live if live and rng.random() < 0.9 else jobs
            job = rng.choice(pool) if pool else "never-submitted"
            if make is not JobStarted and job in live:
                live.remove(job)
            event = make(job, when)
        events.append(event)
    return events


def _interpreter_alone(kinds: list[Any]) -> None:
    """From now on every session runs the core's generic interpreter (``engine``) instead of
    its generated hot path: ``Session.handle`` on the base class is the interpreter, and the
    checker only calls ``handle``."""
    from qsession.core.session import Session  # noqa: PLC0415 - after the finder is installed

    for policy in kinds:
        type(Session.open(policy, session_id="mode", at=0.0)).handle = Session.handle  # type: ignore[method-assign]


def _session_checks(kinds: list[Any], scenarios: list[Any], mode: str) -> dict[str, Any] | None:
    """Scenario traces, random traces, then the explorer: the first violations found."""
    from qsession.core.events import Advance  # noqa: PLC0415 - after the finder is installed
    from qsession.spec.checker import check_trace  # noqa: PLC0415
    from qsession.spec.explorer import explore  # noqa: PLC0415

    for policy, events in scenarios:
        found = check_trace(policy, events=events)
        if found:
            return {"stage": "scenarios" + mode, "rules": _rules(found), "example": found[0]}
    rng = random.Random(20261201)
    signal.signal(signal.SIGALRM, _alarm)
    for trace_no in range(TRACES):
        for policy in kinds:
            events = _random_trace(rng, policy)
            if trace_no == 0:
                events.append(Advance(float("inf")))
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
            try:
                found = check_trace(policy, events=events)
            except _Hang:
                return {
                    "stage": "random traces" + mode,
                    "rules": [],
                    "hang": True,
                    "example": repr(events),
                }
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if found:
                return {
                    "stage": "random traces" + mode,
                    "rules": _rules(found),
                    "example": found[0],
                }

    for policy in kinds:
        result = explore(policy, depth=3, max_jobs=2, stop_at_first=True)
        if result.violations:
            found = list(result.violations)
            return {"stage": "explorer" + mode, "rules": _rules(found), "example": found[0]}
    return None


def main(core_dir: str) -> dict[str, Any]:
    from qsession.core import policies  # noqa: PLC0415 - after the finder is installed
    from qsession.core.events import (  # noqa: PLC0415
        Advance,
        Close,
        Event,
        JobCancelled,
        JobCompleted,
        JobFailed,
        JobStarted,
        Submit,
    )
    from qsession.core.policies import Policy  # noqa: PLC0415

    assert policies.__file__ is not None and policies.__file__.startswith(core_dir)
    violations = _policy_violations()
    if violations:
        return {"stage": "policy properties", "rules": _rules(violations), "example": violations[0]}

    kinds: list[Policy] = [
        policies.ibm_session(max_time="1h", backend="ibm_x"),
        policies.ibm_session(),
        policies.ibm_batch(backend="ibm_x"),
        policies.azure_session("ionq.simulator", "abort"),
        policies.azure_session("quantinuum.sim.h2-1sc", "continue"),
        policies.azure_session("quantinuum.h2-1", "abort", priority="High"),
        policies.azure_session("rigetti.qpu", "continue"),
    ]
    drain: list[Event] = [Submit("a", 1.0), Submit("b", 2.0), JobStarted("a", 3.0)]
    scenarios: list[tuple[Policy, list[Event]]] = [
        (
            kinds[4],
            [*drain, JobFailed("a", 4.0), Close(5.0), JobStarted("b", 6.0), JobCompleted("b", 7.0)],
        ),
        (kinds[6], [*drain, JobFailed("a", 4.0), Close(5.0), JobCancelled("b", 6.0)]),
        (
            kinds[3],
            [*drain, Close(4.0), JobCompleted("a", 5.0), JobStarted("b", 6.0), JobFailed("b", 7.0)],
        ),
        (kinds[0], [*drain, Close(4.0), JobCompleted("a", 5.0), Advance(3604.0)]),
        (
            kinds[0],
            [Submit("a", 0.0), JobStarted("a", 0.0), JobCompleted("a", 3540.0), Advance(3600.0)],
        ),
        (
            kinds[2],
            [
                *drain,
                JobCompleted("a", 4.0),
                Advance(6.0),
                JobStarted("b", 7.0),
                Close(8.0),
                JobCompleted("b", 9.0),
            ],
        ),
    ]
    for mode in ("", " (interpreter alone)"):
        if mode:
            _interpreter_alone(kinds)
        report = _session_checks(kinds, scenarios, mode)
        if report is not None:
            return report
    return {"stage": None, "rules": [], "example": None}


if __name__ == "__main__":
    sys.path.pop(0)  # this file's directory holds modules named like stdlib ones
    core = Path(sys.argv[1]).resolve()
    sys.meta_path.insert(0, _CoreFromCopy(core))
    print(json.dumps(main(str(core))))
