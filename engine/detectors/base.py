"""A detector's conclusion: a declared outcome key plus the evidence behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from engine.checks.base import CheckResult, Evidence, FactValue


@dataclass(frozen=True)
class Outcome:
    key: str
    summary: str
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()

    def result(self) -> CheckResult:
        """The check result this outcome concludes (a check that adds nothing of its own)."""
        return CheckResult(self.key, self.summary, dict(self.facts), list(self.evidence))


def worst_of(outcomes: Sequence[Outcome], order: Sequence[str]) -> Outcome:
    """Several hosts' outcomes as one: the most telling key (earliest in ``order``) with
    its facts, every host's summary and every host's evidence."""
    rank = {k: i for i, k in enumerate(order)}
    worst = min(outcomes, key=lambda o: rank[o.key])
    return Outcome(
        worst.key,
        "; ".join(o.summary for o in outcomes),
        worst.facts,
        tuple(e for o in outcomes for e in o.evidence),
    )


def merge_outcomes(outcomes: Sequence[Outcome], order: Sequence[str]) -> Outcome:
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
