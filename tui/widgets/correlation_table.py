"""The same packet at every capture point, one row per packet; lost packets in red.

Renders a ``ResultTable`` (what a capture check returns and the journal keeps, so a
follower sees the same table), or an ``engine.analyzers.correlate.Correlation``
directly: a column per capture point in path order (time of the first sighting,
then the delay; VLAN tags; wire size), where the packet was last seen, and the
verdict (delivered, lost after a point, tag added or removed, size changed).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from engine.analyzers.correlate import Correlation
from engine.checks.base import ResultTable

LOST_STYLE = "bold red"
CHANGED_STYLE = "yellow"
FLAG_STYLE = {"lost": LOST_STYLE, "changed": CHANGED_STYLE}


class CorrelationTable(DataTable[Text]):
    """A read-only table; ``show(table)`` replaces its content."""

    DEFAULT_CSS = """
    CorrelationTable { height: auto; max-height: 20; }
    """

    def __init__(self, table: ResultTable | Correlation | None = None, **kwargs: object) -> None:
        super().__init__(zebra_stripes=True, cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._table = table
        self.rendered: ResultTable | None = None

    def on_mount(self) -> None:
        if self._table is not None:
            self.show(self._table)

    def show(self, table: ResultTable | Correlation) -> None:
        shown = table.table() if isinstance(table, Correlation) else table
        self._table = self.rendered = shown
        self.clear(columns=True)
        self.add_columns(*shown.columns)
        for n, row in enumerate(shown.rows):
            flag = shown.flags[n] if n < len(shown.flags) else ""
            style = FLAG_STYLE.get(flag, "")
            self.add_row(*[Text(cell, style=style) for cell in row], key=str(n))
        if not shown.rows:
            empty = [Text("no packet matched", style="dim")]
            empty += [Text("") for _ in shown.columns[1:]]
            self.add_row(*empty, key="empty")

    @property
    def lost_rows(self) -> list[int]:
        flags = self.rendered.flags if self.rendered else ()
        return [n for n, flag in enumerate(flags) if flag == "lost"]
