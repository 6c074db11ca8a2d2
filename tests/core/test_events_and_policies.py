"""Generic event rules (time, job ids, lifecycle, all-or-nothing) and policy validation."""

import math

import pytest
from qsession.core import InvalidEventError, PolicyError, Session, SessionError, policies
from qsession.core.policies import parse_max_time


def session():
    s = Session.open(policies.ibm_session(max_time="25m"), session_id="s1", at=0.0)
    s.submit("j1", at=1.0)
    return s


def test_an_event_earlier_than_the_last_one_is_refused():
    s = session()
    with pytest.raises(InvalidEventError, match="time order") as caught:
        s.submit("j2", at=0.5)
    assert (caught.value.session_id, caught.value.state, caught.value.event) == (
        "s1",
        "open",
        "submit",
    )


@pytest.mark.parametrize("at", [math.nan, math.inf])
def test_a_non_finite_time_is_refused(at):
    with pytest.raises(InvalidEventError):
        session().advance(to=at)


def test_unknown_job_ids_are_refused():
    with pytest.raises(InvalidEventError, match="never submitted"):
        session().job_started("nope", at=2.0)


def test_duplicate_job_ids_are_refused():
    with pytest.raises(InvalidEventError, match="already submitted"):
        session().submit("j1", at=2.0)


@pytest.mark.parametrize(
    ("setup", "event"),
    [
        ((), "job_completed"),
        (("job_started",), "job_started"),
        (("job_started", "job_completed"), "job_failed"),
        (("job_cancelled",), "job_started"),
    ],
)
def test_job_events_the_job_state_forbids_are_refused(setup, event):
    s = session()
    for step in setup:
        getattr(s, step)("j1", at=2.0)
    with pytest.raises(InvalidEventError, match="needs it"):
        getattr(s, event)("j1", at=3.0)


def test_a_refused_event_changes_nothing_even_when_timers_were_due():
    s = session()
    s.job_started("j1", at=2.0)
    s.job_completed("j1", at=3.0)
    before = s.snapshot()
    with pytest.raises(SessionError):
        s.submit("j1", at=500.0)
    assert s.snapshot() == before and s.state == "active"


def test_advance_fires_each_due_timer_at_its_own_deadline_in_order():
    s = session()
    s.job_started("j1", at=10.0)
    s.job_completed("j1", at=20.0)
    effects = s.advance(to=10_000.0)
    changes = [(e.at, e.state) for e in effects if hasattr(e, "state")]
    assert changes == [(80.0, "inactive"), (1510.0, "closed")]
    assert s.last_event_at == 10_000.0


def test_job_times_are_recorded():
    s = session()
    s.job_started("j1", at=2.0)
    s.job_failed("j1", at=3.0, reason="boom")
    job = s.job("j1")
    assert (job.submitted_at, job.started_at, job.ended_at, job.reason) == (1.0, 2.0, 3.0, "boom")


def test_open_rejects_a_non_policy():
    with pytest.raises(PolicyError, match=r"qsession\.core\.policies"):
        Session.open({"plan": "premium"}, session_id="s", at=0.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2h 30m 40s", 9040), ("25m", 1500), ("2h30m", 9000), (" 8h ", 28800), (90, 90)],
)
def test_max_time_accepts_seconds_and_strict_unit_strings(value, seconds):
    assert parse_max_time(value, limit=28800, plan="premium") == seconds


@pytest.mark.parametrize(
    "value",
    ["1.5h", "90", "2H", "-5m", "0s", 0, -3, "8h 1s", 28801, 1.5, True, "5m 2h", "", "\u0661h"],
)
def test_max_time_rejects_anything_else_with_the_accepted_form(value):
    with pytest.raises(PolicyError, match=r"'2h 30m 40s'"):
        policies.ibm_session(max_time=value)


def test_open_plan_cannot_open_a_session_but_can_open_a_batch():
    with pytest.raises(PolicyError, match="ibm_batch"):
        policies.ibm_session(plan="open")
    assert policies.ibm_batch(plan="open").mode == "batch"


def test_unknown_plan_is_refused():
    with pytest.raises(PolicyError, match="premium"):
        policies.ibm_session(plan="gold")


@pytest.mark.parametrize(
    ("given", "expected"), [(None, "abort"), ("Abort", "abort"), ("CONTINUE", "continue")]
)
def test_azure_job_failure_policy_defaults_to_abort_and_ignores_case(given, expected):
    assert policies.azure_session("ionq.qpu", given).job_failure_policy == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": ""},
        {"target": "ionq qpu"},
        {"target": "ionq.qpu", "job_failure_policy": "retry"},
        {"target": "ionq.qpu", "priority": "urgent"},
    ],
)
def test_azure_policy_refuses_bad_values(kwargs):
    with pytest.raises(PolicyError):
        policies.azure_session(**kwargs)
