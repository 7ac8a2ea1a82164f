"""One live pane: a bounded buffer flushed ~30 times a second into a ``LiveLog``.

Producers (a check's ``emit`` or the pane's own command worker) only append to a
``deque(maxlen=...)``. One clock per app (``FlushClock``, frame_clock.py) flushes every
mounted pane in the same tick and paints them, once per frame for all panes; a
flush is one ``LiveLog.write_lines`` call (LAB-NOTES "Textual live panes": never write
line by line). When the screen cannot keep up, the deque drops the oldest lines and
the pane counts them instead of building a backlog. The counts in the border and the
``PaneFlushed`` report change at most ``STATUS_HZ`` times a second: redrawing the
border on every flush cost as much as writing the lines (bench/bench_panes.py).

``set_wrap`` wraps long lines instead of scrolling them; ``set_filter`` shows only the
lines containing a text (the counts then say how many of the kept lines match).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.worker import Worker

from engine.checks.base import LiveLine
from engine.livefeed import live_lines
from engine.remote.inventory import Host
from engine.remote.runner import Runner
from tui.messages import PaneCommandEnded, PaneFlushed
from tui.widgets.frame_clock import STATUS_HZ, FlushClock
from tui.widgets.live_log import LiveLog
from tui.widgets.live_text import ANOMALY_MARK, STATUS_MARK


def format_line(line: LiveLine) -> str:
    """``!! <text>  [<why>]`` for an anomaly, the text alone otherwise."""
    if line.anomaly:
        return f"{ANOMALY_MARK}{line.text}  [{line.anomaly}]"
    return line.text


class LivePane(Vertical):
    """Title ``host: command``; subtitle counts lines, dropped lines and anomalies."""

    ALLOW_MAXIMIZE = True

    def __init__(
        self,
        label: str,
        *,
        max_lines: int = 5000,
        buffer: int = 20000,
        id: str | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(id=id, classes=f"live-pane {classes}".strip())
        self.label = label
        self.source: str | None = None
        self.max_lines = max_lines
        self._buffer: deque[str] = deque(maxlen=buffer)
        self.lines = 0
        self.dropped = 0
        self.anomalies = 0
        self.last_anomaly: str | None = None
        self._worker: Worker[None] | None = None
        self._status_at = 0.0  # monotonic time of the last border/report update
        self._counts_stale = False  # lines written since the counts were last shown
        self._log = LiveLog(max_lines=max_lines)
        self._painted: tuple[tuple[Any, ...], list[Strip]] | None = None

    def compose(self) -> ComposeResult:
        yield self._log

    def on_mount(self) -> None:
        FlushClock.of(self.app).panes[id(self)] = self
        self._show_title()
        self._show_counts()

    def on_unmount(self) -> None:
        FlushClock.of(self.app).panes.pop(id(self), None)

    # ---- the frame around the lines ------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        """The border and title, as last painted unless something marked them dirty.

        The screen repaints every widget under the panes' changed rows in each frame,
        and Textual's per-widget pass (background, title styles, opacity, filters)
        cost as much for this unchanged frame as for the new rows inside it."""
        key = (crop, self.size, tuple(self.app.get_line_filters()))
        if self._painted is not None and self._painted[0] == key:
            return self._painted[1]
        strips = super().render_lines(crop)
        self._painted = (key, strips)
        return strips

    def _set_dirty(self, *regions: Region) -> None:
        """Textual's one way of marking a widget's painted lines stale (refresh, a
        style change, a resize): forget the frame too."""
        self._painted = None
        super()._set_dirty(*regions)

    @property
    def log_widget(self) -> LiveLog:
        return self._log

    @property
    def streaming(self) -> bool:
        return self._worker is not None and not self._worker.is_finished

    @property
    def is_free(self) -> bool:
        return self.source is None and not self.streaming

    @property
    def text(self) -> str:
        """Everything written so far (flushed lines only)."""
        return "\n".join(self.log_widget.lines)

    # ---- producers --------------------------------------------------------
    def push(self, line: LiveLine) -> None:
        """Queue one line for the next flush (cheap: called once per packet)."""
        buf = self._buffer
        if len(buf) == buf.maxlen:
            self.dropped += 1
        self.lines += 1
        if line.anomaly:
            self.anomalies += 1
            self.last_anomaly = line.anomaly
        buf.append(format_line(line))

    def push_status(self, text: str) -> None:
        self._buffer.append(STATUS_MARK + text)

    def flush(self, final: bool = False, report: bool | None = None) -> None:
        """Write everything buffered since the last frame in one ``write_lines``.

        ``final`` (a step or command ended) also brings the counts up to date now.
        ``report``: the clock's say on whether this tick shows counts (all panes in
        the same tick, so the screen's status updates make one repaint, not four);
        None: at most ``STATUS_HZ`` times a second."""
        if self._buffer:
            batch = list(self._buffer)
            self._buffer.clear()
            self._log.write_lines(batch)
            self._counts_stale = True
        else:
            self._log.settle()  # quiet now: make the lines selectable again
        if not (final or self._counts_stale):
            return
        now = time.monotonic()
        if not final and not report and (report is False or now - self._status_at < 1 / STATUS_HZ):
            return  # a later tick shows them (the clock keeps running)
        self._status_at = now
        self._counts_stale = False
        self._show_counts()
        self.post_message(
            PaneFlushed(
                self.id or "",
                self.source or "",
                self.lines,
                self.dropped,
                self.anomalies,
                self.last_anomaly,
            )
        )

    # ---- how the lines are shown ----------------------------------------------
    @property
    def wrap(self) -> bool:
        return self._log.wrap

    @property
    def filter(self) -> str | None:
        return self._log.filter

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines at the pane's width (True) or scroll them sideways (False)."""
        self._log.set_wrap(wrap)

    def set_filter(self, text: str | None) -> None:
        """Show only the lines that contain ``text`` (case-insensitive); None or ""
        shows them all. Lines still buffered are filtered when they are flushed."""
        self._log.set_filter(text)
        self._show_counts()

    # ---- ownership --------------------------------------------------------
    def attach(self, source: str) -> None:
        """Give the pane to a new source: stop its command, clear it, retitle it."""
        self.stop()
        self.clear()
        self.source = source
        self.remove_class("stale")
        self._show_title()

    def mark_stale(self) -> None:
        """The source's check ended: keep the lines, but the pane may be reused."""
        if not self.streaming:
            self.add_class("stale")

    def release(self) -> None:
        self.stop()
        self.flush(final=True)
        self.source = None
        self.remove_class("stale")
        self._show_title()

    def clear(self) -> None:
        self._buffer.clear()
        self.log_widget.clear()
        self.lines = self.dropped = self.anomalies = 0
        self.last_anomaly = None
        self._show_counts()

    # ---- an ad-hoc command --------------------------------------------------
    def run_command(
        self, runner: Runner, host: Host, command: str, mtu: int = 1500
    ) -> Worker[None]:
        self.attach(f"{host.name}: {command}")
        self.add_class("streaming")
        self._worker = self.run_worker(
            self._stream(runner, host, command, mtu),
            group="stream",
            exclusive=True,
            exit_on_error=False,
            name=f"pane {host.name}: {command}",
        )
        return self._worker

    async def _stream(self, runner: Runner, host: Host, command: str, mtu: int) -> None:
        status = "finished"
        try:
            async for line in live_lines(runner, host, command, mtu=mtu):
                self.push(line)
        except asyncio.CancelledError:
            status = "stopped (remote command killed)"
            raise
        except Exception as exc:  # a pane must not take the app down: show why it ended
            status = f"failed: {exc}"
        finally:
            if self.is_mounted:
                self.remove_class("streaming")
                self.push_status(status)
                self.flush(final=True)
                self.post_message(PaneCommandEnded(self.id or "", self.source or "", status))

    def stop(self) -> bool:
        """Cancel the pane's command (the runner kills the remote process)."""
        if self._worker is not None and not self._worker.is_finished:
            self._worker.cancel()
            return True
        return False

    # ---- display ------------------------------------------------------------
    def _show_title(self) -> None:
        self.border_title = Content(self.source or f"{self.label} (free)")

    def _show_counts(self) -> None:
        counts = f"{self.lines} lines, {self.dropped} dropped"
        if self.anomalies:
            counts += f", {self.anomalies} !!"
        log = self._log
        if log.filter is not None:
            counts = f"/{log.filter}: {len(log.shown)} of {log.line_count} kept; {counts}"
        self._set_subtitle(Content(counts))

    def _set_subtitle(self, subtitle: Content) -> None:
        """``border_subtitle = subtitle``, repainting the bottom border row only.

        Textual's setter repaints the whole pane: with four panes reporting together,
        that doubled the cost of a frame (4-5 ms -> 9-14 ms) every quarter second."""
        # what the setter stores (Textual's _BorderTitle), then the row it is drawn on
        self._border_subtitle = self.render_str(subtitle).expand_tabs(4).split()[0]
        width, height = self.outer_size
        offset = self.content_offset  # refresh regions are relative to the content
        self.refresh(Region(-offset.x, height - 1 - offset.y, width, 1))
