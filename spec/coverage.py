"""What the checks covered in this process: which rules the properties exercised (a property
that applied to a step), what each exhaustive exploration reached, and which planted mutants
of the core each rule's property caught."""

from __future__ import annotations

from collections import Counter, defaultdict

#: Rule id -> how many times its property applied.
COVERAGE: Counter[str] = Counter()
#: One line per exploration run: the policy, the bound, and the sessions and traces covered.
EXPLORATIONS: list[str] = []
#: Rule id -> the mutants of the mutation gate its property caught.
MUTANTS_CAUGHT: defaultdict[str, list[str]] = defaultdict(list)
