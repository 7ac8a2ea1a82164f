"""Captures built byte by byte for the analyze tests (robustness, fuzzing, both paths)."""

from __future__ import annotations

import struct

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import LLC, SNAP, STP, CookedLinux, CookedLinuxV2, Dot1Q, Dot3, Ether
from scapy.packet import Raw

from tests.engine.test_pcap import A, B, ng_block, ng_epb, ng_idb, ng_shb, pcap_bytes, ping

CLIENT = bytes.fromhex("525400000099")


def bpdu(dst: str = "01:80:c2:00:00:00", *vids: int) -> bytes:
    pkt = Ether(src=A, dst=dst, type=0x8100) if vids else Dot3(src=A, dst=dst)
    for i, vid in enumerate(vids):
        last = i == len(vids) - 1
        pkt = pkt / Dot1Q(vlan=vid, type=0x26 if last else 0x8100)
    return bytes(pkt / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP())


def pvst(vlan: int = 20) -> bytes:
    tlv = struct.pack("!HHH", 0, 2, vlan)
    pkt = Dot3(src=A, dst="01:00:0c:cc:cc:cd") / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
    return bytes(pkt / SNAP(OUI=0x0C, code=0x010B) / STP() / Raw(b"\0" + tlv))


def dhcp(kind: str = "discover", xid: int = 0x1234, *vids: int) -> bytes:
    pkt = Ether(src="52:54:00:00:00:99", dst="ff:ff:ff:ff:ff:ff")
    for vid in vids:
        pkt = pkt / Dot1Q(vlan=vid)
    server = kind in ("offer", "ack")
    ip = IP(src="10.0.0.1", dst="10.0.0.50") if server else IP(src="0.0.0.0", dst="255.255.255.255")
    udp = UDP(sport=67, dport=68) if server else UDP(sport=68, dport=67)
    boot = BOOTP(op=2 if server else 1, xid=xid, chaddr=CLIENT + b"\0" * 10, yiaddr="10.0.0.50")
    return bytes(pkt / ip / udp / boot / DHCP(options=[("message-type", kind), "end"]))


def with_xid(frame: bytes, xid: int) -> bytes:
    """The same untagged DHCP frame with another transaction id (BOOTP at offset 42)."""
    return frame[:46] + struct.pack("!I", xid) + frame[50:]


def cooked(linktype: int, *vids: int, payload: int = 1472) -> bytes:
    head = CookedLinux if linktype == 113 else CookedLinuxV2
    proto = 0x8100 if vids else 0x0800
    pkt = head(lladdrtype=1, lladdrlen=6, src=bytes.fromhex("020000000001") + b"\0\0", proto=proto)
    for i, vid in enumerate(vids):
        pkt = pkt / Dot1Q(vlan=vid, type=0x0800 if i == len(vids) - 1 else 0x8100)
    return bytes(pkt / Raw(bytes(ping(payload=payload))[14:]))


def mixed_frames() -> list[bytes]:
    """Every kind of frame the kernel tallies or hands over, odd ones included."""
    return [
        ping(),
        ping(20),
        ping(20, 100),
        ping(20, 100, 200),  # three tags: handed over
        ping(20, 100, payload=1468),  # 1518: fits
        ping(7, payload=56),
        ping(30, 40, payload=56),
        ping(payload=1500),  # oversize untagged
        ping(5, 6, payload=1476),  # oversize by more than one tag
        bpdu(),
        bpdu("01:80:c2:00:00:08"),  # provider bridge group (QinQ trunks)
        bpdu("01:80:c2:00:00:00", 10),
        pvst(),
        dhcp("discover"),
        dhcp("offer"),
        dhcp("request", 0x99, 20),
        dhcp("ack", 0x99, 20),
        b"\x01" * 10,  # too short for Ethernet
        bytes(Ether(src=A, dst=B, type=0x8100)) + b"\x00",  # tag cut
        b"",
    ]


def mixed_pcap(**kw: object) -> bytes:
    frames = mixed_frames()
    return pcap_bytes(frames * 3, **kw)  # type: ignore[arg-type]


def mixed_pcapng(e: str = "<") -> bytes:
    frames = mixed_frames()
    blocks = [ng_shb(e), ng_idb(1, e), ng_idb(113, e, tsresol=9, tsoffset=1000)]
    for i, data in enumerate(frames):
        blocks.append(ng_epb(0, 1_764_000_000_000_000 + i * 150, data, e))
    blocks.append(ng_block(5, b"\0" * 16, e))  # interface statistics: skipped
    blocks.append(ng_epb(1, 5_000_000_000 + 7, cooked(113, 20), e))
    blocks.append(ng_epb(1, 5_000_000_000 + 8, cooked(113), e))
    blocks.append(ng_shb(">" if e == "<" else "<"))  # a new section, other byte order
    f = ">" if e == "<" else "<"
    blocks += [ng_idb(1, f), ng_epb(0, 99, ping(20, 100), f), ng_epb(0, 100, bpdu(), f)]
    return b"".join(blocks)


def captures() -> dict[str, bytes]:
    """Named captures both analyze paths must agree on."""
    return {
        "pcap": mixed_pcap(),
        "pcap big endian nano": mixed_pcap(endian=">", nano=True),
        "pcap sll": pcap_bytes([cooked(113), cooked(113, 20), cooked(113, 20, 30)], linktype=113),
        "pcap sll2": pcap_bytes([cooked(276), cooked(276, 20, 30), cooked(276)], linktype=276),
        "pcap cooked untagged": pcap_bytes([cooked(113)] * 4, linktype=113),
        "pcap unsupported linktype": pcap_bytes([b"\0" * 40] * 3, linktype=105),
        "pcapng": mixed_pcapng(),
        "pcapng big endian": mixed_pcapng(">"),
        "pcapng with a 3 MiB custom block": ng_shb()
        + ng_idb(1)
        + ng_epb(0, 0, ping(20))
        + ng_block(0xBAD, b"\0" * (3 << 20))
        + ng_epb(0, 1, ping(20, 100)),
    }
