"""The adapters' shared mirror: learned events reach the core in time order."""

from __future__ import annotations

import pytest
from qsession.adapters._mirror import Mirror
from qsession.core import policies
from qsession.core.events import JobCompleted, JobStarted, Submit
from qsession.spec import check_trace


def mirror() -> Mirror:
    """A mirror of an IBM session opened at 0 (these tests never read its clock)."""
    policy = policies.ibm_session(max_time=100, backend="fake_manila")
    return Mirror(policy, session_id="s", opened_at=0.0, backend="fake_manila", clock=lambda: 0.0)


def test_learned_events_settle_in_time_order_whatever_order_they_were_learned_in() -> None:
    m = mirror()
    m.feed(Submit("a", 0.0))
    m.feed(Submit("b", 0.0))
    m.learn(JobCompleted("b", 6.0))
    m.learn(JobStarted("b", 3.0))
    m.learn(JobCompleted("a", 3.0))
    m.learn(JobStarted("a", 1.0))
    m.settle(10.0)
    assert [(e.name, getattr(e, "job_id", None), e.at) for e in m.events[2:]] == [
        ("job_started", "a", 1.0),
        ("job_completed", "a", 3.0),
        ("job_started", "b", 3.0),
        ("job_completed", "b", 6.0),
    ]
    assert check_trace(m.policy, session_id="s", opened_at=0.0, events=m.events) == []


def test_a_job_that_starts_and_ends_at_one_instant_starts_first() -> None:
    m = mirror()
    m.feed(Submit("a", 0.0))
    m.learn(JobCompleted("a", 2.0))
    m.learn(JobStarted("a", 2.0))
    m.settle(2.0)
    assert m.core.job_state("a") == "completed"


def test_settle_keeps_events_later_than_it_reached_and_preview_shows_them() -> None:
    m = mirror()
    m.feed(Submit("a", 0.0))
    m.learn(JobStarted("a", 5.0))
    m.settle(4.0)
    assert m.core.job_state("a") == "queued"
    assert m.unsettled
    assert m.preview(5.0).job_state("a") == "running"
    assert m.core.job_state("a") == "queued"


def test_the_preview_predicts_timers_without_moving_the_mirror() -> None:
    m = mirror()
    m.feed(Submit("a", 0.0))
    m.feed(JobStarted("a", 0.0))
    m.feed(JobCompleted("a", 1.0))
    assert str(m.preview(62.0).state) == "inactive"
    assert str(m.core.state) == "active"
    timeline = m.timeline(62.0)
    assert [entry.state for entry in timeline.states] == ["open", "active", "inactive"]
    assert timeline.states[-1].at == pytest.approx(61.0)
