"""The mutation gate: every planted mutant of the core is caught by the properties alone
(the reference-model comparison, the checker and the explorer; unit tests do not count).

The mutants run in subprocesses, two at a time, each with a time limit; the rule-coverage
report lists the mutants each rule's property caught.
"""

from collections import Counter

import pytest
from qsession.spec import RULES
from qsession.spec.coverage import MUTANTS_CAUGHT
from qsession.spec.mutation import MUTANTS, RULES_WITHOUT_MUTANTS, occurrences, run_all

#: Seconds a mutant may run; the unmutated core needs about a tenth of it.
TIMEOUT = 120.0
GATE = pytest.mark.timeout(1800)


def test_every_mutant_patches_text_that_occurs_exactly_once_in_the_core():
    assert {m.id: occurrences(m) for m in MUTANTS} == {m.id: 1 for m in MUTANTS}


def test_every_core_rule_has_at_least_two_mutants():
    per_rule = Counter(rule for mutant in MUTANTS for rule in mutant.rules)
    catalogue = {rule.id for rule in RULES}
    assert set(per_rule) <= catalogue
    assert {r for r in catalogue - RULES_WITHOUT_MUTANTS if per_rule[r] < 2} == set()
    assert len({m.id for m in MUTANTS}) == len(MUTANTS)


@pytest.fixture(scope="module")
def verdicts():
    control, *verdicts = run_all([None, *MUTANTS], timeout=TIMEOUT)
    for verdict in verdicts:
        for rule in verdict.rules:
            MUTANTS_CAUGHT[rule].append(verdict.mutant)
    return control, {verdict.mutant: verdict for verdict in verdicts}


@GATE
def test_the_unmutated_core_passes_every_property_of_the_gate(verdicts):
    control, _ = verdicts
    assert (control.outcome, control.rules, control.stage) == ("control", (), None), control


@GATE
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_planted_mutant_is_caught_by_a_property(verdicts, mutant):
    verdict = verdicts[1][mutant.id]
    assert verdict.outcome in ("caught", "timeout"), verdict
