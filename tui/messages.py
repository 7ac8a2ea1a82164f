"""Messages between widgets, screens and workers (dataclasses, toolong style).

High-rate messages define ``can_replace`` so that a burst queued within one frame
collapses into the newest one: the handler then runs once per burst, not per event.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class WalkUpdated(Message):
    """The walker's state changed (a step ran, was skipped or undone, a fact was set).

    Autopilot posts one per step; a burst is collapsed into a single refresh."""

    reason: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WalkUpdated)


@dataclass
class PaneFlushed(Message):
    """A live pane wrote a batch (posted at most once per flush, ~30 Hz per pane)."""

    pane_id: str
    source: str
    lines: int
    dropped: int
    anomalies: int
    last_anomaly: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PaneFlushed) and message.pane_id == self.pane_id


@dataclass
class PaneCommandEnded(Message):
    """An ad-hoc pane command ended (finished, failed or was cancelled)."""

    pane_id: str
    source: str
    status: str  # "finished" | "failed: ..." | "cancelled"


@dataclass
class OpenPaneRequest(Message):
    """Run ``command`` on ``host`` in a free live pane (from the palette or a modal)."""

    host: str
    command: str


@dataclass
class RemedyRequested(Message):
    """The operator asked to run a remedy (after confirmation)."""

    remedy_id: str
