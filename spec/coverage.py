"""Which rules the properties exercised in this process (a property that applied to a step)."""

from __future__ import annotations

from collections import Counter

#: Rule id -> how many times its property applied.
COVERAGE: Counter[str] = Counter()
