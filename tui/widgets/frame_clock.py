"""The live panes' frame clock: one 30 Hz tick per app flushes every pane and paints.

Producers only append to a pane's bounded deque; the clock writes each pane's batch
(``LivePane.flush``) and then paints the screen at once, in the same tick. Every
``REPORT_EVERY`` ticks all panes report their counts together (``PaneFlushed``), so
what the screens update from them is painted in one frame of Textual's timer.

Why paint here rather than let Textual's screen update timer do it: that timer ticks on
fixed 60 Hz boundaries and, after each tick, sleeps to the next boundary before it
looks at new work. With panes repainting 30 times a second it never rests, so a key
that needs a repaint waited for the next boundary, up to 16.7 ms, plus the pane frame
in progress: key->paint p50 13 ms, p95 33 ms inside the app at 4 x 10k lines/s, where
an idle app answered in 2 ms. Painted from this tick, the panes leave the screen timer
parked, and a key's repaint starts as soon as the loop is free.

The paint is the screen timer's own step (``Screen._on_timer_update``: layout if one is
pending, then the dirty widgets), done early for the current screen's panes; a Textual
without those internals (``painting`` False) falls back to its own timer.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from textual.app import App, ScreenStackError
from textual.dom import NoScreen
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

if TYPE_CHECKING:
    from tui.widgets.live_pane import LivePane

FPS = 30.0
STATUS_HZ = 4.0  # counts in the panes' borders and PaneFlushed reports, per second
REPORT_EVERY = round(FPS / STATUS_HZ)  # ticks between two reports (3.75 a second)
GC_THRESHOLD = (20_000, 10, 10)  # Python's default is (700, 10, 10)
_gc_tuned = False


def quiet_gc() -> None:
    """Keep the collector's full scans out of the frames, once per process.

    Each painted row allocates a few short-lived containers (Textual's ``Strip`` and its
    caches), so at 30 frames a second the default thresholds ran a full (generation 2)
    collection about once a second, each up to 74 ms of CPU on the CI machine kind:
    the key->paint tail. ``gc.freeze()`` moves what start-up built (the app, its
    screens, the playbook graph) out of those scans, and a larger first threshold
    makes young collections rarer; measured at 4 x 10k lines/s: no full scan in 5 s,
    young collections at most 6.5 ms.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _can_paint(app: App[Any], screen: Screen[Any]) -> bool:
    """The Textual internals the early paint uses are there."""
    return (
        hasattr(Screen, "_on_timer_update")
        and hasattr(app, "_batch_count")
        and isinstance(getattr(screen, "_dirty_widgets", None), set)
        and isinstance(getattr(screen, "_repaint_required", None), bool)
    )


class FlushClock:
    """One ``FPS`` timer per app that flushes every mounted live pane in the same tick."""

    _clocks: weakref.WeakKeyDictionary[App[Any], FlushClock] = weakref.WeakKeyDictionary()

    def __init__(self, app: App[Any]) -> None:
        quiet_gc()
        self.app = app
        self.panes: dict[int, LivePane] = {}
        self.timer: Timer = app.set_interval(1 / FPS, self.tick, name="live panes")
        # seconds between ticks: a line waits at most one gap before it is written
        self.gaps: deque[float] = deque(maxlen=4096)
        self._last = time.monotonic()
        self.painting: bool | None = None  # decided on the first tick (the app is running)
        self.painted = 0  # frames painted by this clock
        self.ticks = 0

    @classmethod
    def of(cls, app: App[Any]) -> FlushClock:
        clock = cls._clocks.get(app)
        if clock is None:
            clock = cls._clocks[app] = cls(app)
        return clock

    def tick(self) -> None:
        now = time.monotonic()
        self.gaps.append(now - self._last)
        self._last = now
        self.ticks += 1
        report = self.ticks % REPORT_EVERY == 0
        panes = [pane for pane in self.panes.values() if pane.is_mounted]
        for pane in panes:
            pane.flush(report=report)
        self.paint(panes)

    def paint(self, panes: list[LivePane]) -> None:
        """Paint what the flush changed on the current screen now (see the docstring)."""
        app = self.app
        if self.painting is False or not app.is_running:
            return
        try:
            screen = app.screen
        except ScreenStackError:  # starting or closing
            return
        if self.painting is None:
            self.painting = _can_paint(app, screen)
        if not self.painting or app._batch_count:
            return
        dirty = screen._dirty_widgets
        for pane in panes:
            try:
                if pane.screen is not screen or not pane.display:
                    continue
            except NoScreen:  # being removed
                continue
            log = pane.log_widget
            parts: tuple[Widget | None, ...] = (
                pane,
                log,
                log._vertical_scrollbar,
                log._horizontal_scrollbar,
            )
            for widget in parts:
                # claimed here, so its own idle handler does not ask the timer again
                if widget is not None and widget._repaint_required and widget.display:
                    widget._repaint_required = False
                    dirty.add(widget)
        if dirty:
            self.painted += 1
            try:
                screen._on_timer_update()
            except NoScreen:  # a widget left the DOM during the frame (the app closing):
                return  # Textual's own timer paints what is still there
