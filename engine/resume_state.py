"""What the investigation screen showed, rebuilt from its journal (``--resume``).

The walker replays the path, the facts and the notes. ``ScreenReplay`` replays the
rest of the screen from the same events, one at a time as the screen lived them:

- the last packet table a check produced (``t`` opens it), even if the walk went
  back past that check, as the screen kept it;
- each live pane's last lines: the ``live`` samples the screen journalled, per pane
  when the event says which pane showed which source (``panes``), else the newest
  sources in the order they were last active; a pane given to another source starts
  empty, as the screen cleared it;
- in a drill (``session`` has ``drill``): the clock, counting only the time the
  process was alive (``engine.journal.alive_seconds``), the score so far and the
  hints asked, in order.

``restore(graph, events)`` is the state after the last event; a ``resumed`` event
and the drill's ``heartbeat`` change nothing but the clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.drill_score import HINT, DrillSpec, ScoreCard, drill_spec, score
from engine.errors import CloudtalesError
from engine.journal import Event, alive_seconds
from engine.journal_follow import LIVE
from engine.playbook.graph import PlaybookGraph
from engine.results import FactValue, ResultTable
from engine.walker import Walker

PANE_LINES = 100
"""Lines kept per pane: the journal holds a sample of what the panes showed anyway."""
PANES = 4


@dataclass(frozen=True)
class PaneView:
    pane: str  # the pane's id on the screen ("pane-2"); "" when the journal did not say
    source: str  # what it showed: a check's source or "host: command"
    lines: tuple[str, ...]  # its last lines, oldest first


@dataclass(frozen=True)
class PacketTables:
    node: str  # the check that made them
    tables: tuple[ResultTable, ...]


@dataclass(frozen=True)
class DrillProgress:
    name: str
    seconds: float  # alive time from the session event to the last event
    hints: tuple[str, ...]  # the hints asked, in order
    card: ScoreCard  # the attempt scored as it stands (``card.so_far``: points so far)


@dataclass(frozen=True)
class ResumeState:
    symptom: str
    path: tuple[str, ...]
    current: str
    facts: dict[str, FactValue]
    notes: tuple[tuple[float, str], ...]
    packets: PacketTables | None
    panes: tuple[PaneView, ...]
    drill: DrillProgress | None = None
    events: int = 0  # how many events it was rebuilt from


@dataclass
class _Pane:
    source: str
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=PANE_LINES))
    order: int = 0  # when it last got lines


class ScreenReplay:
    """Folds journal events into what the screen shows (``apply`` each, ``state()``)."""

    def __init__(self, graph: PlaybookGraph) -> None:
        self.graph = graph
        self.walker = Walker(graph)
        self.packets: PacketTables | None = None
        self.hints: list[str] = []
        self.spec: DrillSpec | None = None
        self._meta: dict[str, Any] = {}
        self._panes: dict[str, _Pane] = {}  # pane id (or "?source" when unknown) -> pane
        self._tick = 0

    @property
    def events(self) -> list[Event]:
        return self.walker.events

    def apply(self, ev: Event) -> None:
        try:
            self.walker.apply(ev)
        except (KeyError, ValueError, TypeError) as exc:
            raise CloudtalesError(f"event {ev.seq} ({ev.type}): cannot replay it ({exc})") from None
        d = ev.data
        if ev.type == "session":
            self._meta = dict(d)
            name = d.get("drill")
            self.spec = drill_spec(self.graph, str(name)) if name else None
        elif ev.type == "check_result" and d.get("tables"):
            tables = tuple(ResultTable.from_dict(t) for t in d["tables"])
            self.packets = PacketTables(str(d.get("node", "")), tables)
        elif ev.type == HINT:
            self.hints.append(str(d.get("text", "")))
        elif ev.type == LIVE:
            self._live(d)

    def apply_all(self, events: Iterable[Event]) -> ScreenReplay:
        for ev in events:
            self.apply(ev)
        return self

    def _live(self, d: dict[str, Any]) -> None:
        where = d.get("panes")
        where = where if isinstance(where, dict) else {}
        for source, pane_id in where.items():  # given to a source that has no lines yet
            held = self._panes.get(str(pane_id))
            if held is None or held.source != str(source):
                self._panes[str(pane_id)] = _Pane(str(source))
        for source, sample in dict(d.get("sources") or {}).items():
            src = str(source)
            key = str(where.get(src) or f"?{src}")
            pane = self._panes.get(key)
            if pane is None or pane.source != src:  # the screen cleared it for a new source
                pane = self._panes[key] = _Pane(src)
            omitted = int(sample.get("omitted", 0))
            if omitted:  # the sampler keeps the newest lines: the gap is before them
                pane.lines.append(f"-- {omitted} lines not journalled")
            pane.lines.extend(str(x) for x in sample.get("lines", []))
            self._tick += 1
            pane.order = self._tick

    def _pane_views(self) -> tuple[PaneView, ...]:
        known = sorted(
            ((k, p) for k, p in self._panes.items() if not k.startswith("?")),
            key=lambda kp: kp[0],
        )
        shown = {p.source for _, p in known}
        unknown = [p for k, p in self._panes.items() if k.startswith("?") and p.source not in shown]
        unknown.sort(key=lambda p: p.order)
        free = max(0, PANES - len(known))
        views = [PaneView(k, p.source, tuple(p.lines)) for k, p in known]
        views += [PaneView("", p.source, tuple(p.lines)) for p in unknown[-free:] if free]
        return tuple(views)

    def state(self) -> ResumeState:
        w = self.walker
        drill: DrillProgress | None = None
        if self.spec is not None:
            card = score(
                self.graph,
                w.events,
                self.spec,
                blind=bool(self._meta.get("blind")),
                surprise=bool(self._meta.get("surprise")),
                now=0.0,
            )
            start = next(i for i, e in enumerate(w.events) if e.type == "session")
            drill = DrillProgress(
                self.spec.name, alive_seconds(w.events[start:]), tuple(self.hints), card
            )
        return ResumeState(
            symptom=w.state.symptom,
            path=tuple(w.path),
            current=w.state.current,
            facts=w.facts,
            notes=tuple(w.state.notes),
            packets=self.packets,
            panes=self._pane_views(),
            drill=drill,
            events=len(w.events),
        )


def restore(graph: PlaybookGraph, events: Sequence[Event]) -> ResumeState:
    """The screen after the last of ``events``."""
    return ScreenReplay(graph).apply_all(events).state()
