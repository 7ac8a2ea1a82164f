"""How a walk ends: a diagnosis standing on observed facts, or an honest "inconclusive".

The walker reaches a diagnosis node; ``judge`` names it only when one of its evidence
sets holds on what was observed (``engine.playbook.evidence``). Otherwise the ending is
inconclusive, and says which checks could not run (the host, the reason, the command to
try by hand) and which requirement was not met. A check that could not run is never a
negative finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.playbook.evidence import Requirement, fill, parse_set, show_value
from engine.playbook.model import Diagnosis


@dataclass(frozen=True)
class Failure:
    """A check that could not check."""

    node: str
    title: str
    host: str | None
    reason: str
    by_hand: str = ""

    @property
    def short_reason(self) -> str:
        """The reason without a leading ``host NAME:`` that ``@host`` already says."""
        prefix = f"host {self.host}: "
        return (
            self.reason[len(prefix) :]
            if self.host and self.reason.startswith(prefix)
            else self.reason
        )

    def line(self) -> str:
        at = f"@{self.host}" if self.host else ""
        return f"{self.node}{at} ({self.short_reason})"


@dataclass(frozen=True)
class Unmet:
    requirement: str
    observed: Any = None
    seen: bool = False

    def line(self) -> str:
        got = f"observed {show_value(self.observed)}" if self.seen else "not observed"
        return f"{self.requirement} ({got})"


@dataclass(frozen=True)
class Verdict:
    diagnosis: Diagnosis | None  # set only when its evidence holds
    reached: str  # the diagnosis node the walk reached, or "inconclusive"
    backed_by: tuple[str, ...] = ()  # the facts of the evidence set that held
    failures: tuple[Failure, ...] = ()
    unmet: tuple[Unmet, ...] = ()
    operator_facts: frozenset[str] = field(default_factory=frozenset)
    facts: Mapping[str, Any] = field(default_factory=dict)
    # the check whose outcome led to the playbook's "inconclusive": CHECK@HOSTS (outcome: summary)
    ended_by: str = ""

    @property
    def conclusive(self) -> bool:
        return self.diagnosis is not None

    @property
    def title(self) -> str:
        if self.diagnosis is not None:
            return fill(self.diagnosis.title, self.facts)
        if self.failures:
            return "Inconclusive: the evidence for a diagnosis could not be gathered"
        if self.ended_by and not self.unmet:
            return f"Inconclusive: the playbook goes no further after {self.ended_by}"
        return f"Inconclusive: what was observed does not back {self.reached}"

    @property
    def explanation(self) -> str:
        return fill(self.diagnosis.explanation, self.facts) if self.diagnosis else ""

    def line(self) -> str:
        """The headless last line: ``diagnosis: ID`` or ``inconclusive: ...``."""
        if self.diagnosis is not None:
            return f"diagnosis: {self.diagnosis.id}"
        parts = [f.line() for f in self.failures]
        if not parts and self.unmet:
            parts = [f"{self.reached} needs " + ", ".join(u.line() for u in self.unmet)]
        if not parts and self.ended_by:
            parts = [self.ended_by]
        return "inconclusive: " + (", ".join(parts) or "the walk was skipped to its end")

    def by_hand(self) -> list[str]:
        """What to try by hand, a line per check that could not run."""
        out = []
        for f in self.failures:
            where = f" on {f.host}" if f.host else ""
            how = f"`{f.by_hand}`" if f.by_hand else f"the check '{f.title}'"
            out.append(f"{f.node}: run {how}{where} ({f.short_reason})")
        return out


def _unmet(reqs: Sequence[Requirement], facts: Mapping[str, Any], dia: Diagnosis) -> list[Unmet]:
    out = []
    for r in reqs:
        ok = r.holds(facts) and (dia.from_errors or not r.on_error)
        if not ok:
            out.append(Unmet(str(r), facts.get(r.fact), r.fact in facts))
    return out


def judge(
    dia: Diagnosis | None,
    facts: Mapping[str, Any],
    operator_facts: set[str],
    failures: Sequence[Failure],
    ended_by: str = "",
) -> Verdict:
    """``ended_by``: the step whose outcome led to the playbook's inconclusive, if one did."""
    fails, ops, seen = tuple(failures), frozenset(operator_facts), dict(facts)
    if dia is None:
        return Verdict(
            None, "inconclusive", failures=fails, operator_facts=ops, facts=seen, ended_by=ended_by
        )
    best: list[Unmet] | None = None
    for texts in dia.requirement_sets():
        reqs = parse_set(texts)
        unmet = _unmet(reqs, facts, dia)
        if not unmet:
            backed = tuple(r.fact for r in reqs)
            return Verdict(dia, dia.id, backed, fails, operator_facts=ops, facts=seen)
        if best is None or len(unmet) < len(best):
            best = unmet
    return Verdict(
        None, dia.id, failures=fails, unmet=tuple(best or ()), operator_facts=ops, facts=seen
    )
