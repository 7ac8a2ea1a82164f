"""One packet as decoded at each capture point, the differences marked (termshark's
packet view is the model): what changed from point to point on top, then per point
its layers and fields (scapy's dissectors, ``engine.analyzers.packet_detail``) and,
with ``x``, the bytes in hex.

A layer the point before did not have (a VLAN tag pushed) is marked ``+``, a field
whose value changed ``*`` (and coloured), a point where the packet never showed up
says so: readable without colour too. scapy is imported when the first packet is
decoded, in a thread, so the screen paints at once.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from engine.analyzers.packet_detail import PacketDetail, PointView, decode_row, hexdump
from engine.results import ResultTable
from tui.screens.help import NO_PANE, elsewhere
from tui.widgets.notice_bar import NoticeBar

NEW_STYLE = "bold green"
CHANGED_STYLE = "bold yellow"
MISSING_STYLE = "bold red"


def point_text(view: PointView, hex_view: bool) -> Text:
    """One capture point: its cell, then each layer (``+`` new, ``*`` changed field)."""
    text = Text()
    if not view.seen:
        text.append("not seen at this point", style=MISSING_STYLE)
        return text
    text.append(view.cell, style="dim")
    if view.error:
        text.append(f"\n{view.error}", style="italic")
    if not view.data:
        text.append("\nno bytes kept for this packet (an older journal)", style="italic")
    for layer in view.layers:
        new = layer.key in view.new_layers
        text.append("\n+ " if new else "\n  ", style=NEW_STYLE if new else "")
        text.append(layer.key, style=NEW_STYLE if new else "bold")
        for name, value in layer.fields:
            changed = (layer.key, name) in view.changed
            text.append(f"  {name}=", style="dim")
            text.append(value + ("*" if changed else ""), style=CHANGED_STYLE if changed else "")
    if hex_view and view.data:
        text.append(f"\nfirst {len(view.data)} bytes:", style="dim")
        for line in hexdump(view.data):
            text.append(f"\n{line}")
    return text


def differences_text(detail: PacketDetail) -> Text:
    text = Text()
    text.append(detail.packet, style="bold")
    if detail.verdict:
        text.append(f"\n{detail.verdict}")
    text.append("\nwhat changed on the way:", style="bold underline")
    for line in detail.differences or ("nothing: the same packet at every point",):
        style = MISSING_STYLE if "not seen" in line else CHANGED_STYLE
        text.append(f"\n  {line}", style=style)
    return text


class PointBox(Static, can_focus=True):
    """One capture point's decode (focusable: tab moves between points)."""


class PacketDetailScreen(Screen[None]):
    HELP_TITLE = "packet detail"
    HELP_INTRO = (
        "The packet at each capture point: + a layer the point before did not have, "
        "* a field that changed. tab moves between points, x shows the bytes."
    )
    BINDINGS = [
        Binding("q", "close", "Back", tooltip="back to the packet table"),
        Binding("escape", "close", "Back", show=False, tooltip="back to the packet table"),
        Binding("x", "hex", "Hex", tooltip="show or hide each point's bytes"),
        Binding("tab", "next_point(1)", "Next point", show=False, tooltip="the next point"),
        Binding("shift+tab", "next_point(-1)", "Prev point", show=False, tooltip="previous"),
    ]
    NOT_HERE = (
        elsewhere("z w", NO_PANE)
        | elsewhere("r a s b f n p c d h")
        | {
            "slash": "one packet: nothing to filter",
            "enter": "every point is shown: tab moves between them",
            "t": "esc goes back to the table",
        }
    )

    def __init__(self, node: str, table: ResultTable, row: int) -> None:
        super().__init__()
        self.node = node
        self.table = table
        self.row = row
        self.detail: PacketDetail | None = None
        self.hex_view = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="packet-detail"):
            yield Static("decoding (scapy)...", id="packet-changes", markup=False)
        yield NoticeBar()
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.decode()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def decode(self) -> None:
        detail = decode_row(self.table, self.row)
        self.app.call_from_thread(self._show, detail)

    def _show(self, detail: PacketDetail) -> None:
        self.detail = detail
        self.query_one("#packet-changes", Static).update(differences_text(detail))
        body = self.query_one("#packet-detail", VerticalScroll)
        boxes = []
        for n, view in enumerate(detail.points):
            box = PointBox(point_text(view, self.hex_view), id=f"point-{n}", classes="point")
            box.border_title = view.point
            if not view.seen:
                box.add_class("missing")
            elif view.new_layers or view.changed:
                box.add_class("changed")
            boxes.append(box)
        body.mount_all(boxes)
        if boxes:
            boxes[0].focus()

    @property
    def points(self) -> list[PointBox]:
        return list(self.query(PointBox))

    def action_hex(self) -> None:
        self.hex_view = not self.hex_view
        if self.detail is None:
            return
        for box, view in zip(self.points, self.detail.points, strict=False):
            box.update(point_text(view, self.hex_view))

    def action_next_point(self, delta: int) -> None:
        boxes = self.points
        if not boxes:
            return
        i = boxes.index(self.focused) if self.focused in boxes else -delta
        box = boxes[(i + delta) % len(boxes)]
        box.focus()
        box.scroll_visible()

    def action_close(self) -> None:
        self.dismiss(None)
