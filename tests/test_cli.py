"""The ``qsession`` command as a user runs it: output, help, and every failure as one line."""

import argparse
import os
import re
import signal
import subprocess
import sys

import pytest
from qsession.adapters.emulator.serve import _parser as serve_parser
from qsession.adapters.local.demo import build_parser as demo_parser
from qsession.spec import RULES, SERVICE_READINGS

from qsession.cli import build_parser


def qsession(*args, check=True):
    return subprocess.run(
        [sys.executable, "-m", "qsession", *args],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "COLUMNS": "200"},
    )


def without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``qsession *args`` in a Python where importing ``module`` fails, as when its extra is
    not installed."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; from qsession.cli import main;"
        f" sys.exit(main({list(args)!r}))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_spec_prints_every_rule_with_its_source():
    out = qsession("spec").stdout
    for rule in (*RULES, *SERVICE_READINGS):
        assert rule.id in out
    assert out.count("source: ") == len(RULES) + len(SERVICE_READINGS)
    assert f"{len(RULES)} rules" in out


def test_spec_diagram_prints_mermaid_for_each_machine():
    assert "inactive --> active" in qsession("spec", "--diagram", "ibm").stdout.replace(
        "Inactive", "inactive"
    )
    azure = qsession("spec", "--diagram", "azure").stdout
    assert azure.splitlines()[1] == "stateDiagram-v2" and "TimedOut" in azure
    assert "batch" in qsession("spec", "--diagram", "ibm-batch").stdout.splitlines()[0]


def test_spec_into_a_closed_pipe_ends_quietly():
    process = subprocess.Popen(
        [sys.executable, "-m", "qsession", "spec"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| head` does once it has read enough: before anything is written
    stderr = process.stderr.read()
    assert process.wait() == 0
    assert stderr == ""


def parsers():
    top = build_parser()
    (commands,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        "qsession": top,
        **{f"qsession {n}": p for n, p in commands.choices.items() if p._actions[1:]},
        "qsession demo": demo_parser(),
        "qsession serve": serve_parser(),
    }


@pytest.mark.parametrize("name", ["qsession", "qsession spec", "qsession demo", "qsession serve"])
def test_every_option_has_help_and_shows_its_default(name):
    parser = parsers()[name]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help, f"{name} {action.option_strings} has no help"
        if action.default not in (None, False):
            assert "default" in action.help, f"{name} {action.option_strings} hides its default"


def test_help_is_plain_text_and_shows_the_defaults():
    top = qsession("--help").stdout
    assert "``" not in top
    for command in ("demo", "serve", "spec"):
        assert command in top
    serve = qsession("serve", "--help").stdout
    assert "(default: 8080)" in serve and "--log-level" in serve
    demo = qsession("demo", "--help").stdout
    assert "(default: 80)" in demo and "--plot FILE" in demo


def test_a_usage_error_is_one_line_pointing_at_help():
    result = qsession("demo", "--load", "2", check=False)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "qsession demo: --load must be from 0 to 0.9; got 2 (see 'qsession demo --help')"
    )


def test_a_max_time_over_the_plan_is_one_line_naming_the_plans_maximum():
    result = qsession("demo", "--max-time", "9h", check=False)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "at most 28800 s on the 'premium' plan; got '9h' = 32400 s" in line
    assert "inf" not in line


def test_a_malformed_max_time_is_one_line_with_the_real_plan_limit():
    line = one_line(qsession("demo", "--max-time", "1.5h", check=False).stderr)
    assert "whole units in d h m s order" in line and "at most 28800 s" in line
    assert "inf" not in line


@pytest.mark.parametrize(
    ("module", "args", "extra"),
    [
        ("qiskit", ["demo"], "local"),
        ("rich", ["demo"], "local"),
        ("fastapi", ["serve"], "serve"),
        ("matplotlib.figure", ["demo", "--plot", "session.png"], "plot"),
    ],
)
def test_a_missing_extra_is_one_line_with_the_install_command(module, args, extra):
    result = without(module, *args)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"qsession {args[0]} needs the '{extra}' extra" in line
    assert line.endswith(f"install it with: pip install 'qsession[{extra}]'")


def test_ctrl_c_during_a_wall_clock_demo_prints_what_happened_so_far():
    # A slow wall clock and a long classical step: the run is still going whenever the signal
    # lands, however loaded the machine; the session is open once its introduction is printed.
    process = subprocess.Popen(
        [sys.executable, "-m", "qsession", "demo", "--speed", "1", "--think-time", "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        seen = []
        while not any("what you are looking at" in line for line in seen):
            line = process.stdout.readline()
            assert line, "the demo ended before it opened its session"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        out = "".join(seen) + process.stdout.read()
        stderr = process.stderr.read()
        assert process.wait(timeout=120) == 130
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "interrupted (Ctrl-C): above is what happened up to then" in out
    assert re.search(r"│\s+0\.0 │ session opened, status 'Pending'", out)
    assert "(stopped by Ctrl-C)" in out


def test_serve_says_where_state_lives_and_keeps_it_in_memory_when_asked(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "qsession", "serve", "--port", "0", "--db", ":memory:"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = [process.stdout.readline() for _ in range(3)]
        process.send_signal(signal.SIGINT)  # during start-up or serving: either way, one line
        code = process.wait(timeout=120)
        errors = process.stderr.read()
        assert code in (0, 130), (banner, errors)
        assert "Traceback" not in errors
    finally:
        process.kill()
        process.wait()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
    assert url is not None, banner
    assert banner[1] == "state: kept in memory, gone when it stops (--db)\n"
    assert banner[2].startswith(f"dashboard: {url.group()}/ ")
    assert list(tmp_path.iterdir()) == []


def test_serve_names_the_file_its_state_is_kept_in(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "qsession", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    try:
        banner = [process.stdout.readline() for _ in range(2)]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) in (0, 130)
    finally:
        process.kill()
        process.wait()
    assert banner[1] == f"state: kept in {tmp_path.resolve() / 'qsession-serve.db'} (--db)\n"


def test_serve_with_a_state_file_it_cannot_open_says_so_in_one_line(tmp_path):
    missing = tmp_path / "no-such-dir" / "state.db"
    result = qsession("serve", "--port", "0", "--db", str(missing), check=False)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"cannot use {str(missing)!r} as the state file" in line
    assert line.endswith("or --db :memory: to keep nothing")
