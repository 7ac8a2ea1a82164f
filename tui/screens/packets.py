"""The packet tables of the last capture step: the same packet at every capture point.

One key away from the investigation (``t``): the four-terminal comparison of the
first tale as one table, lost packets in red, changed ones (a tag added, a size
changed) in yellow.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from engine.checks.base import ResultTable
from tui.widgets.correlation_table import CorrelationTable


class PacketTablesScreen(Screen[None]):
    HELP_TITLE = "packet tables"
    BINDINGS = [Binding("escape,t", "close", "Back", tooltip="back to the investigation")]

    def __init__(self, node: str, tables: tuple[ResultTable, ...]) -> None:
        super().__init__()
        self.node = node
        self.tables = tables

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="packet-tables"):
            for n, table in enumerate(self.tables):
                lost = sum(1 for f in table.flags if f == "lost")
                more = f"; {table.omitted} ordinary rows left out" if table.omitted else ""
                yield Static(
                    f"{self.node}: {table.title} ({len(table.rows)} packets, {lost} lost{more})",
                    classes="packet-table-title",
                    markup=False,
                )
                yield CorrelationTable(table, id=f"packet-table-{n}")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
