"""The compiled core against the python-statemachine chart driven by the reference model's
guards: two implementations of the same rules, compared on every trace."""

import pytest
from hypothesis import given
from qsession.core import Session, SessionError
from qsession.core.azure import AzureSessionChart, AzureState
from qsession.core.engine import compile_chart
from qsession.core.events import (
    Advance,
    Cancel,
    Close,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from qsession.core.ibm import IBMSessionChart, IBMState
from qsession.core.policies import azure_session, ibm_batch, ibm_session
from qsession.spec import RULES
from qsession.spec.oracle import OracleSession
from qsession.spec.policy_properties import POLICY_RULES, SDK_RULES
from qsession.spec.properties import PROPERTIES, core_effects, core_jobs

from qsession.testing import event_traces, session_policies


def run(session, event):
    try:
        effects = session.handle(event)
    except SessionError as error:
        return (), (type(error), error.state, error.event)
    return (core_effects(effects) if isinstance(session, Session) else effects), None


def assert_agree(core, oracle):
    """Everything the core reports equals what the chart and the reference model give."""
    reference = oracle.reference
    assert str(core.state) == oracle.state == reference.state
    assert core.accepting_jobs is reference.accepting
    assert core.exclusive is reference.exclusive
    assert core_jobs(core.snapshot()) == tuple(reference.jobs.items())
    assert core.status == reference.status
    assert core.details() == reference.details()
    assert core.next_deadline == reference.view().deadline


@given(policy=session_policies(), events=event_traces())
def test_compiled_core_and_the_reference_driven_chart_agree_on_every_trace(policy, events):
    core = Session.open(policy, session_id="s", at=0.0)
    oracle = OracleSession(policy, session_id="s", at=0.0)
    for event in events:
        assert run(core, event) == run(oracle, event)
        assert_agree(core, oracle)


@pytest.mark.parametrize("chart", [IBMSessionChart, AzureSessionChart])
def test_compiled_table_has_one_row_per_chart_transition(chart):
    machine = (ibm_session() if chart is IBMSessionChart else azure_session("ionq.qpu")).machine
    table = compile_chart(chart, machine.guards, machine.actions)
    rows = sum(len(rows) for by_event in table.values() for rows in by_event.values())
    declared = sum(len(list(t.events)) for state in chart.states for t in state.transitions)
    assert rows == declared
    assert {str(state.value) for state in chart.states} == {str(s) for s in table}


def test_charts_validate_and_render_mermaid():
    for chart in (IBMSessionChart, AzureSessionChart):
        assert format(chart, "mermaid").startswith("stateDiagram-v2")


EVENTS = [
    lambda at: Submit("j0", at),
    lambda at: Submit("new", at),
    lambda at: JobStarted("j0", at),
    lambda at: JobCompleted("j0", at),
    lambda at: JobFailed("j0", at),
    lambda at: JobCancelled("j0", at),
    Close,
    Cancel,
    Advance,
]


def reach(policy, state):
    """A session of ``policy`` in ``state`` with job j0 queued where the state allows one,
    and the oracle taken along the same path."""
    s = Session.open(policy, session_id="s", at=0.0)
    oracle = OracleSession(policy, session_id="s", at=0.0)
    paths = {
        IBMState.OPEN: [Submit("j0", 1.0)],
        IBMState.ACTIVE: [Submit("x", 1.0), JobStarted("x", 2.0), Submit("j0", 3.0)],
        IBMState.INACTIVE: [
            Submit("x", 1.0),
            JobStarted("x", 2.0),
            JobCompleted("x", 3.0),
            Advance(100.0),
            Submit("j0", 101.0),
        ],
        IBMState.CLOSED: [Submit("j0", 1.0), JobStarted("j0", 2.0), Cancel(3.0)],
        AzureState.WAITING: [],
        AzureState.EXECUTING: [Submit("j0", 1.0)],
        AzureState.FAILURES: [Submit("x", 1.0), JobFailed("x", 2.0), Submit("j0", 3.0)],
        AzureState.SUCCEEDED: [Close(1.0)],
        AzureState.FAILED: [Submit("x", 1.0), JobFailed("x", 2.0), Close(3.0)],
        AzureState.TIMED_OUT: [Advance(600.0)],
    }
    for event in paths[state]:
        s.handle(event)
        oracle.handle(event)
    assert s.state == state
    assert_agree(s, oracle)
    return s, oracle


STATE_POLICIES = [(ibm_session(), state) for state in IBMState] + [
    (azure_session("ionq.qpu", "continue" if s is AzureState.FAILURES else "abort"), s)
    for s in AzureState
]


@pytest.mark.parametrize(("policy", "state"), STATE_POLICIES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("make", EVENTS, ids=lambda f: f(0.0).__class__.__name__)
def test_every_state_event_pair_is_taken_or_refused_cleanly(policy, state, make):
    """The full state x event product: each pair either applies (and the oracle agrees) or
    raises a typed SessionError that leaves the session unchanged."""
    session, oracle = reach(policy, state)
    before = session.snapshot()
    at = session.last_event_at + 1.0
    core_result, oracle_result = run(session, make(at)), run(oracle, make(at))
    assert core_result == oracle_result
    assert_agree(session, oracle)
    if core_result[1] is not None:
        assert session.snapshot() == before


def test_batch_and_session_share_one_chart():
    assert ibm_batch().machine is ibm_session().machine


def test_every_catalogue_rule_has_an_executable_property():
    """Each rule is checked by a step property, a policy property, an SDK property, or the
    checker itself (its comparison with the reference model)."""
    checked = set(PROPERTIES) | set(POLICY_RULES) | set(SDK_RULES)
    checked |= {"TIMER-ORDER", "TIMER-DEADLINE"}
    assert {rule.id for rule in RULES} == checked
