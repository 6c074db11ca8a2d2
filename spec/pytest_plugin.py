"""pytest plugin: report which catalogue rules the test run exercised.

Loaded by the project's pytest configuration. At the end of a run it prints every rule with
how many checked steps exercised it and, when the mutation gate ran, the planted mutants its
property caught; ``--require-rule-coverage`` fails the run when a rule was never exercised (a
rule no test exercises is a gap).
"""

from __future__ import annotations

import pytest

from .catalogue import RULES
from .coverage import COVERAGE, EXPLORATIONS, MUTANTS_CAUGHT


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-rule-coverage",
        action="store_true",
        help="fail the run if a rule of the qsession spec catalogue was never exercised",
    )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if not COVERAGE:
        return
    gaps = [rule.id for rule in RULES if not COVERAGE[rule.id]]
    terminalreporter.section("qsession rule coverage")
    terminalreporter.write_line(f"{'rule':<30} {'steps':>9}  {'':3}  mutants caught")
    for rule in RULES:
        count = COVERAGE[rule.id]
        caught = MUTANTS_CAUGHT.get(rule.id, [])
        terminalreporter.write_line(
            f"{rule.id:<30} {count:>9}  {'GAP' if not count else '':3}"
            f"  {len(caught):>3} {', '.join(sorted(caught))}".rstrip()
        )
    terminalreporter.write_line(
        f"{len(RULES) - len(gaps)} of {len(RULES)} rules exercised"
        + (f"; gaps: {', '.join(gaps)}" if gaps else "")
    )
    for line in EXPLORATIONS:
        terminalreporter.write_line(f"explored {line}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--require-rule-coverage"):
        return
    gaps = [rule.id for rule in RULES if not COVERAGE[rule.id]]
    if gaps and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nrule coverage required, but no test exercised: {', '.join(gaps)}")
