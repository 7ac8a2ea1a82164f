"""The text area of a live pane: a line-API widget built for one batch per frame.

Textual's ``Log`` costs more than the lines it shows at tens of thousands of lines a
second: every ``write_lines`` starts a thread worker to measure the batch's width,
every flush rebuilds its render cache, and each visible row is rebuilt through a Rich
``Text`` and a highlighter on every repaint. Here a batch costs a few C-level calls
(one ``join``, one ``max(map(len))``, one list ``extend``), a visible row is one
``Segment`` sliced out of its line, and rows are cached by their line's serial number,
which never changes once written.

Two display modes: long lines either scroll horizontally (the default) or wrap at
the pane's width (``wrap``). A filter (``set_filter``) shows only the lines that
contain a text, case-insensitively; ``lines`` always holds every line kept.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from rich.cells import cell_len, chop_cells
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

ANOMALY_MARK = "!! "
STATUS_MARK = "-- "
ANOMALY_STYLE = Style(color="red", bold=True)
STATUS_STYLE = Style(dim=True, italic=True)
QUIET_AFTER = 0.2  # seconds without a write before rows carry selection offsets

# what a line may not carry onto the screen: control codes (tabs are expanded first)
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def clean_lines(batch: Iterable[str]) -> list[str]:
    """The batch as screen lines: embedded line breaks split, tabs expanded, other
    control codes shown as U+FFFD. The usual batch (printable text) is returned as is,
    after one ``join`` and one ``isprintable`` over the whole batch."""
    lines = batch if isinstance(batch, list) else list(batch)
    if "".join(lines).isprintable():  # one C-level pass; a regex scan cost 10x more
        return lines
    out: list[str] = []
    for line in lines:
        for part in line.splitlines() or [""]:
            out.append(_CONTROL.sub("\ufffd", part.expandtabs()))
    return out


def _width(lines: Sequence[str]) -> int:
    """Cells taken by the widest line (``len`` when the batch is ASCII)."""
    if not lines:
        return 0
    if "".join(lines).isascii():
        return max(map(len, lines))
    return max(map(cell_len, lines))


def line_style(line: str) -> Style | None:
    if line.startswith(ANOMALY_MARK):
        return ANOMALY_STYLE
    if line.startswith(STATUS_MARK):
        return STATUS_STYLE
    return None


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
        self._first = 0  # serial number of _shown[0] (for the row cache)
        self._width = 0  # widest line of _shown, in cells
        self._needle: str | None = None  # the filter, lower-cased
        self._wrap = False
        self._wrap_width = 0  # the width _starts was computed for
        self._starts: list[int] = []  # wrap: first row of each shown line (absolute)
        self._rows_end = 0  # wrap: one past the last row (absolute)
        self._cache: LRUCache[tuple[int, int, int], Strip] = LRUCache(1024)
        self._base = Style()  # the widget's own style, looked up once per repaint
        self._written_at = 0.0  # monotonic time of the last write
        self._plain = False  # the last repaint left selection offsets out

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
        follow = self.is_vertical_scroll_end and not self.is_vertical_scrollbar_grabbed
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
        if self._wrap:
            self._wrap_append(shown_new)
        self._width = max(self._width, _width(shown_new))
        self._update_virtual_size()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
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
        self._width = _width(self._shown)
        self._cache.clear()
        self._rewrap()
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines at the pane's width (True) or scroll horizontally (False)."""
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

    def _rows(self, line: str, width: int) -> int:
        cells = len(line) if line.isascii() else cell_len(line)
        return max(1, -(-cells // width))

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
            row += self._rows(line, width)
        self._starts, self._rows_end = starts, row
        self._update_virtual_size()

    def _wrap_append(self, new: list[str]) -> None:
        width, starts, row = self._wrap_width, self._starts, self._rows_end
        for line in new:
            starts.append(row)
            row += self._rows(line, width)
        self._rows_end = row
        excess = len(starts) - len(self._shown)
        if excess > 0:
            del starts[:excess]

    def _update_virtual_size(self) -> None:
        if self._wrap:
            base = self._starts[0] if self._starts else self._rows_end
            self.virtual_size = Size(self._wrap_width, self._rows_end - base)
        else:
            self.virtual_size = Size(self._width, len(self._shown))

    def on_resize(self) -> None:
        if self._wrap and self._text_width() != self._wrap_width:
            self._cache.clear()
            self._rewrap()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # ---- rendering -----------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        """Look up the base style once per repaint, not once per row."""
        base = self.rich_style
        if base != self._base:
            self._base = base
            self._cache.clear()
        # selection offsets (mouse -> line, column) cost a Style per row; a pane that
        # moves 30 times a second cannot be selected anyway, so they are left out
        # while lines arrive, and the first quiet tick repaints with them (``settle``)
        self._plain = time.monotonic() - self._written_at < QUIET_AFTER
        return super().render_lines(crop)

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
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        index, start = self._locate(scroll_y + y)
        if index < 0:
            return Strip.blank(width, self._base)
        if not self._wrap:
            start = scroll_x
        strip = self._row(index, start, width)
        selection = self.text_selection
        if selection is not None:
            strip = self._selected(strip, selection, index, start)
        if self._plain and selection is None:
            return strip
        return strip.apply_offsets(start, index)

    def _row(self, index: int, start: int, width: int) -> Strip:
        """The row of line ``index`` that begins at cell ``start``, ``width`` cells."""
        key = (self._first + index, start, width)
        strip = self._cache.get(key)
        if strip is not None:
            return strip
        line = self._shown[index]
        style = line_style(line)
        base = self._base
        if style is not None:
            base = base + style
        cells = self._wrap_width if self._wrap else width
        if line.isascii():  # one slice, one segment: the usual tcpdump line
            part = line[start : start + cells]
            strip = Strip([Segment(part.ljust(width), base)], width)
        elif self._wrap:
            parts = chop_cells(line, cells) or [""]
            part = parts[min(len(parts) - 1, start // cells)]
            strip = Strip([Segment(part, base)], cell_len(part)).extend_cell_length(width, base)
        else:
            whole = Strip([Segment(line, base)], cell_len(line))
            strip = whole.crop_extend(start, start + width, base)
        self._cache[key] = strip
        return strip

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
