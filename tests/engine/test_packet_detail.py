"""A packet table row decoded at each capture point, with what changed between points."""

from __future__ import annotations

import subprocess
import sys

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from engine.analyzers.correlate import FRAME_BYTES, correlate
from engine.analyzers.packet_detail import decode_row, hexdump
from engine.parsers.pcap import Frame, decode_frame
from engine.results import ResultTable

A, B, C = "outside:eth0", "compute:bond0", "controller:bond0"


def ping(seq: int, *vids: int, ts: float, size: int = 1400) -> Frame:
    l2 = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    for vid in vids:
        l2 = l2 / Dot1Q(vlan=vid)
    pkt = l2 / IP(src="203.0.113.10", dst="10.0.0.5", id=seq) / ICMP(id=7, seq=seq)
    raw = bytes(pkt / Raw(b"x" * size))
    frame = decode_frame(raw, ts, len(raw))
    assert frame is not None
    return frame


def table() -> ResultTable:
    """Seq 1 gets a second tag at the compute and is lost after it; seq 2 is delivered."""
    points = {
        A: [ping(1, ts=1.0), ping(2, ts=2.0)],
        B: [ping(1, 100, 200, ts=1.001), ping(2, 100, ts=2.001)],
        C: [ping(2, 100, ts=2.002)],
    }
    return correlate(points, [A, B, C]).table()


def test_the_table_keeps_the_first_bytes_of_each_sighting_and_survives_the_journal() -> None:
    t = table()
    assert len(t.frames) == len(t.rows) == 2
    first = t.frames[0]
    assert first[0] == ""
    assert first[-2:] == ("", "")
    linktype, hexed = first[1].split(":")
    assert linktype == "1"
    assert len(bytes.fromhex(hexed)) == FRAME_BYTES
    assert first[3] == ""  # never seen at the controller
    assert ResultTable.from_dict(t.to_dict()) == t


def test_decode_marks_the_added_tag_the_size_change_and_the_missing_hop() -> None:
    detail = decode_row(table(), 0)
    assert detail.packet.endswith("ICMP echo request id 7 seq 1")
    outside, compute, controller = detail.points
    assert [layer.name for layer in outside.layers][:3] == ["Ether", "IP", "ICMP"]
    assert [layer.key for layer in compute.layers][:3] == ["Ether", "Dot1Q", "Dot1Q#2"]
    assert compute.new_layers == {"Dot1Q", "Dot1Q#2"}
    assert ("Ether", "type") in compute.changed  # 0x800 -> 0x8100: a tag pushed
    assert not controller.seen
    assert controller.layers == ()
    said = "\n".join(detail.differences)
    assert "outside:eth0 -> compute:bond0: Dot1Q vlan 100 added" in said
    assert "Dot1Q#2 vlan 200 added" in said
    assert "size 1442 -> 1450 bytes" in said
    assert "controller:bond0: not seen here" in said
    ip = dict(next(layer for layer in compute.layers if layer.name == "IP").fields)
    assert ip["src"] == "203.0.113.10"
    assert ip["dst"] == "10.0.0.5"


def test_a_delivered_packet_with_one_tag_pushed_and_kept() -> None:
    detail = decode_row(table(), 1)
    assert all(p.seen for p in detail.points)
    assert detail.points[2].new_layers == frozenset()
    assert detail.points[2].changed == frozenset()


def test_a_table_without_frames_decodes_to_cells_only() -> None:
    t = table()
    bare = ResultTable(t.title, t.columns, t.rows, t.flags)
    detail = decode_row(bare, 0)
    assert [p.layers for p in detail.points] == [(), (), ()]
    assert detail.points[0].seen
    assert "size 1442 -> 1450 bytes" in "\n".join(detail.differences)


def test_hexdump_lines() -> None:
    lines = hexdump(bytes(range(20)))
    assert lines[0].startswith("0000  00 01 02")
    assert lines[1].startswith("0010  10 11 12 13")


def test_scapy_is_imported_when_a_packet_is_decoded_and_binds_every_layer() -> None:
    """In a fresh interpreter (the tests above import scapy's layers themselves)."""
    raw = bytes(Ether() / Dot1Q(vlan=5) / IP(dst="10.0.0.5") / ICMP() / Raw(b"x"))
    code = (
        "import sys, engine.analyzers.packet_detail as d, engine.analyzers.correlate;"
        "print('scapy' in sys.modules);"
        f"print(' '.join(layer.key for layer in d.dissect(1, bytes.fromhex('{raw.hex()}'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False", "Ether Dot1Q IP ICMP Raw"]
