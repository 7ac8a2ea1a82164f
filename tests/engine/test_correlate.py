"""The same packet across capture points: keys, lost/changed verdicts, table rows, facts."""

from __future__ import annotations

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from engine.analyzers.correlate import Correlation, clock, correlate, packet_key
from engine.parsers.pcap import Frame, decode_frame

A, B, C = "outside:eth0", "compute:bond0", "instance:eth0"


def fr(pkt: object, ts: float) -> Frame:
    raw = bytes(pkt)  # type: ignore[call-overload]
    f = decode_frame(raw, ts, len(raw))
    assert f is not None
    return f


def ping(seq: int, *vids: int, ts: float, reply: bool = False, size: int = 56) -> Frame:
    l2 = Ether()
    for vid in vids:
        l2 = l2 / Dot1Q(vlan=vid)
    src, dst = ("10.0.0.5", "203.0.113.10") if reply else ("203.0.113.10", "10.0.0.5")
    icmp = ICMP(type=0 if reply else 8, id=7, seq=seq)
    return fr(l2 / IP(src=src, dst=dst, id=seq) / icmp / Raw(b"x" * size), ts)


def dhcp(kind: str, ts: float, xid: int = 0xABC, secs: int = 0) -> Frame:
    server = kind in ("offer", "ack")
    ip = IP(src="10.0.0.1", dst="10.0.0.5") if server else IP(src="10.0.0.5", dst="10.0.0.1")
    udp = UDP(sport=67, dport=68) if server else UDP(sport=68, dport=67)
    boot = BOOTP(op=2 if server else 1, xid=xid, secs=secs)
    return fr(Ether() / ip / udp / boot / DHCP(options=[("message-type", kind), "end"]), ts)


def test_keys() -> None:
    assert packet_key(ping(3, ts=0)) == ("icmp", "203.0.113.10", "10.0.0.5", 8, 7, 3)
    assert packet_key(dhcp("request", 0, secs=2)) == (
        "dhcp", "10.0.0.5", "10.0.0.1", 1, 0xABC, "REQUEST", 2,
    )  # fmt: skip
    udp = fr(Ether() / IP(src="1.1.1.1", dst="2.2.2.2", id=9) / UDP(sport=5, dport=6), 0)
    assert packet_key(udp) == ("ip", "1.1.1.1", "2.2.2.2", 17, 9)
    assert packet_key(fr(Ether() / ARP(), 0)) is None


def three_points() -> Correlation:
    outside = [ping(1, ts=1.0), ping(2, ts=2.0, size=1400), ping(3, ts=3.0)]
    compute = [ping(1, 100, ts=1.001), ping(2, 100, ts=2.001, size=1400), ping(3, 100, ts=3.001)]
    compute += [ping(1, 100, ts=1.004, reply=True)]
    instance = [ping(1, ts=1.002), ping(3, ts=3.002), ping(1, ts=1.003, reply=True)]
    return correlate({A: outside, B: compute, C: instance}, [A, B, C])


def test_lost_added_removed_and_resized() -> None:
    corr = three_points()
    assert corr.order == [A, B, C]
    by_label = {t.label: t for t in corr.packets}
    lost = by_label["203.0.113.10 > 10.0.0.5 ICMP echo request id 7 seq 2"]
    assert (lost.lost_after, lost.delivered, lost.seen_everywhere) == (B, False, False)
    assert lost.tag_added == (A, B)
    assert lost.size_changed == (A, B, 1442, 1446)
    ok = by_label["203.0.113.10 > 10.0.0.5 ICMP echo request id 7 seq 1"]
    assert ok.delivered
    assert ok.seen_everywhere
    assert (ok.tag_added, ok.tag_removed) == ((A, B), (B, C))
    assert ok.verdict() == (
        f"delivered; tag added {A} -> {B}; tag removed {B} -> {C}; size 98 -> 102 at {A} -> {B}"
    )
    reply = by_label["10.0.0.5 > 203.0.113.10 ICMP echo reply id 7 seq 1"]
    assert (reply.direction, reply.path) == ("reverse", [C, B, A])
    assert reply.lost_after == B
    assert corr.lost_after == {B: 2}
    assert corr.adds_tag == {f"{A} -> {B}": 3, f"{C} -> {B}": 1}  # the reply, going back
    assert corr.removes_tag == {f"{B} -> {C}": 2}
    assert corr.seen_everywhere == 2


def test_rows_and_facts_for_the_tui() -> None:
    corr = three_points()
    assert corr.columns() == ["packet", A, B, C, "last seen", "verdict"]
    rows = corr.rows()
    assert [r.packet for r in rows] == [
        "203.0.113.10 > 10.0.0.5 ICMP echo request id 7 seq 1",
        "10.0.0.5 > 203.0.113.10 ICMP echo reply id 7 seq 1",
        "203.0.113.10 > 10.0.0.5 ICMP echo request id 7 seq 2",
        "203.0.113.10 > 10.0.0.5 ICMP echo request id 7 seq 3",
    ]
    first = rows[0]
    assert first.cells == (
        f"{clock(1.0)} [untagged] 98",
        "+1.0ms [100] 102",
        "+2.0ms [untagged] 98",
    )
    # one tag pushed at the trunk and popped again: what a VLAN network does, not odd
    assert (first.last_seen, first.lost, first.changed) == (C, False, False)
    lost = rows[2]
    assert lost.cells[2] == "-"
    assert (lost.last_seen, lost.lost) == (B, True)
    assert lost.verdict.startswith(f"lost after {B}; tag added {A} -> {B}")
    assert lost.as_tuple()[0] == lost.packet
    assert len(lost.as_tuple()) == len(corr.columns())
    facts = corr.facts()
    assert facts == {
        "packets_matched": 4,
        "packets_seen_everywhere": 2,
        "packets_delivered": 2,
        "packets_lost": 2,
        "lost_after": B,
        "lost_after_counts": {B: 2},
        "tag_added_at": f"{A} -> {B}",
        "tag_removed_at": f"{B} -> {C}",
        "size_changed_at": f"{A} -> {B}",
        "first_stacking_point": None,
    }


def test_dhcp_retransmissions_are_numbered_and_duplicates_merged() -> None:
    ctl = [
        dhcp("request", 1.0),
        dhcp("ack", 1.01),
        dhcp("ack", 1.012),  # the same frame again, 2 ms later (bridge and port)
        dhcp("request", 2.0, secs=1),
        dhcp("ack", 2.01),
        dhcp("ack", 3.01),
    ]
    ins = [dhcp("request", 0.999), dhcp("request", 1.999, secs=1), dhcp("ack", 3.02)]
    corr = correlate({"controller": ctl, "instance": ins}, ["instance", "controller"])
    labels = sorted(t.label for t in corr.packets)
    assert labels == [
        "10.0.0.1 > 10.0.0.5 DHCP ACK xid 0x00000abc",
        "10.0.0.1 > 10.0.0.5 DHCP ACK xid 0x00000abc #2",
        "10.0.0.1 > 10.0.0.5 DHCP ACK xid 0x00000abc #3",
        "10.0.0.5 > 10.0.0.1 DHCP REQUEST xid 0x00000abc",
        "10.0.0.5 > 10.0.0.1 DHCP REQUEST xid 0x00000abc secs 1",
    ]
    acks = [t for t in corr.packets if "ACK" in t.label]
    assert all(t.direction == "reverse" for t in acks)
    # occurrence matching: the instance's only ACK pairs with the controller's first
    assert [t.delivered for t in acks] == [True, False, False]
    assert corr.lost_after == {"controller": 2}
    assert corr.order == ["instance", "controller"]


def test_empty_and_unknown_points_and_the_vlan_alias() -> None:
    empty = correlate({}, [A])
    assert (empty.packets, empty.rows(), empty.lines()) == ([], [], [])
    assert empty.facts()["lost_after"] is None
    extra = correlate({B: [ping(1, ts=1.0)], A: []}, [A])
    assert extra.order == [A, B]
    assert correlate({A: [ping(1, ts=1.0)]}, [A]).delivered == 1


def test_stacked_tags_or_unexplained_sizes_are_odd() -> None:
    stacked = correlate(
        {A: [ping(1, 100, ts=1.0, reply=True)], B: [ping(1, 20, 100, ts=1.001, reply=True)]},
        [B, A],
    )
    (trace,) = stacked.packets
    assert trace.first_stacked == B
    assert trace.odd
    assert stacked.rows()[0].changed
    padded = correlate({A: [ping(1, ts=1.0)], B: [ping(1, ts=1.001, size=60)]}, [A, B])
    (trace,) = padded.packets
    assert trace.size_changed == (A, B, 98, 102)  # 4 bytes more, but no tag to explain them
    assert trace.odd
