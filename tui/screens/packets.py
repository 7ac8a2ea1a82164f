"""The packet tables of the last capture step: the same packet at every capture point.

One key away from the investigation, the diagnosis and the score card (``t``): the
four-terminal comparison of the first tale as one table, lost packets in red,
changed ones (a tag added, a size changed) in yellow. The table has the focus as
soon as it opens, so the arrows move at once; ``enter`` opens the highlighted packet
as decoded at each point. Below 100 columns the capture points come one page at a
time (``[`` and ``]``), so each is reachable at 80x24.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from engine.results import ResultTable
from tui.screens.help import NO_PANE, elsewhere
from tui.screens.modals import FilterModal
from tui.screens.packet_detail import PacketDetailScreen
from tui.widgets.correlation_table import CorrelationTable
from tui.widgets.notice_bar import NoticeBar

WIDE = 100  # from here every capture point shows at once
POINT_WIDTH = 30  # columns one capture point's cell needs


class PacketTablesScreen(Screen[None]):
    HELP_TITLE = "packet tables"
    HELP_INTRO = (
        "One row per packet, one column per capture point in path order. Red: lost; "
        "yellow: changed on the way. enter decodes the highlighted packet at every point."
    )
    BINDINGS = [
        Binding("q", "close", "Back", tooltip="back to where you were"),
        Binding("escape,t", "close", "Back", show=False, tooltip="back to where you were"),
        Binding("enter", "detail", "Decode", tooltip="the packet decoded at every point"),
        Binding("right_square_bracket", "page(1)", "Points", tooltip="next capture points"),
        Binding("left_square_bracket", "page(-1)", "Prev", show=False, tooltip="previous points"),
        Binding("slash", "filter", "Find", tooltip="show only the packets containing a text"),
        Binding("tab", "next_table(1)", "Next table", show=False, tooltip="the next table"),
        Binding("shift+tab", "next_table(-1)", "Prev table", show=False, tooltip="previous"),
    ]
    NOT_HERE = elsewhere("z w", NO_PANE) | elsewhere("r a s b f n p c d h x")

    def __init__(self, node: str, tables: tuple[ResultTable, ...]) -> None:
        super().__init__()
        self.node = node
        self.tables = tables
        self.page = 0

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
        yield Static(id="packet-pages", markup=False)
        yield NoticeBar()
        yield Footer(show_command_palette=False, compact=True)

    @property
    def tables_shown(self) -> list[CorrelationTable]:
        return list(self.query(CorrelationTable))

    def on_mount(self) -> None:
        self._paginate()
        tables = self.tables_shown
        if tables:
            tables[0].focus()

    def on_resize(self, event: Resize) -> None:
        self._paginate()

    def current(self) -> CorrelationTable | None:
        focused = self.focused
        if isinstance(focused, CorrelationTable):
            return focused
        tables = self.tables_shown
        return tables[0] if tables else None

    def _paginate(self) -> None:
        width = self.size.width
        per_page = None if width >= WIDE else max(1, (width - 50) // POINT_WIDTH)
        pages = 1
        for table in self.tables_shown:
            table.set_page(self.page, per_page)
            pages = max(pages, table.pages)
        note = self.query_one("#packet-pages", Static)
        shown = self.current()
        if per_page is None or shown is None or shown.rendered is None:
            note.display = False
            return
        names = [shown.rendered.columns[c] for c in shown.shown_points()]
        note.display = True
        note.update(
            f"capture points {self.page % pages + 1}/{pages}: {', '.join(names)}"
            "   ] next, [ previous"
        )

    def action_page(self, delta: int) -> None:
        self.page += delta
        self._paginate()
        if (t := self.current()) is not None and t.pages == 1:
            self.notify("every capture point is on screen", timeout=2)

    def action_next_table(self, delta: int) -> None:
        tables = self.tables_shown
        if len(tables) < 2:
            self.notify("one table here", timeout=2)
            return
        current = self.current()
        i = tables.index(current) if current in tables else 0
        tables[(i + delta) % len(tables)].focus()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:  # enter on the focused table
        self.action_detail()

    def action_detail(self) -> None:
        table = self.current()
        row = table.selected_row if table is not None else None
        if table is None or table.rendered is None or row is None:
            self.notify("no packet to decode", timeout=3)
            return
        self.app.push_screen(PacketDetailScreen(self.node, table.rendered, row))

    def action_filter(self) -> None:
        table = self.current()
        if table is None:
            return

        def apply(text: object) -> None:
            if isinstance(text, str):
                for t in self.tables_shown:
                    t.set_only(text)
                self.notify(f"only packets with {text!r}" if text else "every packet", timeout=3)

        self.app.push_screen(FilterModal("show only the packets containing", table.only), apply)

    def action_close(self) -> None:
        self.dismiss(None)
