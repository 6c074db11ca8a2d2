"""The generated hot path against the generic interpreter and the python-statemachine chart."""

import ast
import copy
import inspect
import linecache
import subprocess
import sys
import traceback

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from qsession.core import Session, SessionError, policies
from qsession.core.azure import MACHINE as AZURE_MACHINE
from qsession.core.events import (
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
from qsession.core.ibm import MACHINE as IBM_MACHINE
from qsession.core.records import Job, JobState
from qsession.core.session import compiled_source
from qsession.spec.oracle import OracleSession
from qsession.spec.properties import core_effects, core_jobs

from qsession.testing import TIMER_LENGTHS, event_traces, session_policies

#: Each timer's length and its neighbours: the gaps after which a timer is due.
BOUNDARIES = sorted({t + d for t in TIMER_LENGTHS for d in (-1.0, 0.0, 1.0)})


@st.composite
def lifecycles(draw, max_size=40):
    """Traces that mostly make sense (start what is queued, end what runs, new ids), with
    every timer's boundary among the gaps, so that timers fire before events that have
    effects of their own; about one event in ten is one the session should refuse."""
    at, queued, running, count, events = 0.0, [], [], 0, []
    for _ in range(draw(st.integers(0, max_size))):
        wait = draw(st.booleans())
        at += draw(st.sampled_from(BOUNDARIES) if wait else st.sampled_from([0.0, 0.5, 2.0]))
        kinds = ["submit", "session", "refused"] + ["start"] * 2 * bool(queued)
        kinds += ["end"] * 3 * bool(running or queued)
        kind = draw(st.sampled_from(kinds))
        if kind == "submit":
            events.append(Submit(f"j{count}", at))
            queued.append(f"j{count}")
            count += 1
        elif kind == "start":
            job = queued.pop(draw(st.integers(0, len(queued) - 1)))
            events.append(JobStarted(job, at))
            running.append(job)
        elif kind == "end":
            pool = running or queued
            job = pool.pop(draw(st.integers(0, len(pool) - 1)))
            end = draw(st.sampled_from([JobCompleted, JobFailed, JobCancelled]))
            events.append(
                JobFailed(job, at) if end is JobCompleted and pool is queued else end(job, at)
            )
        elif kind == "session":
            events.append(draw(st.sampled_from([Close, Cancel, Advance]))(at))
        else:
            refused = [
                Submit("j0", at),
                JobStarted("nope", at),
                Submit(f"j{count}", at - 1.0),
                Submit(f"j{count}", at, "elsewhere.qpu"),
                Submit("", at),
                Submit(7, at),
                JobStarted(["j0"], at),
            ]
            events.append(draw(st.sampled_from(refused)))
    return events


def by_verb(session, event):
    """``event`` through the public verb it stands for."""
    if isinstance(event, Advance):
        return session.advance(to=event.at)
    if isinstance(event, Close | Cancel):
        return getattr(session, event.name)(at=event.at)
    if isinstance(event, Submit):
        return session.submit(event.job_id, at=event.at, target=event.target)
    if event.name == "job_failed":
        return session.job_failed(event.job_id, at=event.at, reason=event.reason)
    return getattr(session, event.name)(event.job_id, at=event.at)


def interpreted(session, event):
    """``event`` through the generic interpreter only (the base class's ``handle``)."""
    return Session.handle(session, event)


def outcome(apply, session, event):
    try:
        return apply(session, event), None
    except SessionError as error:
        return (), (type(error), str(error), error.session_id, error.state, error.event)


@given(policy=session_policies(), events=st.one_of(event_traces(), lifecycles()))
def test_generated_rows_the_interpreter_and_the_chart_agree_on_every_trace(policy, events):
    paths = {
        "verbs": Session.open(policy, session_id="s", at=0.0),
        "handle": Session.open(policy, session_id="s", at=0.0),
        "interpreter": Session.open(policy, session_id="s", at=0.0),
    }
    applies = {"verbs": by_verb, "handle": Session.handle, "interpreter": interpreted}
    oracle = OracleSession(policy, session_id="s", at=0.0)
    for event in events:
        results = {name: outcome(applies[name], s, event) for name, s in paths.items()}
        assert results["verbs"] == results["handle"] == results["interpreter"], event
        try:
            expected = oracle.handle(event), None
        except SessionError as error:
            expected = (), (type(error), error.state, error.event)
        effects, error = results["interpreter"]
        assert (core_effects(effects), error and (error[0], error[3], error[4])) == expected
        records = [s.snapshot() for s in paths.values()]
        assert records[0] == records[1] == records[2], event
        assert str(records[0].state) == oracle.state, event
        assert core_jobs(records[0]) == tuple(oracle.reference.jobs.items()), event


class Forbidden(Exception):
    """The interpreter was asked: the generated rows did not handle the event."""


@pytest.fixture
def no_interpreter(monkeypatch):
    """Make the generated code's fallback raise, for both providers' machines."""

    def refuse(session, event):
        raise Forbidden(event)

    for machine in (IBM_MACHINE, AZURE_MACHINE):
        session = Session.open(
            policies.ibm_session()
            if machine is IBM_MACHINE
            else policies.azure_session("ionq.qpu"),
            session_id="probe",
            at=0.0,
        )
        monkeypatch.setitem(type(session).submit.__globals__, "_q_interpret", refuse)


def test_an_ibm_session_runs_its_ordinary_life_without_the_interpreter(no_interpreter):
    s = Session.open(policies.ibm_session(), session_id="s", at=0.0)
    for i in range(3):
        t = 100.0 * i
        s.submit(f"j{i}", at=t + 1)
        s.job_started(f"j{i}", at=t + 2)
        s.job_completed(f"j{i}", at=t + 3)  # then 97 s of think time: the TTL lapses
    s.handle(Submit("k", at=400.0))
    s.handle(JobStarted("k", at=401.0))
    s.advance(to=402.0)
    s.close(at=403.0)
    s.job_cancelled("k", at=404.0)
    assert s.state == "closed"
    assert [status for status, _ in s.snapshot().timestamps].count("inactive") == 3


def test_an_azure_session_runs_its_ordinary_life_without_the_interpreter(no_interpreter):
    s = Session.open(policies.azure_session("ionq.qpu", "continue"), session_id="a", at=0.0)
    s.submit("j1", at=1.0, target="ionq.qpu")
    s.job_started("j1", at=2.0)
    s.job_failed("j1", at=3.0, reason="bad circuit")
    s.submit("j2", at=4.0)
    s.close(at=5.0)
    s.job_started("j2", at=6.0)
    s.job_completed("j2", at=7.0)
    assert s.status == "Failed"
    assert s.job("j1") == Job(JobState.FAILED, 1.0, 2.0, 3.0, "bad circuit")


def test_refused_events_go_to_the_interpreter_and_keep_its_message(no_interpreter):
    s = Session.open(policies.ibm_session(), session_id="s", at=0.0)
    s.submit("j1", at=1.0)
    for refused in (
        lambda: s.submit("j1", at=2.0),
        lambda: s.job_completed("j1", at=2.0),
        lambda: s.job_started("nope", at=2.0),
        lambda: s.submit("j2", at=0.5),
    ):
        with pytest.raises(Forbidden):
            refused()


def test_a_refused_event_after_a_timer_fired_leaves_every_job_as_it_was():
    s = Session.open(policies.ibm_session(max_time=60), session_id="s", at=0.0)
    s.submit("a", at=0.0)
    s.job_started("a", at=1.0)
    s.submit("b", at=2.0)
    before = s.snapshot()
    with pytest.raises(SessionError, match="already submitted"):
        s.submit("b", at=100.0)  # max TTL (61 s) fails "b" on a fork first; then refused
    assert s.snapshot() == before
    assert s.job_state("b") == "queued" and s.state == "active"
    s.advance(to=100.0)
    assert s.job_state("b") == "failed" and before.jobs["b"].state == "queued"


def test_idle_sessions_share_no_job_they_did_not_get():
    one, two = (Session.open(policies.ibm_session(), session_id=n, at=0.0) for n in "12")
    one.submit("j1", at=1.0)
    assert dict(two.jobs) == {} and list(one.jobs) == ["j1"]
    two.handle(Submit("k1", at=1.0))
    assert list(one.jobs) == ["j1"] and list(two.jobs) == ["k1"]


def test_jobs_at_the_boundary_are_job_values():
    s = Session.open(policies.ibm_session(), session_id="s", at=0.0)
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    job = s.job("j1")
    assert type(job) is Job and job.state is JobState.RUNNING and job.started_at == 2.0
    assert type(s.jobs["j1"]) is Job and type(s.snapshot().jobs["j1"]) is Job


@pytest.mark.parametrize("policy", [policies.ibm_session(), policies.azure_session("ionq.qpu")])
def test_generated_source_is_registered_with_linecache(policy):
    s = Session.open(policy, session_id="s", at=0.0)
    source = compiled_source(policy.machine)
    submit = type(s).submit
    filename = submit.__code__.co_filename
    assert "".join(linecache.getlines(filename)) == source
    assert inspect.getsource(submit).startswith("def submit(self, job_id, *, at, target=None):")


def test_a_traceback_through_generated_code_shows_its_lines(monkeypatch):
    s = Session.open(policies.ibm_session(), session_id="s", at=0.0)

    def broken(session, event):
        raise RuntimeError("fallback reached")

    monkeypatch.setitem(type(s).submit.__globals__, "_q_interpret", broken)
    with pytest.raises(RuntimeError) as caught:
        s.submit("", at=1.0)
    frames = traceback.extract_tb(caught.value.__traceback__)
    generated = [f for f in frames if f.filename.startswith("<qsession compiled")]
    assert (
        generated
        and generated[-1].line == "return _q_interpret(self, _q_Submit(job_id, at, target))"
    )


def seeded(**actions):
    machine = attrs.evolve(
        IBM_MACHINE, name="IBM, seeded", actions={**IBM_MACHINE.actions, **actions}
    )
    policy = policies.ibm_session()
    object.__setattr__(policy, "machine", machine)
    return policy


def test_a_machine_with_a_replaced_action_gets_code_generated_from_that_action():
    def activate_without_priority(rec, event, effects):
        rec.activated_at = event.at

    policy = seeded(activate=activate_without_priority)
    assert "rec.exclusive = rec.policy.exclusive" not in compiled_source(policy.machine)
    s = Session.open(policy, session_id="s", at=0.0)
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    assert s.state == "active" and not s.exclusive


def test_an_action_that_cannot_be_inlined_is_called_with_its_event():
    seen: list[Event] = []
    policy = seeded(activate=lambda rec, event, effects: seen.append(event))
    s = Session.open(policy, session_id="s", at=0.0)
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    assert seen == [JobStarted("j1", 2.0)] and s.state == "active"


@pytest.mark.parametrize("machine", ["ibm", "ibm-batch", "azure"])
def test_qsession_spec_compiled_prints_the_generated_source(machine):
    out = subprocess.run(
        [sys.executable, "-m", "qsession", "spec", "--compiled", machine],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    policy = policies.azure_session("ionq.qpu") if machine == "azure" else policies.ibm_session()
    header, source = out.split("\n", 1)
    assert header.startswith("# ") and source == compiled_source(policy.machine)
    names = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert {"open", "submit", "job_started", "close", "advance", "handle", "fire"} <= names


def test_a_deep_copy_of_a_session_is_an_independent_session_of_the_same_kind():
    s = Session.open(policies.ibm_session(), session_id="s", at=0.0)
    s.submit("a", at=1.0)
    twin = copy.deepcopy(s)
    twin.submit("b", at=2.0)
    assert list(s.jobs) == ["a"] and list(twin.jobs) == ["a", "b"] and type(twin) is type(s)
