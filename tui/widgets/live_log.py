"""The text area of a live pane: a line-API widget built for one batch per frame.

At 4 panes x 10,000 lines a second every visible row is new in every frame, so what
counts is the cost of a frame, not of a line:

- A batch costs a few C-level passes (``live_text.clean_lines``, one ``extend``);
  kept lines are a bounded list, trimmed by one slice delete.
- ``render_lines`` paints the visible rows itself, once per frame: one ``Segment`` sliced
  out of each line, the app's line filters applied once per row, the widget's style,
  scroll offset and selection looked up once per frame instead of once per row. Rows are
  as wide as the text area (not the scrollbar's column), so the compositor hands them
  on without cutting them. Textual's per-widget styles pass (borders, padding, tint,
  opacity) is used only when the widget has one of those.
- A new line count changes ``virtual_size`` without a screen layout pass (the widget's
  size never depends on its content): only the scrollbars are updated.
- Textual compares a scroll view's own virtual size with the one the layout computed
  (never equal) and re-renders both scrollbars of every scroll view on every layout
  pass, whatever changed: here they are updated only when a size they show changed.

Two display modes: long lines either scroll horizontally (the default) or wrap at the
text area's width (``wrap``). A filter (``set_filter``) shows only the lines that
contain a text, case-insensitively; ``lines`` always holds every line kept.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.dom import NoScreen
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.live_text import clean_lines, line_style, rows_of, widest

QUIET_AFTER = 0.2  # seconds without a write before rows carry selection offsets


class LiveLog(ScrollView, can_focus=True):
    """Keeps the last ``max_lines`` lines; follows the end unless scrolled up."""

    ALLOW_SELECT = True
    DEFAULT_CSS = """
    LiveLog {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    LiveLog.-wrap { overflow-x: hidden; }
    """

    def __init__(self, max_lines: int = 5000, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self._lines: list[str] = []  # every line kept
        self._shown: list[str] = self._lines  # the lines that pass the filter
        self._first = 0  # serial number of _shown[0] (row cache keys)
        self._width = 0  # widest line of _shown, in cells
        self._needle: str | None = None  # the filter, lower-cased
        self._wrap = False
        self._wrap_width = 0  # the width _starts was computed for
        self._starts: list[int] = []  # wrap: first row of each shown line (absolute)
        self._rows_end = 0  # wrap: one past the last row (absolute)
        self._cache: dict[tuple[int, int, int], Strip] = {}  # painted rows of the last frame
        self._look: tuple[Any, ...] = ()  # style, filters, background the cache was painted with
        self._base = Style()
        self._written_at = 0.0  # monotonic time of the last write
        self._plain = False  # the last repaint left selection offsets out
        self._scrollbars_for: tuple[Any, ...] = ()  # sizes the scrollbars last showed

    # ---- what is kept -----------------------------------------------------------
    @property
    def lines(self) -> Sequence[str]:
        """Every line kept (the filter does not apply), oldest first."""
        return self._lines

    @property
    def shown(self) -> Sequence[str]:
        """The lines on display: those that pass the filter."""
        return self._shown

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def wrap(self) -> bool:
        return self._wrap

    @property
    def filter(self) -> str | None:
        return self._needle

    def write_lines(self, batch: Iterable[str]) -> None:
        """Append a batch; the oldest lines beyond ``max_lines`` are forgotten."""
        new = clean_lines(batch)
        if not new:
            return
        self._written_at = time.monotonic()
        follow = self._following()
        lines = self._lines
        lines.extend(new)
        excess = len(lines) - self.max_lines
        if excess > 0:
            del lines[:excess]
        if self._needle is None:
            shown_new = new
            if excess > 0:
                self._first += excess
        else:
            needle = self._needle
            shown_new = [line for line in new if needle in line.lower()]
            self._shown.extend(shown_new)
            excess = len(self._shown) - self.max_lines
            if excess > 0:
                del self._shown[:excess]
                self._first += excess
        if not shown_new and excess <= 0:
            return
        if self._wrap:
            self._wrap_append(shown_new)
        self._width = max(self._width, widest(shown_new))
        self._update_virtual_size()
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    def write_line(self, line: str) -> None:
        self.write_lines([line])

    def clear(self) -> None:
        self._lines.clear()
        self._shown = self._lines if self._needle is None else []
        self._width = 0
        self._starts, self._rows_end = [], 0
        self._cache.clear()
        self._update_virtual_size()
        self.refresh()

    def _following(self) -> bool:
        """At the end (or not laid out yet), and the scrollbar is not being dragged."""
        if self.is_vertical_scrollbar_grabbed:
            return False
        height = self.container_size.height
        if not height:
            return True
        return self.scroll_offset.y >= self.max_scroll_y

    # ---- modes ------------------------------------------------------------------
    def set_filter(self, text: str | None) -> None:
        """Show only the lines containing ``text`` (case-insensitive); None or an empty
        text shows every line again."""
        needle = text.lower() if text else None
        if needle == self._needle:
            return
        self._needle = needle
        if needle is None:
            self._shown = self._lines
        else:
            self._shown = [line for line in self._lines if needle in line.lower()]
        self._width = widest(self._shown)
        self._cache.clear()
        self._rewrap()
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines at the text area's width (True) or scroll them (False)."""
        if wrap == self._wrap:
            return
        self._wrap = wrap
        self.set_class(wrap, "-wrap")
        self._cache.clear()
        self._rewrap()
        if wrap:
            self.scroll_to(x=0, animate=False, immediate=True)
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    # ---- geometry -----------------------------------------------------------------
    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _rewrap(self) -> None:
        """Recount the rows of every shown line (wrap mode, or width changed)."""
        if not self._wrap:
            self._starts, self._rows_end = [], 0
            self._update_virtual_size()
            return
        width = self._wrap_width = self._text_width()
        starts, row = [], 0
        for line in self._shown:
            starts.append(row)
            row += rows_of(line, width)
        self._starts, self._rows_end = starts, row
        self._update_virtual_size()

    def _wrap_append(self, new: list[str]) -> None:
        width, starts, row = self._wrap_width, self._starts, self._rows_end
        for line in new:
            starts.append(row)
            row += rows_of(line, width)
        self._rows_end = row
        excess = len(starts) - len(self._shown)
        if excess > 0:
            del starts[:excess]

    def _update_virtual_size(self) -> None:
        if self._wrap:
            base = self._starts[0] if self._starts else self._rows_end
            size = Size(self._wrap_width, self._rows_end - base)
        else:
            size = Size(self._width, len(self._shown))
        if size == self.virtual_size:
            return
        styles = self.styles
        if styles.is_auto_width or styles.is_auto_height or not self.container_size:
            self.virtual_size = size  # the widget's size follows its content: lay out
            return
        # only the scrollbars show the content's size: no layout pass for the screen
        self.set_reactive(Widget.virtual_size, size)
        self._refresh_scrollbars()  # shown or hidden (a change lays the widget out)
        if self.show_vertical_scrollbar:
            self.vertical_scrollbar.window_virtual_size = size.height
        if self.show_horizontal_scrollbar:
            self.horizontal_scrollbar.window_virtual_size = size.width
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        """Called on every layout pass of the screen: skip the scrollbar update when no
        size they show changed (``ScrollView`` always sees a change, see the docstring)."""
        styles = self.styles
        key = (
            size,
            container_size,
            self.virtual_size,
            styles.overflow_x,
            styles.overflow_y,
            styles.scrollbar_size_vertical,
            styles.scrollbar_size_horizontal,
        )
        if key == self._scrollbars_for and size == self._size:
            return False
        self._scrollbars_for = key
        return super()._size_updated(size, virtual_size, container_size, layout)

    def on_resize(self) -> None:
        if self._wrap and self._text_width() != self._wrap_width:
            self._cache.clear()
            self._rewrap()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # ---- rendering -----------------------------------------------------------------
    def _boxed(self) -> bool:
        """Has the widget a border, padding, outline, tint or opacity (Textual's styles
        pass draws those)?"""
        styles = self.styles
        return bool(
            styles.gutter
            or any(edge for edge, _ in styles.outline)
            or styles.tint.a
            or styles.opacity != 1.0
            or styles.text_opacity != 1.0
            or (styles.has_rule("hatch") and styles.hatch != "none")
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        """The visible rows, painted once per frame (see the module docstring)."""
        base = self.rich_style
        # selection offsets (mouse -> line, column) cost a Style per row; a pane that
        # moves 30 times a second cannot be selected anyway, so they are left out
        # while lines arrive, and the first quiet tick repaints with them (``settle``)
        self._plain = time.monotonic() - self._written_at < QUIET_AFTER
        if self._boxed():
            self._base = base
            return super().render_lines(crop)
        filters = tuple(self.app.get_line_filters())
        background = self.background_colors[1]
        look = (base, filters, background)
        if look != self._look:
            self._look, self._base = look, base
            self._cache.clear()
        text = self.scrollable_content_region
        cells, text_rows = max(1, text.width), text.height
        scroll_x, scroll_y = self.scroll_offset
        try:
            selection = self.text_selection
        except NoScreen:  # painted by the screen's timer while leaving the DOM
            selection = None
        offsets = selection is not None or not self._plain
        old, fresh = self._cache, {}
        blank: Strip | None = None
        strips: list[Strip] = []
        for y in crop.line_range:
            index, start = self._locate(scroll_y + y) if y < text_rows else (-1, 0)
            if index < 0:
                if blank is None:
                    blank = self._filtered([Segment(" " * cells, base)], cells, background)
                strips.append(blank)
                continue
            if not self._wrap:
                start = scroll_x
            key = (self._first + index, start, cells)
            strip = old.get(key)
            if strip is None:
                strip = self._filtered(self._segments(index, start, cells), cells, background)
            fresh[key] = strip
            if selection is not None:
                strip = self._selected(strip, selection, index, start)
            strips.append(strip.apply_offsets(start, index) if offsets else strip)
        self._cache = fresh
        x1, x2 = crop.column_span
        if x1 or x2 < cells:
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def _filtered(self, segments: list[Segment], cells: int, background: Color) -> Strip:
        for line_filter in self._look[1]:
            segments = line_filter.apply(segments, background)
        return Strip(segments, cells)

    def settle(self) -> None:
        """Repaint once with selection offsets after the last frame left them out."""
        if self._plain and time.monotonic() - self._written_at >= QUIET_AFTER:
            self._plain = False
            self.refresh()

    def _locate(self, row: int) -> tuple[int, int]:
        """(index in shown, first cell) of a content row; index -1 past the end."""
        if not self._wrap:
            return (row if row < len(self._shown) else -1), 0
        starts = self._starts
        if not starts:
            return -1, 0
        absolute = row + starts[0]
        if absolute >= self._rows_end:
            return -1, 0
        index = bisect_right(starts, absolute) - 1
        return index, (absolute - starts[index]) * self._wrap_width

    def render_line(self, y: int) -> Strip:
        """Row ``y`` of the text area (Textual's styles pass; tests), unfiltered."""
        scroll_x, scroll_y = self.scroll_offset
        cells = self._text_width()
        index, start = self._locate(scroll_y + y)
        if index < 0:
            return Strip.blank(cells, self._base)
        if not self._wrap:
            start = scroll_x
        strip = Strip(self._segments(index, start, cells), cells)
        selection = self.text_selection
        if selection is not None:
            strip = self._selected(strip, selection, index, start)
        if self._plain and selection is None:
            return strip
        return strip.apply_offsets(start, index)

    def _segments(self, index: int, start: int, cells: int) -> list[Segment]:
        """The row of line ``index`` that begins at cell ``start``, ``cells`` wide."""
        line = self._shown[index]
        style = line_style(line)
        base = self._base if style is None else self._base + style
        if line.isascii():  # one slice, one segment: the usual tcpdump line
            return [Segment(line[start : start + cells].ljust(cells), base)]
        if self._wrap:
            parts = chop_cells(line, cells) or [""]
            part = parts[min(len(parts) - 1, start // cells)]
            row = Strip([Segment(part, base)], cell_len(part))
            return list(row.extend_cell_length(cells, base))
        whole = Strip([Segment(line, base)], cell_len(line))
        return list(whole.crop_extend(start, start + cells, base))

    def _selected(self, strip: Strip, selection: Selection, index: int, start: int) -> Strip:
        span = selection.get_span(index)
        if span is None:
            return strip
        first, last = span
        line_len = cell_len(self._shown[index])
        last = line_len if last == -1 else last
        first, last = max(first - start, 0), min(last - start, strip.cell_length)
        if first >= last:
            return strip
        style = self.screen.get_component_rich_style("screen--selection")
        end = strip.cell_length
        middle = strip.crop(first, last).apply_style(style)
        return Strip.join([strip.crop(0, first), middle, strip.crop(last, end)])

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(self._shown)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()
