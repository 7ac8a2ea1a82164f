"""The incident journal: append-only JSONL, one event per line, fsynced.

Whatever the operator recorded survives a crash or ``kill -9``: each event is
written and fsynced before the walker acts on it. A torn last line (power cut
mid-write) is ignored on read, and every earlier event is kept.

Time in a journal: ``alive_seconds`` counts only the time the writing process was
alive. The gap that ends at a ``resumed`` event is the process being dead (or not
running): it does not count. A drill's screen journals a ``heartbeat`` when nothing
else happened for ``HEARTBEAT_EVERY`` seconds, so a ``kill -9`` loses at most that.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import CloudtalesError

SCHEMA = 1
RESUMED = "resumed"
"""Journal event type: the investigation was resumed from this journal (``--resume``)."""
HEARTBEAT = "heartbeat"
"""Journal event type: the writer is alive (a drill's clock counts up to the last one)."""
HEARTBEAT_EVERY = 5.0


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0
    seq: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "ts": self.ts, "type": self.type, **self.data},
            sort_keys=False,
            default=str,
        )


def event_from_dict(obj: dict[str, Any]) -> Event:
    """An event from one parsed journal line (``seq``, ``ts``, ``type`` and its data)."""
    return _event_from(obj)


def _event_from(obj: dict[str, Any]) -> Event:
    data = {k: v for k, v in obj.items() if k not in ("seq", "ts", "type")}
    return Event(
        type=str(obj["type"]), data=data, ts=float(obj.get("ts", 0.0)), seq=int(obj.get("seq", 0))
    )


class Journal:
    """Appends events to ``path``; opened once, each write fsynced."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = list(read_events(self.path)) if self.path.exists() else []
        self._seq = existing[-1].seq if existing else 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if existing and not _ends_with_newline(self.path):
            os.write(self._fd, b"\n")  # seal a torn line so the next event starts clean

    def append(self, type_: str, **data: Any) -> Event:
        self._seq += 1
        event = Event(type=type_, data=data, ts=time.time(), seq=self._seq)
        os.write(self._fd, (event.to_json() + "\n").encode())
        os.fsync(self._fd)
        return event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_events(path: str | Path) -> Iterator[Event]:
    p = Path(path)
    try:
        fh = p.open("rb")
    except FileNotFoundError:
        raise CloudtalesError(f"{p}: journal not found") from None
    with fh:
        lines = fh.read().split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            if n == 1:
                raise CloudtalesError(f"{p}:1: not a cloudtales journal (invalid JSON)") from None
            continue  # a line torn by a crash mid-write; Journal() sealed it with a newline
        if not isinstance(obj, dict) or "type" not in obj:
            raise CloudtalesError(f"{p}:{n}: not a journal event (no 'type')")
        yield _event_from(obj)


def alive_seconds(events: Sequence[Event]) -> float:
    """Seconds between the first and the last event while the writer was alive.

    >>> ev = [Event("session", ts=100.0), Event("hint", ts=130.0), Event(RESUMED, ts=4000.0)]
    >>> alive_seconds(ev), alive_seconds([*ev, Event("heartbeat", ts=4005.0)])
    (30.0, 35.0)
    """
    total = 0.0
    for prev, ev in zip(events, events[1:], strict=False):
        if ev.type != RESUMED:
            total += max(0.0, ev.ts - prev.ts)
    return total
