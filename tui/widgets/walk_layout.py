"""The investigation layout and its pane keys, shared by the operator's screen and a
follower's (``WalkScreen``).

The decision path and the facts on the left; the current step above four live panes
on the right: a 2x2 grid from 100 columns, below that one pane at a time under a
strip of tabs (``tab`` / ``shift+tab`` switch), so a tcpdump line stays readable.
``z`` zooms the current pane to the whole body and back (as tmux does), ``w``
switches long lines between wrapping and horizontal scrolling, ``/`` shows only the
lines of the current pane that contain a text. Notices go to the bar above the
footer, never over a pane.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from tui.widgets.decision_path import DecisionPath
from tui.widgets.facts_panel import FactsPanel
from tui.widgets.live_pane import LivePane
from tui.widgets.notice_bar import NoticeBar
from tui.widgets.step_panel import StepPanel

PANES = 4


def walk_layout() -> ComposeResult:
    with Horizontal(id="investigation"):
        with Vertical(id="side"):
            yield DecisionPath(id="path")
            yield FactsPanel(id="facts")
        with Vertical(id="main"):
            yield StepPanel(id="step")
            yield Static(id="pane-tabs", markup=False)
            with Grid(id="panes"):
                for i in range(1, PANES + 1):
                    yield LivePane(f"pane {i}", id=f"pane-{i}", classes="-shown" if i == 1 else "")
    yield NoticeBar()


def _short(source: str | None) -> str:
    """``controller: tcpdump -i bond0 ...`` -> ``controller``."""
    return (source or "free").split(":", 1)[0].split(" ", 1)[0]


class WalkScreen(Screen[None]):
    """A screen laid out by ``walk_layout``: pane switching, zoom, wrap and filter."""

    BINDINGS = [
        Binding("tab", "next_pane(1)", "Next pane", show=False, tooltip="the next live pane"),
        Binding("shift+tab", "next_pane(-1)", "Prev pane", show=False, tooltip="the previous pane"),
        Binding("z", "zoom", "Zoom", tooltip="the current pane on the whole screen, and back"),
        Binding("w", "wrap", "Wrap", show=False, tooltip="long lines: wrap, or scroll sideways"),
        Binding(
            "slash", "filter", "Find", show=False, tooltip="show only a pane's lines with a text"
        ),
    ]

    wrap = False  # long lines scroll sideways until the operator asks for wrapping

    @property
    def panes(self) -> list[LivePane]:
        return list(self.query(LivePane))

    def current_pane(self) -> LivePane:
        """The focused pane, else the one shown (narrow), else the first."""
        focused = self.focused
        for node in (focused, *(focused.ancestors if focused else ())):
            if isinstance(node, LivePane):
                return node
        panes = self.panes
        return next((p for p in panes if p.has_class("-shown")), panes[0])

    def show_pane(self, pane: LivePane) -> None:
        """The pane shown when there is room for one only (the others keep streaming)."""
        for p in self.panes:
            p.set_class(p is pane, "-shown")
        self.update_pane_tabs()

    def update_pane_tabs(self) -> None:
        tabs = []
        for n, p in enumerate(self.panes, 1):
            mark = ">" if p.has_class("-shown") else " "
            count = f" {p.lines}" if p.source else ""
            tabs.append(f"{mark}{n} {_short(p.source)}{count}")
        text = "  ".join(tabs) + "   (tab)"
        if text != getattr(self, "_pane_tabs_text", None):
            # one row whose height the CSS fixes: no layout pass (counts change 4 times a
            # second per pane; the bar is hidden on wide screens)
            self.query_one("#pane-tabs", Static).update(text, layout=False)
            self._pane_tabs_text = text

    def action_next_pane(self, delta: int) -> None:
        panes = self.panes
        i = panes.index(self.current_pane())
        pane = panes[(i + delta) % len(panes)]
        self.show_pane(pane)
        pane.log_widget.focus()
        if self.maximized is not None:  # zoomed: the zoom follows
            self.maximize(pane, container=False)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        pane = self.current_pane()
        pane.log_widget.focus()
        self.maximize(pane, container=False)

    def action_wrap(self) -> None:
        self.wrap = not self.wrap
        for pane in self.panes:
            pane.set_wrap(self.wrap)
        how = "long lines wrap" if self.wrap else "long lines scroll sideways (left/right)"
        self.notify(f"{how}; w switches", timeout=3)

    def action_filter(self) -> None:
        from tui.screens.modals import FilterModal

        pane = self.current_pane()
        self.app.push_screen(
            FilterModal(f"show only the lines of {pane.border_title} containing"),
            lambda text: self._filtered(pane, text),
        )

    def _filtered(self, pane: LivePane, text: object) -> None:
        if not isinstance(text, str):
            return
        pane.set_filter(text or None)
        self.notify(f"{pane.id}: " + (f"only lines with {text!r}" if text else "every line"))
