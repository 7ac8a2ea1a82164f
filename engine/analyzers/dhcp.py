"""DHCP over captured frames: decode one message, and group messages into conversations.

Decoding reads the BOOTP header and the options with ``struct`` at known offsets. It
never raises: a datagram cut short by the capture's snaplen or carrying a broken option
list still yields the fields that were readable, flagged ``truncated`` or ``malformed``.

A *conversation* is everything one client transaction id (``xid``) said and got back:
DISCOVER/OFFER/REQUEST/ACK, or a renewal's REQUEST/ACK and its retransmissions. Seen
from several capture points at once, it shows where the replies stop:
``controller:br100 sent 3 ACK, instance:eth0 received 0``.

>>> from scapy.layers.dhcp import BOOTP, DHCP
>>> from scapy.layers.inet import IP, UDP
>>> from scapy.layers.l2 import Ether
>>> from engine.parsers.pcap import decode_frame
>>> raw = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.5") / UDP(sport=67, dport=68)
...     / BOOTP(op=2, xid=0x1234, yiaddr="10.0.0.5", chaddr=bytes.fromhex("fa163e000005"))
...     / DHCP(options=[("message-type", "ack"), ("lease_time", 120), "end"]))
>>> msg = decode_dhcp(decode_frame(raw, 0.0, len(raw)))
>>> msg.type_name, hex(msg.xid), msg.yiaddr, msg.chaddr, msg.lease_time
('ACK', '0x1234', '10.0.0.5', 'fa:16:3e:00:00:05', 120)
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from socket import inet_ntoa

from engine.parsers.pcap import TS_LIMIT, Frame

DHCP_TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
}
SERVER_TYPES = frozenset({"OFFER", "ACK", "NAK"})
COOKIE = b"\x63\x82\x53\x63"
BOOTP_FIXED = 236  # op .. file, before the magic cookie
BROADCAST = "255.255.255.255"
_HEAD = struct.Struct("!BBBBIHH4s4s4s4s16s").unpack_from  # op htype hlen hops xid secs flags
_U32 = struct.Struct("!I").unpack_from
_UDP = struct.Struct("!HHH").unpack_from  # sport, dport, length


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    op: int  # 1 BOOTREQUEST (client), 2 BOOTREPLY (server)
    xid: int
    secs: int
    flags: int
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: str  # the client's MAC (htype 1, hlen 6), else the raw bytes in hex
    msg_type: int | None = None  # option 53
    requested_ip: str | None = None  # option 50
    server_id: str | None = None  # option 54
    lease_time: int | None = None  # option 51, seconds
    renewal_time: int | None = None  # option 58 (T1)
    rebinding_time: int | None = None  # option 59 (T2)
    truncated: bool = False  # the capture cut the options short
    malformed: bool = False  # the option list does not add up

    @property
    def type_name(self) -> str:
        if self.msg_type is None:
            return "BOOTP"
        return DHCP_TYPES.get(self.msg_type, f"type {self.msg_type}")

    @property
    def from_server(self) -> bool:
        return self.op == 2 or self.type_name in SERVER_TYPES

    @property
    def broadcast_flag(self) -> bool:
        return bool(self.flags & 0x8000)


def clock(ts: float) -> str:
    """Local time of day with milliseconds, rounded: ``14:03:07.250``. A time no calendar
    can show (a corrupt capture) is printed raw."""
    if not -TS_LIMIT < ts < TS_LIMIT:  # also NaN
        return f"(time {ts:.6g}?)"
    sec, msec = divmod(round(ts * 1000), 1000)
    return time.strftime("%H:%M:%S", time.localtime(sec)) + f".{msec:03d}"


def _ip(raw: bytes) -> str:
    return inet_ntoa(raw)


def _options(data: bytes, pos: int, end: int, found: dict[int, bytes]) -> tuple[bool, bool]:
    """Fill ``found`` (code -> value) from ``data[pos:end]``; returns (truncated, malformed).

    ``end`` is where the datagram ends; ``len(data) < end`` means the capture cut it."""
    stop = min(end, len(data))
    cut = len(data) < end
    while pos < stop:
        code = data[pos]
        if code == 255:
            return False, False
        if code == 0:
            pos += 1
            continue
        if pos + 2 > stop:
            return cut, not cut
        size = data[pos + 1]
        if pos + 2 + size > stop:
            return cut, not cut
        found.setdefault(code, data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return cut, False  # no END option: tolerated (many stacks pad instead)


def _int(value: bytes | None) -> int | None:
    return _U32(value)[0] if value is not None and len(value) == 4 else None


def _addr(value: bytes | None) -> str | None:
    return _ip(value) if value is not None and len(value) == 4 else None


def decode_bootp(payload: bytes, end: int | None = None) -> DhcpMessage | None:
    """Decode a BOOTP/DHCP payload (the UDP data). ``end``: where the datagram really
    ends (the UDP length) when the capture may have cut it. None without a full header."""
    end = len(payload) if end is None else end
    if len(payload) < BOOTP_FIXED - 192 or end < BOOTP_FIXED - 192:  # up to chaddr
        return None
    op, htype, hlen, _hops, xid, secs, flags, ci, yi, si, gi, ch = _HEAD(payload, 0)
    chaddr = ch[:6].hex(":") if htype == 1 and hlen == 6 else ch[: min(hlen, 16)].hex()
    found: dict[int, bytes] = {}
    truncated = malformed = False
    if len(payload) < BOOTP_FIXED + 4:  # no room for the cookie: no options
        truncated = len(payload) < end
        malformed = not truncated
    elif payload[BOOTP_FIXED : BOOTP_FIXED + 4] == COOKIE:
        truncated, malformed = _options(payload, BOOTP_FIXED + 4, end, found)
    msg_type = found.get(53)
    return DhcpMessage(
        op=op,
        xid=xid,
        secs=secs,
        flags=flags,
        ciaddr=_ip(ci),
        yiaddr=_ip(yi),
        siaddr=_ip(si),
        giaddr=_ip(gi),
        chaddr=chaddr,
        msg_type=msg_type[0] if msg_type else None,
        requested_ip=_addr(found.get(50)),
        server_id=_addr(found.get(54)),
        lease_time=_int(found.get(51)),
        renewal_time=_int(found.get(58)),
        rebinding_time=_int(found.get(59)),
        truncated=truncated,
        malformed=malformed,
    )


def decode_dhcp(frame: Frame) -> DhcpMessage | None:
    """The DHCP message in a frame the scanner flagged ``is_dhcp``; None otherwise, or
    when the frame is too short for the BOOTP header. Never raises."""
    if not frame.is_dhcp:
        return None
    data, off = frame.data, frame.l3_offset
    if off >= len(data):
        return None
    udp = off + (data[off] & 15) * 4
    if udp + 8 > len(data):
        return None
    _sport, _dport, udp_len = _UDP(data, udp)
    payload = data[udp + 8 :]
    declared = max(udp_len - 8, 0)
    if declared > len(payload) and frame.cap_len >= frame.wire_len:
        # nothing was cut by the capture: the UDP length itself is wrong
        msg = decode_bootp(payload)
        return None if msg is None else replace(msg, malformed=True, truncated=False)
    return decode_bootp(payload, declared)


# --------------------------------------------------------------- conversations


@dataclass(frozen=True, slots=True)
class DhcpEvent:
    ts: float
    point: str  # capture point label ("" for a single capture)
    src: str
    dst: str
    msg: DhcpMessage

    @property
    def kind(self) -> str:
        return self.msg.type_name

    def line(self) -> str:
        m = self.msg
        where = f"{self.point} " if self.point else ""
        extra = []
        if m.yiaddr != "0.0.0.0":
            extra.append(f"yiaddr {m.yiaddr}")
        if m.requested_ip:
            extra.append(f"requested {m.requested_ip}")
        if m.lease_time is not None:
            extra.append(f"lease {m.lease_time}s")
        if self.dst == BROADCAST:
            extra.append("broadcast")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{clock(self.ts)} {where}{m.type_name} {self.src} > {self.dst}{tail}"


@dataclass(slots=True)
class DhcpConversation:
    xid: int
    client_mac: str
    events: list[DhcpEvent] = field(default_factory=list)  # in time order

    @property
    def yiaddr(self) -> str | None:
        got = [e.msg.yiaddr for e in self.events if e.msg.yiaddr != "0.0.0.0"]
        return got[-1] if got else None

    @property
    def lease_time(self) -> int | None:
        got = [e.msg.lease_time for e in self.events if e.msg.lease_time is not None]
        return got[-1] if got else None

    @property
    def points(self) -> list[str]:
        return list(dict.fromkeys(e.point for e in self.events))

    def count(self, kind: str, point: str | None = None) -> int:
        return sum(1 for e in self.events if e.kind == kind and point in (None, e.point))

    def kinds(self, point: str | None = None) -> list[str]:
        """Message types in order, at one point (or everywhere, first copy only)."""
        if point is not None:
            return [e.kind for e in self.events if e.point == point]
        return [e.kind for e in self.events if e.point == self.events[0].point]

    @property
    def outcome(self) -> str:
        """What the server last said, from every point: ACKed, NAKed, offered; unanswered
        (the client asked, no reply was captured) or server-only. An ACK on the wire is
        not a client that got it: compare capture points for that."""
        kinds = {e.kind for e in self.events}
        if "ACK" in kinds:
            return "ACKed"
        if "NAK" in kinds:
            return "NAKed"
        if "OFFER" in kinds:
            return "offered"
        return "unanswered" if kinds & {"DISCOVER", "REQUEST"} else "server-only"

    def broadcast_requests(self, point: str | None = None) -> int:
        return sum(
            1
            for e in self.events
            if e.kind == "REQUEST" and e.dst == BROADCAST and point in (None, e.point)
        )

    def headline(self) -> str:
        """``xid 0x3c1d2e4f fa:16:3e:00:00:05: REQUEST x3, ACK x3 -> ACKed 10.0.0.5 (120s)``."""
        first = self.events[0].point if self.events else None
        counts: dict[str, int] = {}
        for e in self.events:
            if e.point == first:
                counts[e.kind] = counts.get(e.kind, 0) + 1
        said = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())
        result = self.outcome
        if result == "ACKed" and self.yiaddr:
            result += f" {self.yiaddr}" + (f" ({self.lease_time}s)" if self.lease_time else "")
        return f"xid 0x{self.xid:08x} {self.client_mac}: {said} -> {result}"

    def to_dict(self) -> dict[str, object]:
        return {
            "xid": f"0x{self.xid:08x}",
            "client_mac": self.client_mac,
            "outcome": self.outcome,
            "yiaddr": self.yiaddr,
            "lease_time": self.lease_time,
            "messages": [
                {
                    "ts": round(e.ts, 6),
                    **({"point": e.point} if e.point else {}),
                    "type": e.kind,
                    "src": e.src,
                    "dst": e.dst,
                    "yiaddr": e.msg.yiaddr,
                    "requested_ip": e.msg.requested_ip,
                    "server_id": e.msg.server_id,
                    "lease_time": e.msg.lease_time,
                }
                for e in self.events
            ],
        }

    def delivery(self, sender: str, receiver: str, kind: str) -> tuple[int, int]:
        """How many ``kind`` messages ``sender`` put on the wire and ``receiver`` saw."""
        return self.count(kind, sender), self.count(kind, receiver)


def dhcp_events(frames: Iterable[Frame], point: str = "") -> list[DhcpEvent]:
    events = []
    for frame in frames:
        msg = decode_dhcp(frame)
        if msg is not None:
            events.append(DhcpEvent(frame.ts, point, frame.ip_src or "", frame.ip_dst or "", msg))
    return events


def conversations(
    points: Mapping[str, Sequence[Frame]] | Sequence[Frame],
) -> list[DhcpConversation]:
    """Group DHCP messages by (xid, client MAC), in order of first appearance.

    ``points`` is one capture's frames, or capture point -> frames for several."""
    by_point = {"": points} if not isinstance(points, Mapping) else points
    events = [e for point, frames in by_point.items() for e in dhcp_events(frames, point)]
    events.sort(key=lambda e: e.ts)
    convs: dict[tuple[int, str], DhcpConversation] = {}
    for e in events:
        key = (e.msg.xid, e.msg.chaddr)
        conv = convs.get(key)
        if conv is None:
            conv = convs[key] = DhcpConversation(e.msg.xid, e.msg.chaddr)
        conv.events.append(e)
    return list(convs.values())


def delivery_lines(convs: Sequence[DhcpConversation], server: str, client: str) -> list[str]:
    """``xid 0x..: controller sent 3 ACK, instance received 0`` for each server reply type."""
    lines = []
    for conv in convs:
        for kind in ("OFFER", "ACK", "NAK"):
            sent, got = conv.delivery(server, client, kind)
            if sent or got:
                lines.append(
                    f"xid 0x{conv.xid:08x}: {server} sent {sent} {kind}, {client} received {got}"
                )
    return lines
