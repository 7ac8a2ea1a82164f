"""One captured frame and its decoder: link header, VLAN tags, IPv4/ICMP/UDP fields, and
whether it is a BPDU or DHCP. Sizes are judged by *wire* length (the original length),
never by the captured length. ``engine.parsers.pcap`` walks the records around it.

>>> raw = bytes.fromhex("0180c2000008" "020000000001" "0026" "424203" "00" * 35)
>>> decode_frame(raw, 0.0, 60).is_bpdu  # provider bridge group address (QinQ trunks)
True
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields, make_dataclass
from socket import inet_ntoa
from typing import Any

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_NAMES = {1: "Ethernet", 113: "Linux cooked (SLL)", 276: "Linux cooked v2 (SLL2)"}
ETH_HLEN = 14
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
STP_MAC = "01:80:c2:00:00:00"
PB_MAC = "01:80:c2:00:00:08"  # provider bridge group (802.1ad/802.1aq): BPDUs on QinQ trunks
PVST_MAC = "01:00:0c:cc:cc:cd"
PVST_SNAP = b"\xaa\xaa\x03\x00\x00\x0c\x01\x0b"

_TAG = struct.Struct("!HH").unpack_from
_IP4 = struct.Struct("!BxHHHxBxx8s").unpack_from  # vihl, total, id, frag, proto, src+dst
_IP4L4 = struct.Struct("!2xHHHxBxx8sHHHH").unpack_from  # IHL 5 plus first 8 bytes of L4
_L4 = struct.Struct("!HHHH").unpack_from
_ETH = struct.Struct("!12sH").unpack_from
_SLL = struct.Struct("!2xHH8sH").unpack_from  # hatype, addr len, addr, protocol
_SLL2 = struct.Struct("!H6xHxB8s").unpack_from  # protocol, hatype, addr len, addr


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame with the cheap fields decoded (IPv4 fields only for IPv4)."""

    ts: float
    wire_len: int  # Ethernet-equivalent original length (cooked headers replaced by 14)
    cap_len: int
    src_mac: str  # "" when the link layer does not carry it
    dst_mac: str
    tags: tuple[tuple[int, int], ...]  # (tpid, vid), outermost first
    ethertype: int  # after the tags; below 0x0600 it is an 802.3 length (LLC follows)
    l3_offset: int
    data: bytes
    linktype: int = LINKTYPE_ETHERNET
    interface: int = 0
    ip_src: str | None = None
    ip_dst: str | None = None
    ip_proto: int | None = None
    ip_id: int | None = None
    ip_total_len: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None  # echo request/reply only
    icmp_seq: int | None = None
    is_bpdu: bool = False
    is_dhcp: bool = False

    @property
    def vids(self) -> tuple[int, ...]:
        return tuple(vid for _, vid in self.tags)


# A frozen dataclass ``__init__`` is ~10x slower than a plain one (one object.__setattr__
# per field), so frames are built by a mutable twin with the identical slot layout and
# then re-classed to Frame (CPython allows this between layout-compatible classes).
_Twin: Any = make_dataclass("_FrameBuilder", [f.name for f in fields(Frame)], slots=True)
_NO_STR: str | None = None
_NO_INT: int | None = None
_mac_cache: dict[bytes, tuple[str, str]] = {}  # 12 bytes dst+src -> text (few distinct)
_ip_cache: dict[bytes, tuple[str, str]] = {}  # 8 bytes src+dst -> text


def _cached(cache: dict[bytes, tuple[str, str]], key: bytes) -> tuple[str, str]:
    if len(cache) > 65536:
        cache.clear()
    text = (lambda b: b.hex(":")) if len(key) == 12 else inet_ntoa
    pair = cache[key] = (text(key[: len(key) // 2]), text(key[len(key) // 2 :]))
    return pair


def decode_frame(
    data: bytes, ts: float, orig_len: int, linktype: int = LINKTYPE_ETHERNET, interface: int = 0
) -> Frame | None:
    """Decode one frame; None when it is too short for its link header or tags."""
    cap = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if cap < 14:
            return None
        macs, etype = _ETH(data, 0)
        dst, src = _mac_cache.get(macs) or _cached(_mac_cache, macs)
        off, wire = 14, orig_len
    elif linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        off = 16 if linktype == LINKTYPE_LINUX_SLL else 20
        if cap < off:
            return None
        if off == 16:
            hatype, alen, addr, etype = _SLL(data, 0)
        else:
            etype, hatype, alen, addr = _SLL2(data, 0)
        dst, wire = "", orig_len - off + ETH_HLEN  # as if it had an Ethernet header
        src = addr[:6].hex(":") if hatype == 1 and alen == 6 else ""
    else:
        return None
    tags: tuple[tuple[int, int], ...] = ()
    if etype in VLAN_TPIDS:
        if off + 4 > cap:
            return None
        tci, nxt = _TAG(data, off)
        tags, etype, off = ((etype, tci & 0xFFF),), nxt, off + 4
        if etype in VLAN_TPIDS:  # stacked: the Double VLAN case
            stack = list(tags)
            while etype in VLAN_TPIDS:
                if off + 4 > cap:
                    return None
                tci, nxt = _TAG(data, off)
                stack.append((etype, tci & 0xFFF))
                etype, off = nxt, off + 4
            tags = tuple(stack)
    ip_src = ip_dst = _NO_STR
    ip_proto = ip_id = ip_total = icmp_type = icmp_code = icmp_id = icmp_seq = _NO_INT
    is_bpdu = is_dhcp = False
    if etype == 0x0800 and off + 20 <= cap:
        if data[off] == 0x45 and off + 28 <= cap:  # no IP options: one unpack for IP + L4
            ip_total, ip_id, frag, ip_proto, addrs, w0, w1, w2, w3 = _IP4L4(data, off)
            l4ok = True
        else:
            vihl, ip_total, ip_id, frag, ip_proto, addrs = _IP4(data, off)
            l4 = off + (vihl & 15) * 4
            if l4ok := l4 + 8 <= cap:
                w0, w1, w2, w3 = _L4(data, l4)
        ip_src, ip_dst = _ip_cache.get(addrs) or _cached(_ip_cache, addrs)
        if l4ok and not frag & 0x1FFF:  # first fragment only carries the L4 header
            if ip_proto == 1:
                icmp_type, icmp_code = w0 >> 8, w0 & 0xFF
                if icmp_type == 0 or icmp_type == 8:
                    icmp_id, icmp_seq = w2, w3
            elif ip_proto == 17:
                is_dhcp = (w0 == 67 or w0 == 68) and (w1 == 67 or w1 == 68)
    elif etype < 0x0600 or (etype == 0x0004 and linktype != LINKTYPE_ETHERNET):
        llc = data[off : off + 8]
        is_bpdu = (llc[:2] == b"BB" and dst in (STP_MAC, PB_MAC, "")) or (
            llc == PVST_SNAP and dst in (PVST_MAC, "")
        )
    frame: Frame = _Twin(
        ts,
        wire,
        cap,
        src,
        dst,
        tags,
        etype,
        off,
        data,
        linktype,
        interface,
        ip_src,
        ip_dst,
        ip_proto,
        ip_id,
        ip_total,
        icmp_type,
        icmp_code,
        icmp_id,
        icmp_seq,
        is_bpdu,
        is_dhcp,
    )
    frame.__class__ = Frame
    return frame
