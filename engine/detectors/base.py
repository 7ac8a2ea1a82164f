"""A detector's conclusion: a declared outcome key plus the evidence behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.checks.base import Evidence, FactValue


@dataclass(frozen=True)
class Outcome:
    key: str
    summary: str
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
