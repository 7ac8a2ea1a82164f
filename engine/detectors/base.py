"""Several hosts' conclusions as one: the most telling outcome, every summary and evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.results import CheckResult, FactValue


def worst_of(outcomes: Sequence[CheckResult], order: Sequence[str]) -> CheckResult:
    """Several hosts' outcomes as one: the most telling key (earliest in ``order``) with
    its facts, every host's summary and every host's evidence."""
    rank = {k: i for i, k in enumerate(order)}
    worst = min(outcomes, key=lambda o: rank[o.outcome])
    return CheckResult(
        worst.outcome,
        "; ".join(o.summary for o in outcomes),
        worst.facts,
        tuple(e for o in outcomes for e in o.evidence),
    )


def merge_outcomes(outcomes: Sequence[CheckResult], order: Sequence[str]) -> CheckResult:
    """``worst_of``, with every host's facts: lists joined, counts summed."""
    facts: dict[str, FactValue] = {}
    for o in outcomes:
        for k, v in o.facts.items():
            have = facts.get(k)
            if isinstance(v, list):
                merged = have if isinstance(have, list) else []
                merged.extend(x for x in v if x not in merged)
                facts[k] = merged
            elif isinstance(v, int) and not isinstance(v, bool) and isinstance(have, int):
                facts[k] = have + v
            else:
                facts.setdefault(k, v)
    return replace(worst_of(outcomes, order), facts=facts)
