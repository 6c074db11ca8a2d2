"""`qsession demo` runs the seeds' VQE in virtual time and shows, moment by moment, which rule
did what; the summary says what a reader needs at a glance."""

from __future__ import annotations

import io
import re

import pytest
from qsession.adapters.local.demo import H2, exact_ground_energy, main
from rich.console import Console

#: A table row of the demo's "what happened" table: its session time and its text.
ROW = re.compile(r"^│\s+(\d+\.\d)\s+│")


def run(*argv: str) -> str:
    """The demo's output, as a 200-column terminal without colour would show it."""
    out = io.StringIO()
    assert main(list(argv), console=Console(file=out, width=200, color_system=None)) == 0
    return out.getvalue()


def row_times(out: str) -> list[float]:
    return [float(m.group(1)) for line in out.splitlines() if (m := ROW.match(line))]


def test_default_demo_converges_to_the_exact_energy_and_says_the_estimator_is_exact() -> None:
    out = run()
    assert f"exact ground state {exact_ground_energy(H2):.6f} Ha" in out
    assert "-1.857275 Ha found" in out
    assert "StatevectorEstimator on local_qpu, a backend that says it is exact" in out
    assert "the estimator is exact, so the gap is the optimiser's" in out


def test_default_demo_explains_evaluations_against_jobs() -> None:
    out = run()
    assert "Each evaluation of the energy sends 2 jobs, one per measurement basis" in out
    assert "80 finished of at most 80" in out
    assert "160 (160 completed): two per evaluation, one per measurement basis" in out


def test_at_the_defaults_the_interactive_ttl_visibly_bites() -> None:
    out = run()
    assert "the interactive TTL lapsed" in out
    assert "IBM-ITTL-DEACTIVATE" in out and "IBM-REACTIVATE" in out
    assert "lapsed 80 time(s) (IBM-ITTL-DEACTIVATE)" in out


def test_rows_are_in_the_order_things_happened_and_repeats_are_folded() -> None:
    out = run()
    times = row_times(out)
    assert times == sorted(times) and len(times) > 10
    assert "went the same way (76 more)" in out
    assert len(times) < 40
    opened = out.index("session opened")
    assert opened < out.index("first job started") < out.index("evaluation 1: done")


def test_each_line_names_its_state_once_without_repeated_labels() -> None:
    out = run()
    assert "open (open)" not in out and "closed (close" not in out
    assert "close() with nothing in flight: the session ended, status 'Closed'" in out


def test_think_time_under_the_interactive_ttl_keeps_the_session_active() -> None:
    out = run("--think-time", "30", "--iterations", "10")
    assert "IBM-ITTL-DEACTIVATE" not in out.split("summary")[0]
    assert "never lapsed: no gap between jobs reached 60 s" in out


def test_max_time_expiring_mid_run_fails_the_queued_job_and_says_so() -> None:
    out = run("--max-time", "5m")
    assert "max TTL reached, 5m after the session started" in out
    assert "failed: it was still queued when the max TTL was reached" in out
    assert "IBM-MAXTTL-QUEUED-FAIL" in out and "IBM-RUNNING-FINISHES" in out
    assert "the next submission was refused: 'The session is closed.'  IBM-SUBMIT-CLOSED" in out


def test_azure_abort_at_an_injected_failure_is_reported() -> None:
    out = run("--provider", "azure", "--job-failure-policy", "abort", "--fail-at", "3")
    assert "failed (injected failure)" in out
    assert "cancelled (session aborted" in out
    assert "a job failed under job_failure_policy 'abort': the session ended 'Failed'" in out
    assert "AZ-ABORT" in out and "AZ-SUBMIT-CLOSED" in out
    assert "status 'Failed'" in out
    assert "so the gap includes shot noise" in out


def test_azure_continue_retries_and_ends_failed() -> None:
    out = run("--provider", "azure", "--job-failure-policy", "continue", "--iterations", "12")
    assert "the session continues, so it is retried" in out
    assert "AZ-CONTINUE" in out
    assert "status 'Failed'" in out


def test_azure_session_idle_past_ten_minutes_times_out() -> None:
    out = run("--provider", "azure", "--think-time", "700", "--fail-at", "0")
    assert "AZ-TIMEOUT-10MIN" in out and "the session ended 'TimedOut'" in out
    assert "the session refused a job" in out


def test_demo_runs_on_a_sped_up_wall_clock() -> None:
    out = run("--speed", "2000", "--iterations", "6", "--load", "0", "--think-time", "0")
    assert "in the wall clock, x2000" in out


def test_demo_draws_the_timeline_when_asked(tmp_path) -> None:
    path = tmp_path / "session.png"
    out = run("--iterations", "6", "--plot", str(path))
    assert f"timeline drawn to {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_max_time_is_refused_for_azure(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--provider", "azure", "--max-time", "5m"])
    assert "IBM session setting" in capsys.readouterr().err


def test_a_plot_file_that_is_neither_png_nor_svg_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--plot", "session.pdf"])
    assert "must end in .png or .svg" in capsys.readouterr().err
