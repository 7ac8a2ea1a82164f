"""What checks and detectors conclude, at the bottom of the engine: no module here imports
a check, a detector or a transport.

``CheckResult`` is the one idea of a conclusion: a declared outcome key, a one-line
summary, the facts it establishes, the evidence an operator should see to believe it,
and any tables (the same packet at every capture point). A detector returns one from
parsed data; a check returns its detector's (or merges several hosts' with
``engine.detectors.base.worst_of``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FactValue = str | int | float | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Evidence:
    """Something the operator should see to believe the conclusion."""

    title: str
    text: str
    host: str | None = None


@dataclass(frozen=True)
class ResultTable:
    """A table for the operator (e.g. the same packet at every capture point).

    Plain strings, so it is journalled as it is and a follower renders the same thing;
    ``flags`` marks each row "lost", "changed" or "" (bounded by the producer).
    ``frames`` (optional, per row and per column) holds the first bytes of the frame a
    cell describes as ``"LINKTYPE:HEX"`` ("" where there is none), so the packet can be
    decoded later, by a follower or after ``--resume`` too."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    flags: tuple[str, ...] = ()
    omitted: int = 0  # rows left out to keep the table bounded
    frames: tuple[tuple[str, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "flags": list(self.flags),
            "omitted": self.omitted,
        }
        if self.frames:
            data["frames"] = [list(r) for r in self.frames]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultTable:
        return cls(
            title=str(data.get("title", "")),
            columns=tuple(str(c) for c in data.get("columns", [])),
            rows=tuple(tuple(str(c) for c in r) for r in data.get("rows", [])),
            flags=tuple(str(f) for f in data.get("flags", [])),
            omitted=int(data.get("omitted", 0)),
            frames=tuple(tuple(str(c) for c in r) for r in data.get("frames", [])),
        )


@dataclass(frozen=True)
class CheckResult:
    outcome: str  # one of the check type's declared outcomes
    summary: str
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    evidence: Sequence[Evidence] = ()
    tables: Sequence[ResultTable] = ()
