"""A detector's conclusion: a declared outcome key plus the evidence behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
