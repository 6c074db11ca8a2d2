"""The exhaustive small-scope explorer over every policy kind, and proof the checker bites."""

import attrs
import pytest
from qsession.core import policies
from qsession.core.events import Advance, JobStarted, Submit
from qsession.core.ibm import MACHINE as IBM_MACHINE
from qsession.core.policies import IBMPolicy
from qsession.core.session import Session
from qsession.spec.checker import Checker, check_trace
from qsession.spec.explorer import explore

POLICIES = {
    "ibm-session": policies.ibm_session(max_time="1h"),
    "ibm-batch": policies.ibm_batch(),
    "azure-abort": policies.azure_session("ionq.simulator", "abort"),
    "azure-continue-quantinuum": policies.azure_session("quantinuum.sim.h2-1sc", "continue"),
}


@pytest.mark.parametrize("name", POLICIES)
def test_every_event_sequence_up_to_depth_5_obeys_every_rule(name):
    result = explore(POLICIES[name], depth=5, max_jobs=2)
    assert result.violations == ()
    assert result.states > 1000


def broken_policy(**actions):
    """The IBM session policy on a machine with some actions swapped (a seeded bug)."""
    machine = attrs.evolve(
        IBM_MACHINE,
        name=f"IBM with a seeded bug in {', '.join(actions)}",
        actions={**IBM_MACHINE.actions, **actions},
    )
    policy = policies.ibm_session(max_time="1h")
    object.__setattr__(policy, "machine", machine)
    assert isinstance(policy, IBMPolicy)
    return policy


def test_checker_reports_a_machine_that_forgets_to_fail_queued_jobs_at_max_ttl():
    policy = broken_policy(fail_queued=IBM_MACHINE.actions["finish"])
    events = [Submit("a", 0.0), JobStarted("a", 1.0), Submit("b", 2.0), Advance(4000.0)]
    violations = check_trace(policy, events=events)
    assert any(v.startswith("IBM-MAXTTL-QUEUED-FAIL") for v in violations)


def test_explorer_finds_a_machine_that_never_grants_exclusivity():
    def activate_without_priority(rec, event, effects):
        rec.activated_at = event.at

    policy = broken_policy(activate=activate_without_priority)
    violations = explore(policy, depth=3, max_jobs=1).violations
    assert any(v.startswith("IBM-EXCLUSIVE-WHEN-ACTIVE") for v in violations)


class StuckSession(Session):
    """A core whose deadline never moves: advancing to it changes nothing."""

    __slots__ = ()

    @property
    def next_deadline(self):
        return 10.0

    def handle(self, event):
        return () if isinstance(event, Advance) else super().handle(event)


def test_checker_reports_a_deadline_that_does_not_advance_instead_of_looping():
    checker = Checker(policies.ibm_session())
    checker.session = StuckSession(checker.session.snapshot())
    checker.feed(Submit("a", 20.0))
    stuck = [v for v in checker.violations if "does not advance" in v]
    assert stuck == [
        "TIMER-DEADLINE violated: after advancing to 10.0 the next deadline is still 10.0"
        " (core 10.0, reference 1800.0); a deadline that does not advance would loop forever,"
        " so the checker stopped advancing"
    ]
