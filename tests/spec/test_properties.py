"""Hypothesis: every provider's session, driven at random, obeys every rule of the spec."""

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant
from qsession.core import ExclusivityChanged, StateChanged, policies
from qsession.core.errors import PolicyError
from qsession.spec import check_policy_call, check_trace

from qsession.testing import SessionStateMachine, event_traces, session_policies


class IBMSession(SessionStateMachine):
    policy = policies.ibm_session(max_time="1h", backend="ibm_fez")


class IBMBatch(SessionStateMachine):
    policy = policies.ibm_batch()


class AzureAbort(SessionStateMachine):
    policy = policies.azure_session("ionq.simulator", "abort")


class AzureContinueQuantinuum(SessionStateMachine):
    policy = policies.azure_session("quantinuum.sim.h2-1sc", "continue")


TestIBMSession = IBMSession.TestCase
TestIBMBatch = IBMBatch.TestCase
TestAzureAbort = AzureAbort.TestCase
TestAzureContinueQuantinuum = AzureContinueQuantinuum.TestCase


@given(policy=session_policies(), events=event_traces())
def test_random_traces_violate_no_rule(policy, events):
    assert check_trace(policy, events=events) == []


MAX_TIMES = st.one_of(
    st.none(),
    st.integers(-10, 40_000),
    st.from_regex(r"\A ?(\d{1,3}[dhmsH.]){0,4} ?\Z"),
    st.text(alphabet="0123456789dhms .-H", max_size=12),
    st.floats(allow_nan=False),
)


@given(
    kind=st.sampled_from(["ibm_session", "ibm_batch"]),
    plan=st.sampled_from(["premium", "open", "gold"]),
    max_time=MAX_TIMES,
)
def test_ibm_policy_constructors_follow_the_plan_and_max_time_rules(kind, plan, max_time):
    kwargs = {"plan": plan} if max_time is None else {"plan": plan, "max_time": max_time}
    try:
        outcome = getattr(policies, kind)(**kwargs)
    except PolicyError as error:
        outcome = error
    assert check_policy_call(kind, kwargs, outcome) == []


@given(
    target=st.one_of(st.sampled_from(["ionq.qpu", "quantinuum.h2", ""]), st.text(max_size=8)),
    job_failure_policy=st.one_of(
        st.none(), st.sampled_from(["abort", "Continue", "ABORT", "retry"])
    ),
    priority=st.one_of(st.none(), st.sampled_from(["Standard", "high", "urgent"])),
)
def test_azure_policy_constructor_follows_the_policy_rule(target, job_failure_policy, priority):
    kwargs = {"target": target, "job_failure_policy": job_failure_policy, "priority": priority}
    try:
        outcome = policies.azure_session(**kwargs)
    except PolicyError as error:
        outcome = error
    assert check_policy_call("azure_session", kwargs, outcome) == []


class HostMirroringEffects(SessionStateMachine):
    """A host that learns the session's state only from effects, as users' tools do."""

    policy = policies.azure_session("quantinuum.sim.h2-1sc", "abort")

    def __init__(self):
        super().__init__()
        self.state, self.accepting, self.exclusive = "Waiting", True, False

    def observe(self, event, effects, error):
        for effect in effects:
            if isinstance(effect, StateChanged):
                self.state, self.accepting = effect.state, effect.accepting_jobs
            elif isinstance(effect, ExclusivityChanged):
                self.exclusive = effect.exclusive

    @invariant()
    def effects_told_the_host_everything(self):
        session = self.session
        assert (self.state, self.accepting, self.exclusive) == (
            str(session.state),
            session.accepting_jobs,
            session.exclusive,
        )


TestHostMirroringEffects = HostMirroringEffects.TestCase
