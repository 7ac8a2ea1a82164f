"""The same packet at several capture points: where it was seen, where it vanished, what changed.

The four-terminal session of the Double VLAN tale (and the instance-plus-controller
tcpdump of "The Issue") as one table. A packet is recognised at every point by a key
that no hop rewrites:

* ICMP echo: addresses, type, id and sequence number;
* DHCP: addresses, op, transaction id (xid), message type and ``secs``; identical
  retransmissions (a server answers each retry with the same ACK) are told apart by
  their order of appearance at each point;
* any other IPv4 packet: addresses, protocol and the IP identification field.

For each packet the correlation says where it was seen (point, time, VLAN tags, wire
size), where it was last seen, whether it reached the end of its path, and whether a
hop added or removed a tag or changed its size. ``rows()`` gives display strings for
a table; ``facts()`` gives walker facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.analyzers.dhcp import clock, decode_dhcp
from engine.parsers.pcap import Frame
from engine.results import FactValue, ResultTable

PacketKey = tuple[str | int | None, ...]
FRAME_BYTES = 128  # bytes of each sighting's frame kept for the packet detail view
DUPLICATE_WINDOW = 0.005  # s: one DHCP frame seen twice at one point (bridge and port)
_ECHO_NAMES = {0: "echo reply", 8: "echo request"}


def packet_key(frame: Frame) -> PacketKey | None:
    """Identity of an IPv4 packet across capture points (None for non-IPv4 frames)."""
    if frame.ip_src is None:
        return None
    if frame.icmp_id is not None:
        return ("icmp", frame.ip_src, frame.ip_dst, frame.icmp_type, frame.icmp_id, frame.icmp_seq)
    if frame.is_dhcp:
        msg = decode_dhcp(frame)
        if msg is not None:
            return ("dhcp", frame.ip_src, frame.ip_dst, msg.op, msg.xid, msg.type_name, msg.secs)
    return ("ip", frame.ip_src, frame.ip_dst, frame.ip_proto, frame.ip_id)


def packet_label(key: PacketKey) -> str:
    if key[0] == "icmp":
        kind = "echo reply" if key[3] == 0 else "echo request"
        return f"{key[1]} > {key[2]} ICMP {kind} id {key[4]} seq {key[5]}"
    if key[0] == "dhcp":
        xid = key[4] if isinstance(key[4], int) else 0
        label = f"{key[1]} > {key[2]} DHCP {key[5]} xid 0x{xid:08x}"
        if key[3] == 1 and key[6]:
            label += f" secs {key[6]}"
        if len(key) > 7 and isinstance(key[7], int) and key[7] > 0:
            label += f" #{key[7] + 1}"
        return label
    return f"{key[1]} > {key[2]} proto {key[3]} ip id {key[4]}"


def _travels_back(key: PacketKey, seen_at: Mapping[str, Sighting], order: Sequence[str]) -> bool:
    """ICMP echo replies and DHCP server messages travel the path backwards, and so
    does any other packet seen at the last point but not at the first."""
    if key[0] == "icmp" and key[3] in (0, 8):
        return key[3] == 0
    if key[0] == "dhcp":
        return key[3] == 2
    return order[0] not in seen_at and order[-1] in seen_at


@dataclass(frozen=True, slots=True)
class Sighting:
    point: str
    ts: float
    vids: tuple[int, ...]
    wire_len: int
    head: bytes = b""  # the frame's first FRAME_BYTES bytes, for the packet detail view
    linktype: int = 1

    @property
    def frame(self) -> str:
        """``"LINKTYPE:HEX"`` of the kept bytes ("" when none were kept)."""
        return f"{self.linktype}:{self.head.hex()}" if self.head else ""

    @property
    def depth(self) -> int:
        return len(self.vids)

    @property
    def tags(self) -> str:
        return ",".join(map(str, self.vids)) or "untagged"


@dataclass(slots=True)
class PacketTrace:
    key: PacketKey
    label: str
    direction: str  # "forward" (along the given order) or "reverse"
    path: list[str]  # capture points in the packet's direction of travel
    sightings: list[Sighting]  # in path order; never empty

    @property
    def kind(self) -> str:
        return str(self.key[0])

    @property
    def last_point(self) -> str:
        return self.sightings[-1].point

    @property
    def delivered(self) -> bool:
        return self.last_point == self.path[-1]

    @property
    def lost_after(self) -> str | None:
        return None if self.delivered else self.last_point

    def _hops(self) -> list[tuple[Sighting, Sighting]]:
        return list(zip(self.sightings, self.sightings[1:], strict=False))

    @property
    def tag_added(self) -> tuple[str, str] | None:
        """The first hop (from, to) where the tag stack grew."""
        return next(((a.point, b.point) for a, b in self._hops() if b.depth > a.depth), None)

    @property
    def tag_removed(self) -> tuple[str, str] | None:
        """The first hop (from, to) where the tag stack shrank."""
        return next(((a.point, b.point) for a, b in self._hops() if b.depth < a.depth), None)

    @property
    def size_changed(self) -> tuple[str, str, int, int] | None:
        """The first hop (from, to, size before, size after) where the wire size changed."""
        return next(
            ((a.point, b.point, a.wire_len, b.wire_len) for a, b in self._hops()
             if b.wire_len != a.wire_len),
            None,
        )  # fmt: skip

    @property
    def odd(self) -> bool:
        """Worth a look even if delivered: stacked tags somewhere, or a size change that
        the tags pushed or popped on that hop (4 bytes each) do not explain. A single
        tag added at the trunk and removed again is what a VLAN network does."""
        if self.first_stacked is not None:
            return True
        return any(b.wire_len - a.wire_len != 4 * (b.depth - a.depth) for a, b in self._hops())

    @property
    def first_stacked(self) -> str | None:
        return next((s.point for s in self.sightings if s.depth >= 2), None)

    @property
    def seen_everywhere(self) -> bool:
        return len(self.sightings) == len(self.path)

    def changes(self) -> list[str]:
        said = []
        if (hop := self.tag_added) is not None:
            said.append(f"tag added {hop[0]} -> {hop[1]}")
        if (hop := self.tag_removed) is not None:
            said.append(f"tag removed {hop[0]} -> {hop[1]}")
        if (size := self.size_changed) is not None:
            said.append(f"size {size[2]} -> {size[3]} at {size[0]} -> {size[1]}")
        return said

    def verdict(self) -> str:
        head = "delivered" if self.delivered else f"lost after {self.last_point}"
        return "; ".join([head, *self.changes()])

    def line(self) -> str:
        """``label: a [20] 1518 -> b [20,100] 1522 -> lost`` (VIDs outer first, wire bytes)."""
        hops = " -> ".join(
            f"{s.point} [{','.join(map(str, s.vids)) or 'untagged'}] {s.wire_len}"
            for s in self.sightings
        )
        return f"{self.label}: {hops}" + ("" if self.delivered else " -> lost")


@dataclass(frozen=True, slots=True)
class CorrelationRow:
    """One table row of display strings; ``cells`` follow ``Correlation.order``."""

    packet: str
    cells: tuple[str, ...]
    last_seen: str
    verdict: str
    lost: bool
    changed: bool
    frames: tuple[str, ...] = ()  # per capture point: ``Sighting.frame`` or ""

    def as_tuple(self) -> tuple[str, ...]:
        return (self.packet, *self.cells, self.last_seen, self.verdict)


def _count(into: dict[str, int], key: str) -> None:
    into[key] = into.get(key, 0) + 1


def _most(counts: Mapping[str, int]) -> str | None:
    return max(counts, key=lambda k: counts[k]) if counts else None


@dataclass(slots=True)
class Correlation:
    order: list[str]
    packets: list[PacketTrace]
    unkeyed: dict[str, int]  # frames per point that cannot be matched (not IPv4)
    adds_tag: dict[str, int]  # "a -> b" -> packets whose stack grew on that hop
    stacked_at: dict[str, int]  # point -> packets showing a stacked tag there first
    lost_after: dict[str, int]  # point -> packets last seen there
    delivered: int
    removes_tag: dict[str, int] = field(default_factory=dict)
    resized: dict[str, int] = field(default_factory=dict)  # "a -> b" -> packets
    seen_everywhere: int = 0

    @property
    def first_stacking_point(self) -> str | None:
        """The earliest capture point (in path order) where a packet shows stacked tags."""
        return next((p for p in self.order if p in self.stacked_at), None)

    @property
    def lost(self) -> list[PacketTrace]:
        return [t for t in self.packets if not t.delivered]

    def columns(self) -> list[str]:
        return ["packet", *self.order, "last seen", "verdict"]

    def rows(self) -> list[CorrelationRow]:
        """One row per packet, in order of first sighting. A point's cell is the local
        time (first sighting) or the delay since it, the tags and the wire size; a point
        on the path where the packet never showed up reads "-"."""
        rows = []
        for trace in sorted(self.packets, key=lambda t: t.sightings[0].ts):
            first = trace.sightings[0].ts
            at = {s.point: s for s in trace.sightings}
            cells = []
            for point in self.order:
                s = at.get(point)
                if s is None:
                    cells.append("-")
                    continue
                when = clock(s.ts) if s is trace.sightings[0] else f"+{(s.ts - first) * 1000:.1f}ms"
                cells.append(f"{when} [{s.tags}] {s.wire_len}")
            rows.append(
                CorrelationRow(
                    trace.label,
                    tuple(cells),
                    trace.last_point,
                    trace.verdict(),
                    not trace.delivered,
                    trace.odd,
                    tuple(at[p].frame if p in at else "" for p in self.order),
                )
            )
        return rows

    def table(
        self, title: str = "the same packet at every capture point", limit: int = 200
    ) -> ResultTable:
        """The rows as a bounded ``ResultTable`` (lost and changed packets kept first)."""
        rows = self.rows()
        telling = [r for r in rows if r.lost or r.changed]
        shown = (telling + [r for r in rows if not (r.lost or r.changed)])[:limit]
        shown.sort(key=rows.index)  # back in order of first sighting
        return ResultTable(
            title=title,
            columns=tuple(self.columns()),
            rows=tuple(r.as_tuple() for r in shown),
            flags=tuple("lost" if r.lost else "changed" if r.changed else "" for r in shown),
            omitted=len(rows) - len(shown),
            frames=tuple(("", *r.frames, "", "") for r in shown),
        )

    def facts(self) -> dict[str, FactValue]:
        """Walker facts: counts, where packets vanish, which hop adds a tag."""
        return {
            "packets_matched": len(self.packets),
            "packets_seen_everywhere": self.seen_everywhere,
            "packets_delivered": self.delivered,
            "packets_lost": len(self.packets) - self.delivered,
            "lost_after": _most(self.lost_after),
            "lost_after_counts": dict(self.lost_after),
            "tag_added_at": _most(self.adds_tag),
            "tag_removed_at": _most(self.removes_tag),
            "size_changed_at": _most(self.resized),
            "first_stacking_point": self.first_stacking_point,
        }

    def lines(self, examples: int = 5) -> list[str]:
        """Operator-facing sentences, most telling first; [] when nothing matched."""
        if not self.packets:
            return []
        lines = [
            f"{len(self.packets)} packets matched across {' -> '.join(self.order)}; "
            f"{self.delivered} seen at the end of their path"
        ]
        for hop, n in sorted(self.adds_tag.items(), key=lambda kv: -kv[1]):
            lines.append(f"{hop} adds a tag ({n} packets)")
        for hop, n in sorted(self.removes_tag.items(), key=lambda kv: -kv[1]):
            lines.append(f"{hop} removes a tag ({n} packets)")
        for point, n in sorted(self.stacked_at.items(), key=lambda kv: -kv[1]):
            lines.append(f"stacked tags first seen at {point} ({n} packets)")
        for point, n in sorted(self.lost_after.items(), key=lambda kv: -kv[1]):
            lines.append(f"{n} packets vanish after {point}")
        lost = [t for t in self.packets if not t.delivered]
        changed = [t for t in self.packets if t.delivered and t.tag_added is not None]
        return lines + [t.line() for t in (lost + changed)[:examples]]


def correlate(points: Mapping[str, Sequence[Frame]], order: Sequence[str]) -> Correlation:
    """Match packets across capture points listed in ``order`` (the forward path:
    from the pinging host, or from the DHCP client, towards the far end).

    Points missing from ``order`` are appended; points in ``order`` without frames
    are dropped. A packet seen twice at one point counts once (a bond and its member).
    """
    order = [p for p in order if p in points] + [p for p in points if p not in order]
    seen: dict[PacketKey, dict[str, Sighting]] = {}
    unkeyed = dict.fromkeys(order, 0)
    for point in order:
        copies: dict[PacketKey, int] = {}
        last_ts: dict[PacketKey, float] = {}
        for frame in points[point]:
            key = packet_key(frame)
            if key is None:
                unkeyed[point] += 1
                continue
            if key[0] == "dhcp":  # retransmissions are identical: number them
                prev = last_ts.get(key)
                if prev is not None and abs(frame.ts - prev) <= DUPLICATE_WINDOW:
                    continue
                n = copies.get(key, 0)
                copies[key], last_ts[key] = n + 1, frame.ts
                key = (*key, n)
            at = seen.setdefault(key, {})
            if point not in at:  # first copy only (a bond and its member, retransmits)
                head = bytes(frame.data[:FRAME_BYTES])
                at[point] = Sighting(
                    point, frame.ts, frame.vids, frame.wire_len, head, frame.linktype
                )
    return correlation_of(seen, order, unkeyed)


def correlation_of(
    seen: Mapping[PacketKey, Mapping[str, Sighting]],
    order: Sequence[str],
    unkeyed: dict[str, int],
) -> Correlation:
    """Traces and tallies from each packet's sightings (point -> first sighting);
    ``order`` is the forward path. Used by ``correlate`` and by offline captures."""
    order = list(order)
    result = Correlation(order, [], unkeyed, {}, {}, {}, 0)
    for key, at in seen.items():
        reverse = _travels_back(key, at, order)
        path = order[::-1] if reverse else list(order)
        trace = PacketTrace(
            key,
            packet_label(key),
            "reverse" if reverse else "forward",
            path,
            [at[p] for p in path if p in at],
        )
        result.packets.append(trace)
        if (hop := trace.tag_added) is not None:
            _count(result.adds_tag, f"{hop[0]} -> {hop[1]}")
        if (hop := trace.tag_removed) is not None:
            _count(result.removes_tag, f"{hop[0]} -> {hop[1]}")
        if (size := trace.size_changed) is not None:
            _count(result.resized, f"{size[0]} -> {size[1]}")
        if (where := trace.lost_after) is not None:
            _count(result.lost_after, where)
        if (first := trace.first_stacked) is not None:
            _count(result.stacked_at, first)
        result.delivered += trace.delivered
        result.seen_everywhere += trace.seen_everywhere
    return result
