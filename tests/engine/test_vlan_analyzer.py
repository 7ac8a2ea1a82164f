"""VLAN analysis: tag depth, the one-tag size rule, verdicts, and the same packet across hops."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from engine.analyzers.correlate import correlate, packet_key
from engine.analyzers.vlan import (
    analyze_vlan,
    fits_with_one_tag,
    is_oversize,
    max_frame_len,
    tag_depth_histogram,
)
from engine.parsers.pcap import Frame, decode_frame

COMPUTE, CONTROLLER = "compute:bond0", "controller:bond0"


def frame(
    *vids: int, payload: int = 1472, seq: int = 1, reply: bool = False, ts: float = 0.0
) -> Frame:
    """A ``ping -s payload`` as captured, under the VLAN stack ``vids`` (outer first)."""
    pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    for vid in vids:
        pkt = pkt / Dot1Q(vlan=vid)
    src, dst = ("10.0.0.2", "10.0.0.1") if reply else ("10.0.0.1", "10.0.0.2")
    raw = bytes(
        pkt
        / IP(src=src, dst=dst, id=seq)
        / ICMP(type=0 if reply else 8, id=9, seq=seq)
        / Raw(b"x" * payload)
    )
    f = decode_frame(raw, ts, len(raw))
    assert f is not None
    return f


def other(raw: bytes) -> Frame:
    f = decode_frame(raw, 0.0, len(raw))
    assert f is not None
    return f


def test_size_rule_allows_exactly_one_tag() -> None:
    assert max_frame_len(1500) == 1518
    assert max_frame_len(9000) == 9018
    single, double = frame(20), frame(20, 100)
    assert (single.wire_len, double.wire_len) == (1518, 1522)
    assert not is_oversize(single, 1500)
    assert is_oversize(double, 1500)
    assert fits_with_one_tag(double, 1500)
    assert not fits_with_one_tag(single, 1500)
    assert not is_oversize(double, 1504)  # a 1504 MTU would have carried it
    jumbo_untagged = frame(payload=1473)  # 1515 bytes, fits
    assert not is_oversize(jumbo_untagged, 1500)
    too_big = frame(20, 100, payload=1480)  # 1530: too big even with one tag
    assert is_oversize(too_big, 1500)
    assert not fits_with_one_tag(too_big, 1500)


def test_histogram_and_findings_for_a_double_vlan_capture() -> None:
    frames = (
        [frame(20, 100, seq=i) for i in range(6)]  # big pings, 1522 bytes
        + [frame(20, 100, payload=56, seq=i) for i in range(4)]
        + [frame(20, payload=56)] * 3
        + [frame()] * 2
        + [frame(20, 100, 7, payload=1468)]
    )  # triple tag, 1522: two extra tags
    assert tag_depth_histogram(frames) == {2: 10, 1: 3, 0: 2, 3: 1}
    found = analyze_vlan(frames, 1500)
    assert found.frames == 16
    assert found.depth_counts == {2: 10, 1: 3, 0: 2, 3: 1}
    assert found.max_depth == 3
    assert found.stacked_frames == 11
    assert found.stacks == {(20, 100): 10, (20,): 3, (20, 100, 7): 1}
    assert found.stacked == {(20, 100): 10, (20, 100, 7): 1}
    assert (found.oversize, found.double_tag_oversize) == (7, 7)
    assert found.largest_wire_len == 1522
    assert found.limit == 1518
    assert found.verdict() == "stacked"
    data = json.loads(json.dumps(found.to_dict()))
    assert data["stacks"] == {"20,100": 10, "20": 3, "20,100,7": 1}
    assert data["depth_counts"] == {"0": 2, "1": 3, "2": 10, "3": 1}
    assert data["verdict"] == "stacked"
    line = found.summary_line()
    assert line.startswith("16 frames: untagged 2, 1 tag 3, 2 tags 10, 3 tags 1")
    assert "[20,100 x10, 20,100,7 x1]" in line
    assert line.endswith("; 7 oversize > 1518; largest 1522 bytes")


@pytest.mark.parametrize(
    ("frames", "verdict"),
    [
        ([], "no_frames"),
        ([frame(), frame(payload=10)], "untagged"),
        ([frame(), frame(20)], "single"),
        ([frame(20), frame(20, 100, payload=10)], "stacked"),
    ],
)
def test_verdicts(frames: list[Frame], verdict: str) -> None:
    found = analyze_vlan(frames, 1500)
    assert found.verdict() == verdict
    assert found.oversize == 0


def test_no_frames_summary_and_oversize_without_tags() -> None:
    assert analyze_vlan([], 1500).summary_line() == "no frames"
    found = analyze_vlan([frame(payload=1500)], 1500)  # 1542-byte untagged frame
    assert found.oversize == 1
    assert found.double_tag_oversize == 0
    assert found.verdict() == "untagged"


def test_packet_keys() -> None:
    assert packet_key(frame(20, seq=4)) == ("icmp", "10.0.0.1", "10.0.0.2", 8, 9, 4)
    tcp = other(bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2", id=77) / TCP()))
    assert packet_key(tcp) == ("ip", "1.1.1.1", "2.2.2.2", 6, 77)
    assert packet_key(other(bytes(Ether() / ARP()))) is None


def test_correlate_finds_the_hop_that_adds_a_tag_and_where_packets_vanish() -> None:
    arp = other(bytes(Ether() / Dot1Q(vlan=20) / ARP()))
    compute = (
        [frame(20, payload=56, seq=i) for i in range(3)]  # small pings
        + [frame(20, seq=i) for i in range(3, 5)]  # 1472-byte pings, 1518 bytes here
        + [frame(20, payload=56, seq=i, reply=True) for i in range(3)]
        + [arp]
    )
    controller = (
        [frame(20, 100, payload=56, seq=i) for i in range(3)]  # the big ones vanish
        + [frame(20, 100, payload=56, seq=i, reply=True) for i in range(3)]
        + [frame(20, 100, payload=56, seq=9, reply=True)]
    )  # a reply that got lost
    report = correlate({COMPUTE: compute, CONTROLLER: controller}, [COMPUTE, CONTROLLER])
    assert report.order == [COMPUTE, CONTROLLER]
    assert len(report.packets) == 9  # 5 requests, 4 replies
    assert report.unkeyed == {COMPUTE: 1, CONTROLLER: 0}
    assert report.adds_tag == {f"{COMPUTE} -> {CONTROLLER}": 3}
    assert report.stacked_at == {CONTROLLER: 7}
    assert report.first_stacking_point == CONTROLLER
    assert report.lost_after == {COMPUTE: 2, CONTROLLER: 1}
    assert report.delivered == 6

    by_label = {t.label: t for t in report.packets}
    big = by_label["10.0.0.1 > 10.0.0.2 ICMP echo request id 9 seq 3"]
    assert [(s.point, s.vids, s.wire_len) for s in big.sightings] == [(COMPUTE, (20,), 1518)]
    assert big.lost_after == COMPUTE
    assert big.direction == "forward"
    small = by_label["10.0.0.1 > 10.0.0.2 ICMP echo request id 9 seq 0"]
    assert [(s.point, s.vids, s.wire_len) for s in small.sightings] == [
        (COMPUTE, (20,), 102),
        (CONTROLLER, (20, 100), 106),
    ]
    assert small.delivered
    assert small.tag_added == (COMPUTE, CONTROLLER)
    reply = by_label["10.0.0.2 > 10.0.0.1 ICMP echo reply id 9 seq 1"]
    assert reply.direction == "reverse"
    assert [s.point for s in reply.sightings] == [CONTROLLER, COMPUTE]
    assert reply.delivered
    assert reply.tag_added is None  # going back, the stack shrinks
    lost_reply = by_label["10.0.0.2 > 10.0.0.1 ICMP echo reply id 9 seq 9"]
    assert lost_reply.lost_after == CONTROLLER

    lines = report.lines()
    assert lines[0] == (
        f"9 packets matched across {COMPUTE} -> {CONTROLLER}; 6 seen at the end of their path"
    )
    assert f"{COMPUTE} -> {CONTROLLER} adds a tag (3 packets)" in lines
    assert f"2 packets vanish after {COMPUTE}" in lines
    assert f"10.0.0.1 > 10.0.0.2 ICMP echo request id 9 seq 3: {COMPUTE} [20] 1518 -> lost" in lines


def test_correlate_keeps_the_first_copy_and_handles_empty_points() -> None:
    dup = [frame(20, payload=56, ts=1.0), frame(20, payload=56, ts=2.0)]
    report = correlate({COMPUTE: dup, CONTROLLER: []}, [COMPUTE, CONTROLLER, "absent"])
    [trace] = report.packets
    assert [(s.point, s.ts) for s in trace.sightings] == [(COMPUTE, 1.0)]
    assert report.lost_after == {COMPUTE: 1}
    assert report.first_stacking_point is None
    empty = correlate({}, [COMPUTE])
    assert empty.packets == []
    assert empty.lines() == []
