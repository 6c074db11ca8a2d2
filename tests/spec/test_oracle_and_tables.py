"""The compiled table against the python-statemachine chart it was compiled from."""

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
from qsession.spec.policy_properties import POLICY_RULES
from qsession.spec.properties import PROPERTIES

from qsession.testing import event_traces, session_policies


def run(session, event):
    try:
        return session.handle(event), None
    except SessionError as error:
        return (), (type(error), error.state, error.event)


@given(policy=session_policies(), events=event_traces())
def test_compiled_core_and_python_statemachine_agree_on_every_trace(policy, events):
    core = Session.open(policy, session_id="s", at=0.0)
    oracle = OracleSession(policy, session_id="s", at=0.0)
    for event in events:
        assert run(core, event) == run(oracle, event)
        assert core.snapshot() == oracle.snapshot()


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
    """A session of ``policy`` in ``state`` with job j0 queued where the state allows one."""
    s = Session.open(policy, session_id="s", at=0.0)
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
    assert s.state == state
    return s


STATE_POLICIES = [(ibm_session(), state) for state in IBMState] + [
    (azure_session("ionq.qpu", "continue" if s is AzureState.FAILURES else "abort"), s)
    for s in AzureState
]


@pytest.mark.parametrize(("policy", "state"), STATE_POLICIES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("make", EVENTS, ids=lambda f: f(0.0).__class__.__name__)
def test_every_state_event_pair_is_taken_or_refused_cleanly(policy, state, make):
    """The full state x event product: each pair either applies (and the oracle agrees) or
    raises a typed SessionError that leaves the session unchanged."""
    session = reach(policy, state)
    before = session.snapshot()
    at = session.last_event_at + 1.0
    oracle = OracleSession(policy, session_id="s", at=0.0)
    oracle.rec = before.clone()
    oracle.chart.current_state_value = before.state
    core_result, oracle_result = run(session, make(at)), run(oracle, make(at))
    assert core_result == oracle_result
    if core_result[1] is not None:
        assert session.snapshot() == before


def test_batch_and_session_share_one_chart():
    assert ibm_batch().machine is ibm_session().machine


def test_every_catalogue_rule_has_an_executable_property():
    """Each rule is checked by a step property, a policy property, or the checker itself."""
    checked = set(PROPERTIES) | set(POLICY_RULES) | {"TIMER-ORDER"}
    assert {rule.id for rule in RULES} == checked
