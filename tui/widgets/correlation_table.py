"""The same packet at every capture point, one row per packet; lost packets in red.

Renders a ``ResultTable`` (what a capture check returns and the journal keeps, so a
follower sees the same table), or an ``engine.analyzers.correlate.Correlation``
directly: a column per capture point in path order (time of the first sighting,
then the delay; VLAN tags; wire size), where the packet was last seen, and the
verdict (delivered, lost after a point, tag added or removed, size changed).

On a narrow terminal the capture points come a page at a time (``page``/``per_page``,
the packets screen's ``[`` and ``]``) so every point is reachable without scrolling
past a long packet label; ``only`` keeps the rows containing a text (``/``).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from engine.analyzers.correlate import Correlation
from engine.results import ResultTable

LOST_STYLE = "bold red"
CHANGED_STYLE = "yellow"
FLAG_STYLE = {"lost": LOST_STYLE, "changed": CHANGED_STYLE}
NARROW_LABEL = 28  # packet label width when the points are paged


class CorrelationTable(DataTable[Text]):
    """A read-only table; ``show(table)`` replaces its content."""

    DEFAULT_CSS = """
    CorrelationTable { height: auto; max-height: 20; }
    """

    def __init__(self, table: ResultTable | Correlation | None = None, **kwargs: object) -> None:
        super().__init__(zebra_stripes=True, cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._table = table
        self.rendered: ResultTable | None = None
        self.page = 0
        self.per_page: int | None = None  # None: every point at once
        self.only = ""  # show only rows containing this text (case-insensitive)

    def on_mount(self) -> None:
        if self._table is not None:
            self.show(self._table)

    @property
    def points(self) -> list[int]:
        """Column indexes of the capture points (between the label and "last seen")."""
        cols = self.rendered.columns if self.rendered else ()
        return [n for n, c in enumerate(cols) if 0 < n < len(cols) - 2]

    @property
    def pages(self) -> int:
        if not self.per_page:
            return 1
        return max(1, -(-len(self.points) // self.per_page))

    def shown_points(self) -> list[int]:
        points = self.points
        if not self.per_page:
            return points
        start = (self.page % self.pages) * self.per_page
        return points[start : start + self.per_page]

    def show(self, table: ResultTable | Correlation) -> None:
        shown = table.table() if isinstance(table, Correlation) else table
        self._table = self.rendered = shown
        self.clear(columns=True)
        cols = [0, *self.shown_points(), len(shown.columns) - 2, len(shown.columns) - 1]
        cols = [c for c in dict.fromkeys(cols) if 0 <= c < len(shown.columns)]
        for c in cols:
            width = NARROW_LABEL if (c == 0 and self.per_page) else None
            self.add_column(shown.columns[c], width=width)
        needle = self.only.lower()
        for n, row in enumerate(shown.rows):
            if needle and not any(needle in cell.lower() for cell in row):
                continue
            flag = shown.flags[n] if n < len(shown.flags) else ""
            style = FLAG_STYLE.get(flag, "")
            self.add_row(*[Text(row[c], style=style) for c in cols if c < len(row)], key=str(n))
        if not self.row_count:
            why = f"no packet contains {self.only!r}" if self.only else "no packet matched"
            self.add_row(Text(why, style="dim"), *[Text("") for _ in cols[1:]], key="empty")

    def set_page(self, page: int, per_page: int | None) -> None:
        self.per_page, self.page = per_page, page
        if self.rendered is not None:
            self.show(self.rendered)

    def set_only(self, text: str) -> None:
        self.only = text
        if self.rendered is not None:
            self.show(self.rendered)

    @property
    def selected_row(self) -> int | None:
        """The table row under the cursor (its index in ``rendered.rows``)."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None and key.isdigit() else None

    @property
    def lost_rows(self) -> list[int]:
        flags = self.rendered.flags if self.rendered else ()
        return [n for n, flag in enumerate(flags) if flag == "lost"]
