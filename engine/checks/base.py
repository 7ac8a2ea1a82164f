"""What a check is: declared metadata plus an async collect step and a pure detector.

A check type declares its named outcomes up front (``stacked``, ``single``,
``no_frames``...). The playbook maps every outcome to a next node, and lint
verifies that the mapping is complete. Branching is data, never ``eval``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.remote.inventory import Host, Inventory
from engine.remote.runner import Runner

FactValue = str | int | float | bool | None | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Evidence:
    """Something the operator should see to believe the conclusion."""

    title: str
    text: str
    host: str | None = None


@dataclass(frozen=True)
class LiveLine:
    """One line for a live pane while a check runs (a decoded packet, a ping reply)."""

    source: str  # e.g. "controller:tcpdump bond0"
    text: str
    anomaly: str | None = None  # why this line deserves highlighting


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


@dataclass
class CheckResult:
    outcome: str
    summary: str
    facts: dict[str, FactValue] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    tables: list[ResultTable] = field(default_factory=list)


class CheckParams(BaseModel):
    """Base for each check type's parameters (validated at playbook load time)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class CheckContext:
    runner: Runner
    inventory: Inventory
    hosts: list[Host]
    facts: Mapping[str, FactValue]
    timeout: float
    emit: Callable[[LiveLine], None] = lambda line: None


RunFn = Callable[[CheckContext, Any], Awaitable[CheckResult]]


@dataclass(frozen=True)
class CheckType:
    name: str
    title: str
    outcomes: tuple[str, ...]
    params: type[CheckParams]
    run: RunFn
    facts: tuple[str, ...] = ()  # fact keys it produces (besides "outcome")
    needs_hosts: bool = True
