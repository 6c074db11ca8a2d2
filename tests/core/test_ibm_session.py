"""IBM Qiskit Runtime session and batch rules, one behaviour per test (rule ids in names)."""

import pytest
from qsession.core import (
    ExclusivityChanged,
    InvalidEventError,
    JobsCancelled,
    JobsFailed,
    Session,
    SessionClosedError,
    StateChanged,
    policies,
)
from qsession.spec.properties import IBM_DETAILS_KEYS


def running_session(max_time="25m", **kwargs):
    """A premium session whose first job j1 started at t=10 (max TTL ends at 10 + 1500)."""
    s = Session.open(policies.ibm_session("premium", max_time, **kwargs), session_id="s1", at=0.0)
    s.submit("j1", at=1.0)
    s.job_started("j1", at=10.0)
    return s


def test_session_is_open_and_pending_until_its_first_job_starts():
    s = Session.open(policies.ibm_session(), session_id="s1", at=0.0)
    s.submit("j1", at=5.0)
    assert (s.state, s.status, s.details()["started_at"]) == ("open", "Pending", None)
    s.job_started("j1", at=9.0)
    assert (s.state, s.status, s.details()["started_at"]) == (
        "active",
        "In progress, accepting new jobs",
        9.0,
    )


def test_max_ttl_counts_from_first_job_start_not_creation():
    s = running_session()
    assert s.next_deadline == 10.0 + 1500


def test_max_ttl_fails_queued_jobs_and_lets_the_running_job_finish():
    s = running_session()
    s.submit("j2", at=20.0)
    effects = s.advance(to=2000.0)
    assert JobsFailed("s1", 1510.0, ("j2",), "max TTL reached") in effects
    assert (s.state, s.job_state("j2"), s.job_state("j1")) == ("closed", "failed", "running")
    s.job_completed("j1", at=2100.0)
    assert s.job_state("j1") == "completed"


def test_max_ttl_never_pauses_while_inactive():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.advance(to=100.0)
    assert s.state == "inactive"
    assert s.next_deadline == 1510.0
    s.advance(to=1510.0)
    assert s.state == "closed"


def test_interactive_ttl_deactivates_an_idle_session_60s_after_the_last_job_ends():
    s = running_session()
    s.job_completed("j1", at=20.0)
    assert s.next_deadline == 80.0
    s.advance(to=79.0)
    assert s.state == "active"
    effects = s.advance(to=80.0)
    assert (
        StateChanged("s1", 80.0, "active", "inactive", True, "interactive_ttl_expired") in effects
    )
    assert ExclusivityChanged("s1", 80.0, False) in effects
    assert s.status == "Pending"


def test_a_job_queued_within_the_interactive_ttl_keeps_the_session_active():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.submit("j2", at=79.0)
    s.advance(to=500.0)
    assert s.state == "active"


def test_the_next_job_reactivates_an_inactive_session_when_it_starts():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.submit("j2", at=200.0)
    assert s.state == "inactive" and not s.exclusive
    s.job_started("j2", at=230.0)
    assert (s.state, s.exclusive, s.details()["activated_at"]) == ("active", True, 230.0)


def test_close_stops_accepting_and_drains_queued_and_running_jobs():
    s = running_session()
    s.submit("j2", at=11.0)
    s.close(at=12.0)
    assert (s.state, s.accepting_jobs, s.status) == (
        "active",
        False,
        "In progress, not accepting new jobs",
    )
    s.job_completed("j1", at=20.0)
    s.job_started("j2", at=20.0)
    assert s.state == "active"
    s.job_completed("j2", at=30.0)
    assert (s.state, s.status, s.details()["closed_at"]) == ("closed", "Closed", 30.0)


def test_close_with_nothing_in_flight_closes_at_once():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.close(at=21.0)
    assert s.state == "closed"


def test_closing_an_inactive_session_with_a_queued_job_still_reports_pending():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.advance(to=100.0)
    s.submit("j2", at=110.0)
    s.close(at=111.0)
    assert (s.state, s.accepting_jobs, s.status) == ("inactive", False, "Pending")


def test_cancel_closes_at_once_cancelling_queued_jobs_but_not_the_running_one():
    s = running_session()
    s.submit("j2", at=11.0)
    effects = s.cancel(at=12.0)
    assert JobsCancelled("s1", 12.0, ("j2",), "session cancelled") in effects
    assert (s.state, s.job_state("j1"), s.job_state("j2")) == ("closed", "running", "cancelled")


def test_a_session_no_job_was_submitted_to_closes_after_30_minutes():
    s = Session.open(policies.ibm_session(), session_id="s1", at=0.0)
    assert s.next_deadline == 1800.0
    s.advance(to=1800.0)
    assert s.state == "closed"


def test_a_submission_disarms_the_30_minute_close():
    s = Session.open(policies.ibm_session(), session_id="s1", at=0.0)
    s.submit("j1", at=1.0)
    s.advance(to=5000.0)
    assert s.state == "open"


@pytest.mark.parametrize("end", ["close", "cancel"])
def test_submitting_after_close_or_cancel_raises_session_closed(end):
    s = running_session()
    getattr(s, end)(at=12.0)
    with pytest.raises(SessionClosedError, match="The session is closed") as caught:
        s.submit("j9", at=13.0)
    assert (caught.value.session_id, caught.value.event) == ("s1", "submit")


def test_submitting_exactly_at_max_ttl_sees_the_closed_session():
    s = running_session()
    with pytest.raises(SessionClosedError):
        s.submit("j2", at=1510.0)
    assert s.state == "active"


def test_closed_session_ignores_close_and_cancel():
    s = running_session()
    s.cancel(at=12.0)
    assert s.close(at=13.0) == () and s.cancel(at=14.0) == ()
    assert s.state == "closed"


def test_batch_is_never_exclusive_and_deactivates_after_one_second():
    s = Session.open(policies.ibm_batch(), session_id="b1", at=0.0)
    s.submit("j1", at=0.0)
    s.job_started("j1", at=1.0)
    assert (s.state, s.exclusive) == ("active", False)
    s.job_completed("j1", at=2.0)
    assert s.next_deadline == 3.0
    s.advance(to=3.0)
    assert s.state == "inactive"


def test_batch_max_ttl_defaults_to_ten_minutes():
    s = Session.open(policies.ibm_batch(), session_id="b1", at=0.0)
    s.submit("j1", at=0.0)
    s.job_started("j1", at=5.0)
    s.submit("j2", at=6.0)
    s.advance(to=605.0)
    assert (s.state, s.job_state("j2")) == ("closed", "failed")


def test_details_has_the_keys_of_qiskit_ibm_runtime_session_details():
    s = running_session(backend="ibm_fez")
    assert set(s.details()) == IBM_DETAILS_KEYS
    details = s.details()
    assert (details["backend_name"], details["max_time"], details["mode"]) == (
        "ibm_fez",
        1500.0,
        "dedicated",
    )


def test_usage_time_counts_seconds_spent_active():
    s = running_session()
    s.job_completed("j1", at=20.0)
    s.advance(to=80.0)
    assert s.details()["usage_time"] == 70.0


def test_a_job_for_another_backend_is_refused():
    s = running_session(backend="ibm_fez")
    with pytest.raises(InvalidEventError, match="ibm_torino"):
        s.submit("j2", at=11.0, target="ibm_torino")
