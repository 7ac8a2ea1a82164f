"""One compact tcpdump-like line per packet, and why a packet deserves a highlight.

Both run for every packet of a live pane, so they only format fields the scanner
already decoded plus a few bytes read at known offsets.

>>> from engine.parsers.pcap import decode_frame
>>> raw = bytes.fromhex("020000000002020000000001" "8100" "0014" "8100" "0064" "0800"
...                     "4500001c00070000400100000a0000010a000002" "0800000000030009")
>>> f = decode_frame(raw, 0.0, 1522)
>>> describe(f, clock=False)
'vlan 20, vlan 100, IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 3, seq 9, length 1522'
>>> anomaly(f, 1500)
'2 VLAN tags (20,100); oversize 1522 > 1518'
"""

from __future__ import annotations

import struct
import time
from socket import AF_INET6, inet_ntoa, inet_ntop

from engine.analyzers.vlan import max_frame_len
from engine.parsers.pcap import PVST_SNAP, TS_LIMIT, Frame

_PORTS = struct.Struct("!HH").unpack_from
_ARP = struct.Struct("!6xH6s4s6s4s").unpack_from  # op, sha, spa, tha, tpa
_ICMP_NAMES = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"}
_UNREACH = {0: "net", 1: "host", 3: "port", 4: "need to frag"}
_ETHERTYPES = {0x86DD: "IP6", 0x88CC: "LLDP", 0x8809: "LACP", 0x88E5: "MACsec"}
_clock_cache: dict[int, str] = {}


def _clock(ts: float) -> str:
    """Local time of day to the microsecond (rounded, not truncated: a float holding
    ``.000150`` may be ``.00014999``). A time no calendar can show is printed raw."""
    if not -TS_LIMIT < ts < TS_LIMIT:  # also NaN
        return f"(time {ts:.6g}?)"
    sec, usec = divmod(round(ts * 1_000_000), 1_000_000)
    base = _clock_cache.get(sec)
    if base is None:
        if len(_clock_cache) > 4096:
            _clock_cache.clear()
        base = _clock_cache[sec] = time.strftime("%H:%M:%S", time.localtime(sec))
    return f"{base}.{usec:06d}"


def bpdu_kind(frame: Frame) -> str | None:
    """STP, RSTP, MSTP, TCN, PVST+ or Rapid-PVST+ from the LLC/SNAP header and version."""
    if not frame.is_bpdu:
        return None
    data, off = frame.data, frame.l3_offset
    pvst = data[off : off + 8] == PVST_SNAP
    body = off + (8 if pvst else 3)
    if len(data) < body + 4:
        return "PVST+" if pvst else "STP"
    version, kind = data[body + 2], data[body + 3]
    if kind == 0x80:
        return "PVST+ TCN" if pvst else "STP TCN"
    if pvst:
        return "Rapid-PVST+" if version == 2 else "PVST+"
    return {0: "STP", 2: "RSTP", 3: "MSTP"}.get(version, f"STP v{version}")


def _l4_ports(frame: Frame) -> tuple[int, int] | None:
    data, off = frame.data, frame.l3_offset
    l4 = off + (data[off] & 15) * 4
    return _PORTS(data, l4) if l4 + 4 <= len(data) else None


def _ipv4(frame: Frame) -> str:
    head = f"IP {frame.ip_src} > {frame.ip_dst}: "
    proto = frame.ip_proto
    if proto == 1 and frame.icmp_type is not None:
        name = _ICMP_NAMES.get(frame.icmp_type, f"type {frame.icmp_type}")
        if frame.icmp_id is not None:
            return f"{head}ICMP {name}, id {frame.icmp_id}, seq {frame.icmp_seq}"
        if frame.icmp_type == 3:
            name += f" {_UNREACH.get(frame.icmp_code or 0, f'code {frame.icmp_code}')}"
        return f"{head}ICMP {name}"
    if proto in (6, 17):
        ports = _l4_ports(frame)
        label = "TCP" if proto == 6 else "UDP"
        if ports is None:
            return f"{head}{label}"
        tail = " (DHCP)" if frame.is_dhcp else ""
        return f"{head}{label} {ports[0]} > {ports[1]}{tail}"
    return f"{head}proto {proto}"


def _arp(frame: Frame) -> str:
    data, off = frame.data, frame.l3_offset
    if off + 28 > len(data):
        return "ARP (truncated)"
    op, sha, spa, _tha, tpa = _ARP(data, off)
    if op == 1:
        return f"ARP who-has {inet_ntoa(tpa)} tell {inet_ntoa(spa)}"
    if op == 2:
        return f"ARP reply {inet_ntoa(spa)} is-at {sha.hex(':')}"
    return f"ARP op {op}"


def _payload(frame: Frame) -> str:
    etype = frame.ethertype
    if frame.ip_src is not None:
        return _ipv4(frame)
    if etype == 0x0806:
        return _arp(frame)
    if frame.is_bpdu:
        return f"{bpdu_kind(frame)} BPDU"
    if etype == 0x86DD and frame.l3_offset + 40 <= frame.cap_len:
        off = frame.l3_offset
        src = inet_ntop(AF_INET6, frame.data[off + 8 : off + 24])
        dst = inet_ntop(AF_INET6, frame.data[off + 24 : off + 40])
        return f"IP6 {src} > {dst}: next header {frame.data[off + 6]}"
    if etype < 0x0600:
        return f"802.3 LLC, length {etype}"
    return _ETHERTYPES.get(etype) or f"ethertype 0x{etype:04x}"


def describe(frame: Frame, *, macs: bool = False, clock: bool = True) -> str:
    """One line: [time] [src > dst,] vlan 20, vlan 100, IP a > b: ICMP ..., length N."""
    parts = []
    if clock:
        parts.append(_clock(frame.ts) + " ")
    if macs and frame.src_mac:
        parts.append(f"{frame.src_mac} > {frame.dst_mac or '?'}, ")
    for tpid, vid in frame.tags:
        parts.append(f"vlan {vid}, " if tpid == 0x8100 else f"vlan {vid} (0x{tpid:04x}), ")
    parts.append(_payload(frame))
    parts.append(f", length {frame.wire_len}")
    return "".join(parts)


def anomaly(frame: Frame, mtu: int) -> str | None:
    """Why this packet stands out (stacked tags, oversize, BPDU), or None."""
    tags, wire = frame.tags, frame.wire_len
    limit = max_frame_len(mtu)
    if len(tags) < 2 and wire <= limit and not frame.is_bpdu:
        return None  # the common case, answered without building anything
    notes = []
    if len(tags) >= 2:
        notes.append(f"{len(tags)} VLAN tags ({','.join(str(v) for _, v in tags)})")
    if wire > limit:
        notes.append(f"oversize {wire} > {limit}")
    if frame.is_bpdu:
        notes.append(f"{bpdu_kind(frame)} BPDU")
    return "; ".join(notes)
