"""The investigation layout, shared by the operator's screen and a follower's.

The decision path and the facts on the left; the current step above a 2x2 grid of
live panes on the right. Call ``yield from walk_layout()`` inside ``compose``.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical

from tui.widgets.decision_path import DecisionPath
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.live_pane import LivePane
from tui.widgets.step_panel import StepPanel

PANES = 4


def walk_layout() -> ComposeResult:
    with Horizontal(id="investigation"):
        with Vertical(id="side"):
            yield DecisionPath(id="path")
            yield FactsPanel(id="facts")
        with Vertical(id="main"):
            yield StepPanel(id="step")
            with Grid(id="panes"):
                for i in range(1, PANES + 1):
                    yield LivePane(f"pane {i}", id=f"pane-{i}")
