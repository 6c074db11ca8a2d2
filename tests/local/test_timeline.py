"""Timelines record what a session went through, and render it readably."""

from __future__ import annotations

import pytest
from qsession.adapters.local import DurationModel, Scheduler, VirtualClock, render_timeline
from qsession.core import policies


def session_with_a_lapse():
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)
    session.submit(tags=["a"]).wait()
    scheduler.clock.advance(70)
    session.submit(tags=["a"]).wait()
    session.close()
    return session


def test_timeline_lists_states_exclusivity_and_jobs_in_the_order_they_happened() -> None:
    timeline = session_with_a_lapse().timeline()
    kinds = [
        (type(e).__name__, getattr(e, "state", getattr(e, "exclusive", None))) for e in timeline
    ]
    assert kinds == [
        ("StateEntry", "open"),
        ("JobEntry", "completed"),
        ("StateEntry", "active"),
        ("ExclusivityEntry", True),
        ("StateEntry", "inactive"),
        ("ExclusivityEntry", False),
        ("JobEntry", "completed"),
        ("StateEntry", "active"),
        ("ExclusivityEntry", True),
        ("StateEntry", "closed"),
        ("ExclusivityEntry", False),
    ]


def test_timeline_records_each_job_queue_and_run_times() -> None:
    jobs = session_with_a_lapse().timeline().jobs
    assert [(j.submitted_at, j.queue_time, j.run_time) for j in jobs] == [
        (0.0, 0.0, 5.0),
        (75.0, 0.0, 5.0),
    ]
    assert jobs[0].tags == ("a",)


def test_timeline_entries_are_frozen_values() -> None:
    timeline = session_with_a_lapse().timeline()
    with pytest.raises(AttributeError):
        timeline.entries[0].at = 3.0  # type: ignore[misc]


def test_render_shows_the_idle_gap_and_the_interactive_ttl_lapse() -> None:
    text = render_timeline(session_with_a_lapse().timeline())
    assert "interactive TTL 60 s" in text
    assert "after 70.0 s idle" in text
    assert "inactive (interactive_ttl_expired): status 'Pending'; releases the QPU" in text


def test_render_folds_alike_consecutive_jobs_into_one_line() -> None:
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=1.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)
    for _ in range(5):
        session.submit().wait()
    text = render_timeline(session.timeline())
    assert "jobs job-2 .. job-5 (4 jobs): each queued 0.0 s, ran 1.0 s -> COMPLETED" in text
    assert "job job-3:" in render_timeline(session.timeline(), compact=False)


def test_render_keeps_the_first_and_last_lines_when_limited() -> None:
    timeline = session_with_a_lapse().timeline()
    full = render_timeline(timeline, compact=False).splitlines()
    short = render_timeline(timeline, compact=False, max_lines=4).splitlines()
    assert short[2:4] == full[2:4]
    assert short[-2:] == full[-2:]
    assert "more lines" in short[4]
