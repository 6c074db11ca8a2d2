"""Timelines record what a session went through; moments read it, naming each rule."""

from __future__ import annotations

import pytest
from qsession.adapters.local import DurationModel, Scheduler, VirtualClock, render_timeline
from qsession.adapters.local.timeline import MOMENT_RULES
from qsession.core import policies
from qsession.spec import RULES


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


def rules_fired(session) -> list[str]:
    return [rule for moment in session.timeline().moments() for rule in moment.rules]


def test_moments_name_the_rule_behind_each_state_change_in_order() -> None:
    assert rules_fired(session_with_a_lapse()) == [
        "IBM-START-ON-FIRST-JOB-START",
        "IBM-START-ON-FIRST-JOB-START",
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
        "IBM-ITTL-DEACTIVATE",
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
        "IBM-REACTIVATE",
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
        "IBM-CLOSE-DRAINS",
        "IBM-EXCLUSIVE-WHEN-ACTIVE",
    ]


def test_moments_come_at_the_time_they_happened_a_job_start_before_what_it_caused() -> None:
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    other = scheduler.open_session(policies.ibm_batch(backend="qpu"), backend)
    other.submit()  # holds the QPU for 5 s: our job queues, then starts at 5
    session = scheduler.open_session(policies.ibm_session(backend="qpu"), backend)
    session.submit().wait()
    moments = session.timeline().moments()
    assert [m.at for m in moments] == sorted(m.at for m in moments)
    kinds = [(m.at, m.kind) for m in moments]
    assert (
        kinds.index((0.0, "queued")) < kinds.index((5.0, "started")) < kinds.index((5.0, "state"))
    )


def test_every_rule_a_moment_can_cite_is_in_the_catalogue() -> None:
    assert set(MOMENT_RULES.values()) <= {rule.id for rule in RULES}


def test_max_ttl_moments_cite_the_queued_job_failing_and_the_running_one_finishing() -> None:
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=60.0, per_shot=0.0))
    session = scheduler.open_session(policies.ibm_session(backend="qpu", max_time=30), backend)
    session.submit(name="first")
    session.submit(name="second")
    scheduler.clock.advance(100)
    texts = {m.text: m.rules for m in session.timeline().moments()}
    assert texts["job second failed: it was still queued when the max TTL was reached"] == (
        "IBM-MAXTTL-QUEUED-FAIL",
    )
    finished = "job first completed: it was running when the session closed, so it ran to its end"
    assert texts[finished] == ("IBM-RUNNING-FINISHES",)
    assert any(rules[:1] == ("IBM-MAXTTL-FROM-START",) for rules in texts.values())


def azure_session(policy: str):
    scheduler = Scheduler(VirtualClock())
    backend = scheduler.add_backend("qpu", duration=DurationModel(overhead=5.0, per_shot=0.0))
    session = scheduler.open_session(policies.azure_session("qpu", policy), backend)
    return scheduler, backend, session


def test_azure_moments_cite_abort_for_the_failure_and_the_job_it_cancelled() -> None:
    scheduler, backend, session = azure_session("abort")
    backend.fail_next_job("boom")
    session.submit()
    session.submit()
    scheduler.clock.advance(10)
    fired = rules_fired(session)
    assert fired[:2] == ["AZ-WAITING-UNTIL-FIRST-JOB", "AZ-WAITING-UNTIL-FIRST-JOB"]
    assert fired.count("AZ-ABORT") == 2


def test_azure_moments_cite_continue_close_and_timeout() -> None:
    scheduler, backend, session = azure_session("continue")
    backend.fail_next_job("boom")
    session.submit().wait()
    assert "AZ-CONTINUE" in rules_fired(session)
    session.close()
    assert rules_fired(session)[-1] == "AZ-CLOSE-IDLE"
    scheduler, _, idle = azure_session("abort")
    scheduler.clock.advance(700)
    assert rules_fired(idle)[-1] == "AZ-TIMEOUT-10MIN"


def test_azure_close_with_a_job_in_flight_drains() -> None:
    scheduler, _, session = azure_session("abort")
    session.submit()
    session.close()
    scheduler.clock.advance(10)
    assert rules_fired(session)[-2:] == ["AZ-CLOSE-DRAINS", "AZ-CLOSE-DRAINS"]


def test_render_prints_one_moment_per_line_with_its_rule() -> None:
    text = render_timeline(session_with_a_lapse().timeline())
    assert "interactive TTL 60 s" in text
    assert (
        "no job for 60 s: the interactive TTL lapsed; the session is inactive ('Pending') and"
        " its next job queues like anyone's; it releases the QPU  [IBM-ITTL-DEACTIVATE,"
        " IBM-EXCLUSIVE-WHEN-ACTIVE]"
    ) in text
    assert "job a submitted" in text


def test_render_keeps_the_first_and_last_lines_when_limited() -> None:
    timeline = session_with_a_lapse().timeline()
    full = render_timeline(timeline).splitlines()
    short = render_timeline(timeline, max_lines=4).splitlines()
    assert short[2:4] == full[2:4]
    assert short[-2:] == full[-2:]
    assert "more lines" in short[4]
