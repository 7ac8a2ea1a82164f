"""Following a journal that another process is writing, and what it journals for followers.

``JournalTail.poll()`` stats the file and reads only the bytes added since the last
poll: complete lines become events, a torn last line (the writer is mid-``write``)
waits for the rest of it, and a line that stays torn (the writer crashed; the next
``Journal()`` sealed it with a newline) is skipped, as ``read_events`` does. A file
that shrank or was replaced (new inode) is read again from the start and the batch
says ``reset``, so the follower rebuilds its state.

``Follower`` turns the tail into what a second screen shows: a ``Walker`` rebuilt
from the events (decision path, facts, diagnosis), the check the operator is
running, and the live pane lines the operator's side journalled.

``LiveSampler`` is that operator's side: live panes run at thousands of lines a
second and the journal is fsynced per event, so it journals a bounded sample, the
newest ``per_flush`` lines per source per flush (about once a second) and at most
``per_step`` lines per source per step, with counts of what it left out.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError
from engine.journal import Event, event_from_dict
from engine.playbook.graph import PlaybookGraph
from engine.walker import Walker

LIVE = "live"
"""Journal event type: a sample of live pane lines, ``{node, sources: {src: {lines, omitted}}}``."""

MAX_LINE = 16 << 20  # a partial line longer than this is not a journal line: drop it


@dataclass(frozen=True)
class TailBatch:
    events: list[Event]
    reset: bool = False  # the file was truncated or replaced: state must be rebuilt
    skipped: int = 0  # complete lines that were not JSON (torn by a crash and sealed)


class JournalTail:
    """Reads a growing JSONL journal incrementally (no re-reading, no whole-file reads)."""

    def __init__(self, path: str | Path, max_read: int = 4 << 20) -> None:
        self.path = Path(path)
        self.max_read = max_read
        self.offset = 0
        self.lines = 0
        self._partial = b""
        self._inode: int | None = None

    @property
    def pending(self) -> int:
        """Bytes of a torn last line waiting for its end."""
        return len(self._partial)

    def poll(self) -> TailBatch:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._inode is None:
                return TailBatch([])
            self._restart()
            return TailBatch([], reset=True)
        reset = self._inode is not None and (st.st_ino != self._inode or st.st_size < self.offset)
        if reset:
            self._restart()
        self._inode = st.st_ino
        if st.st_size <= self.offset:
            return TailBatch([], reset)
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(min(st.st_size - self.offset, self.max_read))
        self.offset += len(data)
        *complete, partial = (self._partial + data).split(b"\n")
        self._partial = partial if len(partial) <= MAX_LINE else b""
        events: list[Event] = []
        skipped = 0
        for raw in complete:
            self.lines += 1
            if not raw.strip():
                continue
            ev = self._parse(raw)
            if ev is None:
                skipped += 1
            else:
                events.append(ev)
        return TailBatch(events, reset, skipped)

    def _parse(self, raw: bytes) -> Event | None:
        try:
            obj = json.loads(raw)
        except ValueError:
            if self.lines == 1:
                raise CloudtalesError(
                    f"{self.path}:1: not a cloudtales journal (invalid JSON)"
                ) from None
            return None
        if not isinstance(obj, dict) or "type" not in obj:
            raise CloudtalesError(f"{self.path}:{self.lines}: not a journal event (no 'type')")
        return event_from_dict(obj)

    def _restart(self) -> None:
        self.offset = 0
        self.lines = 0
        self._partial = b""
        self._inode = None


# ---- the operator's side: a bounded sample of live lines --------------------------


@dataclass
class _Source:
    lines: deque[str]
    new: int = 0  # lines added since the last flush
    journalled: int = 0  # lines journalled during this step


class LiveSampler:
    """Collects live lines per source; ``take()`` returns the ``live`` event's data."""

    def __init__(self, per_flush: int = 20, per_step: int = 400) -> None:
        self.per_flush = per_flush
        self.per_step = per_step
        self._sources: dict[str, _Source] = {}

    def add(self, source: str, lines: Iterable[str]) -> None:
        src = self._sources.get(source)
        if src is None:
            src = self._sources[source] = _Source(deque(maxlen=self.per_flush))
        for line in lines:
            src.lines.append(line)
            src.new += 1

    def new_step(self) -> None:
        """A new check started: every source gets its full per-step budget again."""
        for src in self._sources.values():
            src.journalled = 0

    def take(self) -> dict[str, Any] | None:
        """``{"sources": {source: {"lines": [...], "omitted": n}}}`` or None if nothing new."""
        out: dict[str, dict[str, Any]] = {}
        for name, src in self._sources.items():
            if not src.new:
                continue
            budget = max(0, self.per_step - src.journalled)
            kept = list(src.lines)[-min(src.new, len(src.lines), budget) :] if budget else []
            src.journalled += len(kept)
            out[name] = {"lines": kept, "omitted": src.new - len(kept)}
            src.new = 0
            src.lines.clear()
        return {"sources": out} if out else None


# ---- the follower's side -----------------------------------------------------------


@dataclass(frozen=True)
class Running:
    node: str
    hosts: tuple[str, ...]
    since: float


@dataclass
class FollowUpdate:
    changed: bool = False  # the walk (path, facts, step, diagnosis) may have changed
    reset: bool = False  # the journal was replaced: panes must be cleared
    live: list[tuple[str, str]] = field(default_factory=list)  # (source, line), oldest first
    events: int = 0


class Follower:
    """A read-only replica of an investigation, fed by ``poll()``."""

    def __init__(self, graph: PlaybookGraph, path: str | Path) -> None:
        self.graph = graph
        self.tail = JournalTail(path)
        self.problems: list[str] = []
        self._restart()

    @property
    def path(self) -> Path:
        return self.tail.path

    @property
    def started(self) -> bool:
        return bool(self.walker.state.symptom)

    def _restart(self) -> None:
        self.walker = Walker(self.graph)
        self.session: dict[str, Any] = {}
        self.running: Running | None = None
        self.last_ts: float | None = None
        self.live_lines = 0

    def poll(self) -> FollowUpdate:
        batch = self.tail.poll()
        update = FollowUpdate(reset=batch.reset, events=len(batch.events))
        if batch.reset:
            self._restart()
            update.changed = True
        for ev in batch.events:
            self._apply(ev, update)
        return update

    def _apply(self, ev: Event, update: FollowUpdate) -> None:
        self.last_ts = ev.ts
        d = ev.data
        if ev.type == LIVE:
            for source, sample in dict(d.get("sources", {})).items():
                lines = [str(x) for x in sample.get("lines", [])]
                omitted = int(sample.get("omitted", 0))
                if omitted:
                    lines.append(f"-- {omitted} more lines not journalled")
                update.live += [(str(source), line) for line in lines]
                self.live_lines += len(lines)
            return
        if ev.type == "session":
            self.session = dict(d)
        elif ev.type == "check_started":
            self.running = Running(
                str(d.get("node", "")), tuple(str(h) for h in d.get("hosts", [])), ev.ts
            )
        elif ev.type in ("check_result", "check_failed", "check_cancelled"):
            self.running = None
        try:
            self.walker.apply(ev)
        except (CloudtalesError, KeyError, ValueError, TypeError) as exc:
            # a journal from another playbook version: say so, keep following
            self.problems.append(f"event {ev.seq} ({ev.type}): {exc}")
        update.changed = True
