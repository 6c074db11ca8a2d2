"""`qsession demo` runs the seeds' VQE in virtual time and shows the rules biting."""

from __future__ import annotations

import pytest
from qsession.adapters.local.demo import H2, exact_ground_energy, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_default_demo_converges_to_the_exact_ground_energy(capsys) -> None:
    out = run(capsys)
    assert f"exact ground state {exact_ground_energy(H2):.6f} Ha" in out
    assert "energy: -1.8572" in out
    assert "closed (close, not accepting jobs): status 'Closed'" in out


def test_think_time_beyond_the_interactive_ttl_shows_deactivations_and_queue_waits(capsys) -> None:
    out = run(capsys, "--think-time", "70", "--iterations", "10")
    assert "inactive (interactive_ttl_expired)" in out
    assert "after 70.0 s idle" in out
    assert "the interactive TTL lapsed 10 time(s)" in out


def test_max_time_expiring_mid_run_fails_the_queued_job_and_says_so(capsys) -> None:
    out = run(capsys, "--max-time", "5m")
    assert "closed (max_ttl_reached" in out
    assert "-> FAILED (max TTL reached)" in out
    assert "the running job was allowed to finish; 1 queued job(s) failed" in out
    assert "'The session is closed.'" in out


def test_azure_abort_at_an_injected_failure_is_reported(capsys) -> None:
    out = run(capsys, "--provider", "azure", "--job-failure-policy", "abort", "--fail-at", "3")
    assert "FAILED (injected failure)" in out
    assert "CANCELLED (session aborted" in out
    assert "refused before any work: Session is already in a terminal state" in out
    assert "session status after close: 'Failed'" in out


def test_azure_continue_retries_and_ends_failed(capsys) -> None:
    out = run(
        capsys, "--provider", "azure", "--job-failure-policy", "continue", "--iterations", "12"
    )
    assert "the session continues, so it is retried" in out
    assert "session status after close: 'Failed'" in out


def test_azure_session_idle_past_ten_minutes_times_out(capsys) -> None:
    out = run(capsys, "--provider", "azure", "--think-time", "700", "--fail-at", "0")
    assert "TimedOut (idle_timeout, not accepting jobs)" in out
    assert "stopped: the session refused a job" in out


def test_demo_runs_on_a_sped_up_wall_clock(capsys) -> None:
    out = run(capsys, "--speed", "2000", "--iterations", "6", "--load", "0")
    assert "clock: wall, x2000" in out


def test_max_time_is_refused_for_azure(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--provider", "azure", "--max-time", "5m"])
    assert "IBM session setting" in capsys.readouterr().err


def test_malformed_max_time_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--max-time", "1.5h"])
    assert "max_time must be" in capsys.readouterr().err
