"""Scoring a drill from its journal: time, steps against the shortest path, skips, wrong
turns, hints, and whether the diagnosis was the one the lab was built to show.

A wrong turn is a move onto a node that is not on the shortest path (networkx, over
``PlaybookGraph.g``) from the symptom to the expected diagnosis. Picking a symptom
that cannot lead there (a blind drill) counts as one too, and the path is then
measured from the symptom the drill meant. Everything is derived from the events, so
a card can be recomputed from any journal (in a surprise drill, only what happens
after the fault counts); attempts are kept, one JSON line each, in
``$XDG_STATE_HOME/cloudtales/drills.jsonl``.

The clock counts only the time the drill's process was alive (``alive_seconds``):
killed and resumed (``investigate --resume``), a drill is the same attempt, scored
once more when it ends; the history keeps the newest card per attempt (``started``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError
from engine.journal import RESUMED, Event, alive_seconds
from engine.playbook.graph import PlaybookGraph
from engine.walker import Walker

HINT = "hint"
"""Journal event type: the trainee asked for a hint (``{node, text}``)."""
FAULT_INJECTED = "fault_injected"
"""Journal event type: a surprise drill switched the lab to faulty (``{after_seconds}``)."""

PENALTY = {"wrong_turn": 10, "hint": 10, "skip": 5, "extra_step": 3, "back": 2}


@dataclass(frozen=True)
class DrillSpec:
    name: str
    symptom: str
    expect: str


@dataclass
class ScoreCard:
    drill: str
    symptom: str  # the symptom the trainee started from
    expect: str
    reached: str | None  # the first diagnosis reached (None: gave up)
    right: bool
    seconds: float | None  # from the start (or the injected fault) to that diagnosis
    steps: int  # forward moves: checks run or failed, skips, answers
    shortest: int  # checks on the shortest path
    shortest_path: list[str]
    skips: int
    backs: int
    wrong_turns: int
    hints: int
    points: int
    off_path: list[str] = field(default_factory=list)  # where the wrong turns led
    blind: bool = False
    surprise: bool = False
    ts: float = 0.0
    started: float = 0.0  # the session event's time: one attempt, however often resumed

    @property
    def finished(self) -> bool:
        return self.reached is not None

    @property
    def so_far(self) -> int:
        """The points the attempt would get if its next diagnosis were the right one."""
        return max(10, 100 - sum(pts for _, pts in self.penalties()))

    def penalties(self) -> list[tuple[str, int]]:
        """Why points were lost: (what, points), only the non-zero ones."""
        extra = max(0, self.steps - self.shortest)
        items = [
            (f"{self.wrong_turns} wrong turn(s)", self.wrong_turns * PENALTY["wrong_turn"]),
            (f"{self.hints} hint(s)", self.hints * PENALTY["hint"]),
            (f"{self.skips} skip(s)", self.skips * PENALTY["skip"]),
            (f"{extra} step(s) over the shortest path", extra * PENALTY["extra_step"]),
            (f"{self.backs} step(s) back", self.backs * PENALTY["back"]),
        ]
        return [(what, pts) for what, pts in items if pts]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreCard:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def shortest_path(graph: PlaybookGraph, symptom: str, expect: str) -> list[str] | None:
    return graph.shortest_path(symptom, expect)


def points(right: bool, wrong_turns: int, hints: int, skips: int, extra: int, backs: int) -> int:
    """100 for the right diagnosis, minus the penalties (never below 10); 0 if wrong.

    >>> points(True, 0, 0, 0, 0, 0), points(True, 1, 1, 0, 2, 0), points(False, 0, 0, 0, 0, 0)
    (100, 74, 0)
    """
    if not right:
        return 0
    lost = (
        wrong_turns * PENALTY["wrong_turn"]
        + hints * PENALTY["hint"]
        + skips * PENALTY["skip"]
        + extra * PENALTY["extra_step"]
        + backs * PENALTY["back"]
    )
    return max(10, 100 - lost)


def score(
    graph: PlaybookGraph,
    events: Sequence[Event],
    spec: DrillSpec,
    *,
    blind: bool = False,
    surprise: bool = False,
    now: float | None = None,
) -> ScoreCard:
    """The score card of the attempt the events record (finished or not)."""
    walker = Walker(graph)
    start_ts: float | None = None
    fault_ts: float | None = None
    reached: str | None = None
    steps = skips = backs = hints = wrong = 0
    off_path: list[str] = []
    on_path: set[str] = set()
    path: list[str] = []
    alive = began_alive = reached_alive = 0.0  # seconds alive since the first event
    prev: Event | None = None
    for ev in events:
        if prev is not None and ev.type != RESUMED:
            alive += max(0.0, ev.ts - prev.ts)
        prev = ev
        before = len(walker.state.steps)
        walker.apply(ev)
        if ev.type == "session":
            start_ts, began_alive = ev.ts, alive
            sym = walker.state.symptom
            found = shortest_path(graph, sym, spec.expect)
            if found is None:  # a symptom that cannot lead there: one wrong turn
                wrong += 1
                off_path.append(sym)
                found = shortest_path(graph, spec.symptom, spec.expect)
            if found is None:
                raise CloudtalesError(f"drill {spec.name}: {spec.expect} unreachable")
            path, on_path = found, set(found)
        elif ev.type == FAULT_INJECTED and fault_ts is None:  # "at": when, if journalled later
            fault_ts = float(ev.data.get("at", ev.ts))
            if surprise:
                began_alive = max(began_alive, alive - max(0.0, ev.ts - fault_ts))
        if surprise and fault_ts is None:
            continue  # before a surprise fault the lab is healthy: nothing counts yet
        if ev.type == HINT:
            hints += 1
        elif ev.type == "skip":
            skips += 1
        elif ev.type == "back":
            backs += 1
        for st in walker.state.steps[before:]:
            steps += 1
            if st.next_node not in on_path:
                wrong += 1
                off_path.append(st.next_node)
        if reached is None and (verdict := walker.verdict) is not None:
            # a diagnosis counts only when its evidence holds; else the walk was inconclusive
            reached = verdict.diagnosis.id if verdict.diagnosis else "inconclusive"
            reached_alive = alive
    if start_ts is None:
        raise CloudtalesError(f"drill {spec.name}: the journal has no session event")
    right = reached == spec.expect
    shortest = max(0, len(path) - 2)
    return ScoreCard(
        drill=spec.name,
        symptom=walker.state.symptom,
        expect=spec.expect,
        reached=reached,
        right=right,
        seconds=None if reached is None else round(max(0.0, reached_alive - began_alive), 1),
        steps=steps,
        shortest=shortest,
        shortest_path=path,
        skips=skips,
        backs=backs,
        wrong_turns=wrong,
        hints=hints,
        points=points(right, wrong, hints, skips, max(0, steps - shortest), backs),
        off_path=off_path,
        blind=blind,
        surprise=surprise,
        ts=time.time() if now is None else now,
        started=start_ts,
    )


def clock(events: Sequence[Event], now: float) -> float:
    """A drill's clock: seconds alive since its session event, running until ``now``.

    >>> ev = [Event("session", ts=100.0), Event("hint", ts=130.0), Event(RESUMED, ts=4000.0)]
    >>> clock(ev, now=4012.0)
    42.0
    """
    start = next((i for i, e in enumerate(events) if e.type == "session"), None)
    if start is None:
        return 0.0
    return alive_seconds(events[start:]) + max(0.0, now - events[-1].ts)


def drill_spec(graph: PlaybookGraph, name: str) -> DrillSpec:
    """The drill a playbook declares for lab ``name`` (its symptom and diagnosis)."""
    for src in graph.sources:
        drill = src.playbook.drill
        if drill is not None and drill.lab == name:
            return DrillSpec(name, drill.symptom, drill.expect)
    raise CloudtalesError(f"drill {name!r}: no playbook declares it")


def resumed_attempt(
    graph: PlaybookGraph, events: Sequence[Event], history: Path | None = None
) -> DrillAttempt | None:
    """The drill attempt a journal records (None: it is not a drill's journal)."""
    session = next((e for e in events if e.type == "session"), None)
    name = session.data.get("drill") if session is not None else None
    if session is None or not name:
        return None
    return DrillAttempt(
        drill_spec(graph, str(name)),
        blind=bool(session.data.get("blind")),
        surprise=bool(session.data.get("surprise")),
        history=history,
    )


def hint(graph: PlaybookGraph, walker: Walker, expect: str) -> str:
    """What a seasoned operator would say now, without naming the diagnosis."""
    cur = walker.state.current
    if walker.done:
        return "you reached a diagnosis: read its evidence, or go back (b) if unconvinced"
    ahead = graph.shortest_path(cur, expect) if cur else None
    if ahead is None:
        for st in reversed(walker.state.steps):
            if graph.shortest_path(st.node, expect) is not None:
                return (
                    f"this branch cannot lead to the root cause: go back (b) to {st.node} "
                    "and let its check run rather than skipping or answering it"
                )
        return "this symptom cannot lead to the root cause: quit and pick another one"
    chk = graph.check(cur)
    nxt = ahead[1] if len(ahead) > 1 else expect
    leading = [o for o, target in chk.on.items() if target == nxt]
    if len(leading) == len(chk.on):
        return f"run {cur} (r): whatever it finds, {nxt} comes next"
    if leading:
        return f"run {cur} (r): the outcome that matters here is {' or '.join(map(repr, leading))}"
    return f"run {cur} (r); {' '.join(chk.why.split())}"


# ---- history ----------------------------------------------------------------------


def history_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cloudtales" / "drills.jsonl"


def append_history(card: ScoreCard, path: Path | None = None) -> Path:
    p = path or history_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(card.to_dict()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return p


def load_history(drill: str | None = None, path: Path | None = None) -> list[ScoreCard]:
    """Every recorded attempt (of ``drill``), oldest first; torn lines are skipped.

    An attempt scored again after a resume keeps its place with its newest card."""
    p = path or history_path()
    try:
        raw = p.read_text()
    except FileNotFoundError:
        return []
    cards: list[ScoreCard] = []
    where: dict[tuple[str, float], int] = {}
    for line in raw.splitlines():
        try:
            card = ScoreCard.from_dict(json.loads(line))
        except (ValueError, TypeError):
            continue
        if drill is not None and card.drill != drill:
            continue
        key = (card.drill, card.started)
        if card.started and key in where:
            cards[where[key]] = card
            continue
        where[key] = len(cards)
        cards.append(card)
    return cards


def best(cards: Iterable[ScoreCard]) -> ScoreCard | None:
    """The best finished attempt: most points, then fastest."""
    done = [c for c in cards if c.finished and c.right]
    return max(done, key=lambda c: (c.points, -(c.seconds or 0.0)), default=None)


@dataclass
class DrillAttempt:
    """One trainee's attempt at a drill: scored once, when it ends, into the history."""

    spec: DrillSpec
    blind: bool = False
    surprise: bool = False
    history: Path | None = None
    card: ScoreCard | None = None

    def fault_started(self, events: Iterable[Event]) -> bool:
        return not self.surprise or any(e.type == FAULT_INJECTED for e in events)

    def finish(self, graph: PlaybookGraph, events: Sequence[Event]) -> ScoreCard:
        """Score the attempt and append it to the history (only the first time)."""
        if self.card is None:
            self.card = score(graph, events, self.spec, blind=self.blind, surprise=self.surprise)
            append_history(self.card, self.history)
        return self.card

    def past(self) -> list[ScoreCard]:
        return load_history(self.spec.name, self.history)
