"""Azure Quantum session rules, one behaviour per test (rule ids in names)."""

import pytest
from qsession.core import (
    ExclusivityChanged,
    InvalidEventError,
    JobsCancelled,
    Session,
    SessionClosedError,
    policies,
)


def azure(policy="abort", target="ionq.simulator"):
    return Session.open(policies.azure_session(target, policy), session_id="a1", at=0.0)


def test_session_waits_until_its_first_job_and_then_executes():
    s = azure()
    assert s.status == "Waiting"
    s.submit("j1", at=1.0)
    assert s.status == "Executing"
    s.job_started("j1", at=2.0)
    s.job_completed("j1", at=3.0)
    assert s.status == "Executing"


def test_close_with_nothing_in_flight_succeeds_at_once():
    s = azure()
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    s.job_completed("j1", at=3.0)
    s.close(at=4.0)
    assert (s.status, s.details()["endExecutionTime"]) == ("Succeeded", 4.0)


def test_close_with_jobs_in_flight_keeps_executing_until_they_end():
    s = azure()
    s.submit("j1", at=1.0)
    s.close(at=2.0)
    assert (s.status, s.accepting_jobs) == ("Executing", False)
    s.job_started("j1", at=3.0)
    s.job_completed("j1", at=4.0)
    assert s.status == "Succeeded"


def test_abort_fails_the_session_at_once_and_cancels_jobs_in_flight():
    s = azure("abort")
    for job in ("j1", "j2", "j3"):
        s.submit(job, at=1.0)
    s.job_started("j1", at=2.0)
    effects = s.job_failed("j1", at=3.0, reason="CannotTranslateOutputData")
    assert s.status == "Failed"
    assert JobsCancelled("a1", 3.0, ("j2", "j3"), "session aborted: job 'j1' failed") in effects
    with pytest.raises(SessionClosedError, match="terminal state"):
        s.submit("j4", at=4.0)


def test_continue_shows_failures_keeps_accepting_and_closes_failed():
    s = azure("continue")
    s.submit("j1", at=1.0)
    s.job_failed("j1", at=2.0)
    assert (s.status, s.accepting_jobs) == ("Failure(s)", True)
    s.submit("j2", at=3.0)
    s.job_started("j2", at=4.0)
    s.job_completed("j2", at=5.0)
    assert s.status == "Failure(s)"
    s.close(at=6.0)
    assert s.status == "Failed"


def test_a_session_with_no_new_job_for_ten_minutes_times_out():
    s = azure()
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    s.job_completed("j1", at=100.0)
    assert s.next_deadline == 700.0
    s.advance(to=699.0)
    assert s.status == "Executing"
    s.advance(to=700.0)
    assert s.status == "TimedOut"


def test_a_running_job_holds_off_the_timeout():
    s = azure()
    s.submit("j1", at=1.0)
    s.job_started("j1", at=2.0)
    s.advance(to=5000.0)
    assert s.status == "Executing"


def test_timeout_wins_over_failures_under_continue():
    s = azure("continue")
    s.submit("j1", at=1.0)
    s.job_failed("j1", at=2.0)
    s.advance(to=602.0)
    assert s.status == "TimedOut"


def test_a_never_used_session_times_out_ten_minutes_after_opening():
    s = azure()
    s.advance(to=600.0)
    assert s.status == "TimedOut"


def test_a_job_for_another_target_is_refused():
    s = azure()
    with pytest.raises(InvalidEventError, match=r"rigetti\.qpu"):
        s.submit("j1", at=1.0, target="rigetti.qpu")
    assert s.status == "Waiting" and not s.jobs


def test_there_is_no_cancel_and_the_error_says_to_close():
    s = azure()
    with pytest.raises(InvalidEventError, match=r"close\(\)"):
        s.cancel(at=1.0)


@pytest.mark.parametrize("end", ["close", "timeout"])
def test_terminal_sessions_refuse_submissions(end):
    s = azure()
    if end == "close":
        s.close(at=1.0)
    else:
        s.advance(to=600.0)
    with pytest.raises(SessionClosedError):
        s.submit("j1", at=700.0)


def test_quantinuum_session_is_exclusive_while_jobs_come_within_a_minute():
    s = azure(target="quantinuum.sim.h2-1sc")
    assert not s.exclusive
    s.submit("j1", at=1.0)
    assert s.exclusive
    s.job_started("j1", at=2.0)
    s.job_completed("j1", at=200.0)
    s.submit("j2", at=259.0)
    s.job_started("j2", at=260.0)
    s.job_completed("j2", at=270.0)
    assert s.exclusive
    assert ExclusivityChanged("a1", 330.0, False) in s.advance(to=330.0)
    s.submit("j3", at=331.0)
    assert not s.exclusive


def test_other_targets_are_never_exclusive():
    s = azure(target="ionq.qpu")
    s.submit("j1", at=1.0)
    assert not s.exclusive


def test_details_carries_the_service_fields():
    details = azure("continue").details()
    assert (details["status"], details["jobFailurePolicy"], details["target"]) == (
        "Waiting",
        "Continue",
        "ionq.simulator",
    )
