"""What the checks covered in this process: which rules the properties exercised (a property
that applied to a step), and what each exhaustive exploration reached."""

from __future__ import annotations

from collections import Counter

#: Rule id -> how many times its property applied.
COVERAGE: Counter[str] = Counter()
#: One line per exploration run: the policy, the bound, and the sessions and traces covered.
EXPLORATIONS: list[str] = []
