"""The correlation table widget, mounted in a tiny app and driven by the Pilot."""

from __future__ import annotations

from rich.text import Text
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from textual.app import App, ComposeResult

from engine.analyzers.correlate import Correlation, clock, correlate
from engine.parsers.pcap import Frame, decode_frame
from tui.widgets.correlation_table import LOST_STYLE, CorrelationTable

INSTANCE, CONTROLLER = "instance:eth0", "controller:br100"


def dhcp(kind: str, ts: float) -> Frame:
    server = kind == "ack"
    ip = IP(src="10.0.0.1", dst="10.0.0.5") if server else IP(src="10.0.0.5", dst="10.0.0.1")
    udp = UDP(sport=67, dport=68) if server else UDP(sport=68, dport=67)
    pkt = Ether() / ip / udp / BOOTP(op=2 if server else 1, xid=0x42)
    raw = bytes(pkt / DHCP(options=[("message-type", kind), "end"]))
    f = decode_frame(raw, ts, len(raw))
    assert f is not None
    return f


def the_issue() -> Correlation:
    """A renewal reaches the controller; its ACK never reaches the instance."""
    return correlate(
        {
            INSTANCE: [dhcp("request", 10.0)],
            CONTROLLER: [dhcp("request", 10.001), dhcp("ack", 10.004)],
        },
        [INSTANCE, CONTROLLER],
    )


class TableApp(App[None]):
    def __init__(self, correlation: Correlation | None) -> None:
        super().__init__()
        self.correlation = correlation

    def compose(self) -> ComposeResult:
        yield CorrelationTable(self.correlation, id="corr")


async def test_renders_rows_and_highlights_the_lost_packet() -> None:
    app = TableApp(the_issue())
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(CorrelationTable)
        labels = [str(col.label) for col in table.columns.values()]
        assert labels == ["packet", INSTANCE, CONTROLLER, "last seen", "verdict"]
        assert table.row_count == 2
        rows = [[cell.plain for cell in table.get_row_at(n)] for n in range(table.row_count)]
        assert rows == [
            [
                "10.0.0.5 > 10.0.0.1 DHCP REQUEST xid 0x00000042",
                f"{clock(10.0)} [untagged] 286",
                "+1.0ms [untagged] 286",
                CONTROLLER,
                "delivered",
            ],
            [
                "10.0.0.1 > 10.0.0.5 DHCP ACK xid 0x00000042",
                "-",
                f"{clock(10.004)} [untagged] 286",
                CONTROLLER,
                f"lost after {CONTROLLER}",
            ],
        ]
        assert table.lost_rows == [1]
        lost_cell = table.get_row_at(1)[0]
        assert isinstance(lost_cell, Text)
        assert str(lost_cell.style) == LOST_STYLE
        assert str(table.get_row_at(0)[0].style) == ""


async def test_show_replaces_content_and_empty_model_says_so() -> None:
    app = TableApp(None)
    async with app.run_test(size=(120, 12)) as pilot:
        table = app.query_one(CorrelationTable)
        assert table.row_count == 0
        table.show(correlate({INSTANCE: [], CONTROLLER: []}, [INSTANCE, CONTROLLER]))
        await pilot.pause()
        assert table.row_count == 1
        assert table.get_row_at(0)[0].plain == "no packet matched"
        table.show(the_issue())
        await pilot.pause()
        assert table.row_count == 2
        assert table.lost_rows == [1]
