"""Every rule cites what a user can open: a public page, an SDK file with its version, recorded
service behaviour with where it was recorded, or the project's own README."""

import re
from pathlib import Path

import pytest
from qsession.spec import RULES, SERVICE_READINGS

ROOT = Path(__file__).resolve().parents[2]
#: Citations of material outside the project or of its private tracker.
PRIVATE = re.compile(
    r"DESIGN\.md|reference/|seeds?/|\bseeds?\b|shared/|(?<!\.)\.\./|\bissues? \d", re.I
)
PUBLIC = re.compile(r"https://|qiskit-ibm-runtime \d+\.\d+|azure-quantum \d+\.\d+|README")


@pytest.mark.parametrize("rule", RULES + SERVICE_READINGS, ids=lambda rule: rule.id)
def test_rule_cites_only_public_sources(rule):
    assert PUBLIC.search(rule.source), rule.source
    for text in (rule.source, rule.reading or ""):
        assert not PRIVATE.search(text), text


def test_every_provider_rule_cites_a_provider_page_or_sdk_file():
    for rule in RULES:
        if rule.provider != "any":
            assert re.search(r"https://|\d+\.\d+\.\d+", rule.source), rule.id


@pytest.mark.parametrize("package", ["core", "spec"])
def test_the_core_and_the_spec_cite_nothing_outside_the_project(package):
    for path in sorted((ROOT / package).glob("*.py")):
        found = [line for line in path.read_text().splitlines() if PRIVATE.search(line)]
        assert found == [], path.name
