"""The ``qsession`` command as a user runs it."""

import subprocess
import sys

from qsession.spec import RULES


def qsession(*args):
    return subprocess.run(
        [sys.executable, "-m", "qsession", *args], capture_output=True, text=True, check=True
    ).stdout


def test_spec_prints_every_rule_with_its_source():
    out = qsession("spec")
    for rule in RULES:
        assert rule.id in out
    assert out.count("source: ") == len(RULES)
    assert f"{len(RULES)} rules" in out


def test_spec_diagram_prints_mermaid_for_each_machine():
    assert "inactive --> active" in qsession("spec", "--diagram", "ibm").replace(
        "Inactive", "inactive"
    )
    azure = qsession("spec", "--diagram", "azure")
    assert azure.splitlines()[1] == "stateDiagram-v2" and "TimedOut" in azure
    assert "batch" in qsession("spec", "--diagram", "ibm-batch").splitlines()[0]
