"""Pure VLAN analysis over decoded frames: tag depth, tag stacks, oversize frames, hops.

Size rule: a link with MTU ``m`` carries Ethernet frames of at most
``m + 14`` (Ethernet header) ``+ 4`` (one 802.1Q tag) bytes, FCS not counted (captures
do not include it). A 1500-byte IP packet under two tags is 1522 bytes and is dropped;
under one tag it is 1518 and passes. That is the Double VLAN signature.

>>> max_frame_len(1500)
1518
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.parsers.pcap import Frame

ETH_HEADER = 14
VLAN_TAG = 4

PacketKey = tuple[str | int | None, ...]


def max_frame_len(mtu: int) -> int:
    """Largest frame (wire length, no FCS) a link with this MTU carries."""
    return mtu + ETH_HEADER + VLAN_TAG


def is_oversize(frame: Frame, mtu: int) -> bool:
    return frame.wire_len > mtu + ETH_HEADER + VLAN_TAG


def fits_with_one_tag(frame: Frame, mtu: int) -> bool:
    """Oversize, stacked, and it would fit if only one tag remained (Double VLAN)."""
    depth, limit = len(frame.tags), max_frame_len(mtu)
    return depth >= 2 and frame.wire_len > limit >= frame.wire_len - VLAN_TAG * (depth - 1)


def tag_depth_histogram(frames: Iterable[Frame]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for frame in frames:
        depth = len(frame.tags)
        counts[depth] = counts.get(depth, 0) + 1
    return counts


@dataclass(slots=True)
class VlanFindings:
    mtu: int
    frames: int = 0
    depth_counts: dict[int, int] = field(default_factory=dict)  # tags per frame -> frames
    stacked_frames: int = 0  # frames with two or more tags
    stacks: dict[tuple[int, ...], int] = field(default_factory=dict)  # VIDs outer first
    oversize: int = 0  # wire_len > max_frame_len(mtu)
    double_tag_oversize: int = 0  # oversize only because of the extra tag(s)
    largest_wire_len: int = 0

    @property
    def limit(self) -> int:
        return max_frame_len(self.mtu)

    @property
    def max_depth(self) -> int:
        return max(self.depth_counts, default=0)

    @property
    def stacked(self) -> dict[tuple[int, ...], int]:
        return {vids: n for vids, n in self.stacks.items() if len(vids) >= 2}

    def verdict(self) -> str:
        """One of the outcome names: stacked, single, untagged, no_frames."""
        if not self.frames:
            return "no_frames"
        if self.stacked_frames:
            return "stacked"
        return "single" if self.max_depth == 1 else "untagged"

    def summary_line(self) -> str:
        """E.g. ``40 frames: untagged 2, 2 tags 38 [20,100 x38]; 19 oversize > 1518``."""
        if not self.frames:
            return "no frames"
        depths = ", ".join(f"{depth_label(d)} {n}" for d, n in sorted(self.depth_counts.items()))
        stacked = ", ".join(f"{','.join(map(str, k))} x{n}" for k, n in _by_count(self.stacked))
        line = f"{self.frames} frames: {depths}" + (f" [{stacked}]" if stacked else "")
        if self.oversize:
            line += f"; {self.oversize} oversize > {self.limit}"
        return f"{line}; largest {self.largest_wire_len} bytes"

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict(),
            "mtu": self.mtu,
            "max_frame_len": self.limit,
            "frames": self.frames,
            "max_depth": self.max_depth,
            "depth_counts": {str(k): v for k, v in sorted(self.depth_counts.items())},
            "stacked_frames": self.stacked_frames,
            "stacks": {",".join(map(str, k)): v for k, v in _by_count(self.stacks)},
            "oversize": self.oversize,
            "double_tag_oversize": self.double_tag_oversize,
            "largest_wire_len": self.largest_wire_len,
        }


def depth_label(depth: int) -> str:
    return "untagged" if depth == 0 else f"{depth} tag{'s' if depth > 1 else ''}"


def _by_count(counts: dict[tuple[int, ...], int]) -> list[tuple[tuple[int, ...], int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def analyze_vlan(frames: Iterable[Frame], mtu: int = 1500) -> VlanFindings:
    """Tag depth, stacks and sizes of a set of frames (one pass, no copies)."""
    limit = max_frame_len(mtu)
    depth: dict[int, int] = {}
    stacks: dict[tuple[int, ...], int] = {}
    total = stacked = oversize = double = largest = 0
    for frame in frames:
        total += 1
        tags, wire = frame.tags, frame.wire_len
        n = len(tags)
        depth[n] = depth.get(n, 0) + 1
        if n:
            vids = (tags[0][1],) if n == 1 else tuple(vid for _, vid in tags)
            stacks[vids] = stacks.get(vids, 0) + 1
            if n >= 2:
                stacked += 1
        if wire > largest:
            largest = wire
        if wire > limit:
            oversize += 1
            if n >= 2 and wire - VLAN_TAG * (n - 1) <= limit:
                double += 1
    return VlanFindings(mtu, total, depth, stacked, stacks, oversize, double, largest)


# --- the same packet seen at several capture points -------------------------------


def packet_key(frame: Frame) -> PacketKey | None:
    """Identity of an IPv4 packet across capture points (None for non-IPv4 frames)."""
    if frame.ip_src is None:
        return None
    if frame.icmp_id is not None:
        return ("icmp", frame.ip_src, frame.ip_dst, frame.icmp_type, frame.icmp_id, frame.icmp_seq)
    return ("ip", frame.ip_src, frame.ip_dst, frame.ip_proto, frame.ip_id)


def packet_label(key: PacketKey) -> str:
    if key[0] == "icmp":
        kind = "echo reply" if key[3] == 0 else "echo request"
        return f"{key[1]} > {key[2]} ICMP {kind} id {key[4]} seq {key[5]}"
    return f"{key[1]} > {key[2]} proto {key[3]} ip id {key[4]}"


@dataclass(frozen=True, slots=True)
class Sighting:
    point: str
    ts: float
    vids: tuple[int, ...]
    wire_len: int

    @property
    def depth(self) -> int:
        return len(self.vids)


@dataclass(slots=True)
class PacketTrace:
    key: PacketKey
    label: str
    direction: str  # "forward" (along the given order) or "reverse"
    path: list[str]  # capture points in the packet's direction of travel
    sightings: list[Sighting]  # in path order; never empty

    @property
    def last_point(self) -> str:
        return self.sightings[-1].point

    @property
    def delivered(self) -> bool:
        return self.last_point == self.path[-1]

    @property
    def lost_after(self) -> str | None:
        return None if self.delivered else self.last_point

    @property
    def tag_added(self) -> tuple[str, str] | None:
        """The first hop (from, to) where the tag stack grew."""
        for before, after in zip(self.sightings, self.sightings[1:], strict=False):
            if after.depth > before.depth:
                return before.point, after.point
        return None

    @property
    def first_stacked(self) -> str | None:
        return next((s.point for s in self.sightings if s.depth >= 2), None)

    def line(self) -> str:
        """``label: a [20] 1518 -> b [20,100] 1522 -> lost`` (VIDs outer first, wire bytes)."""
        hops = " -> ".join(
            f"{s.point} [{','.join(map(str, s.vids)) or 'untagged'}] {s.wire_len}"
            for s in self.sightings
        )
        return f"{self.label}: {hops}" + ("" if self.delivered else " -> lost")


@dataclass(slots=True)
class HopReport:
    order: list[str]
    packets: list[PacketTrace]
    unkeyed: dict[str, int]  # frames per point that cannot be matched (not IPv4)
    adds_tag: dict[str, int]  # "a -> b" -> packets whose stack grew on that hop
    stacked_at: dict[str, int]  # point -> packets showing a stacked tag there first
    lost_after: dict[str, int]  # point -> packets last seen there
    delivered: int

    @property
    def first_stacking_point(self) -> str | None:
        """The earliest capture point (in path order) where a packet shows stacked tags."""
        return next((p for p in self.order if p in self.stacked_at), None)

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
        for point, n in sorted(self.stacked_at.items(), key=lambda kv: -kv[1]):
            lines.append(f"stacked tags first seen at {point} ({n} packets)")
        for point, n in sorted(self.lost_after.items(), key=lambda kv: -kv[1]):
            lines.append(f"{n} packets vanish after {point}")
        telling = [t for t in self.packets if not t.delivered or t.tag_added is not None]
        return lines + [t.line() for t in telling[:examples]]


def hop_report(points: dict[str, list[Frame]], order: list[str]) -> HopReport:
    """Match packets across capture points listed in ``order`` (the forward path).

    ICMP echo replies travel the path backwards, and so does any packet seen at the
    last point but not the first; everything else is traced forwards.
    """
    order = [p for p in order if p in points] + [p for p in points if p not in order]
    seen: dict[PacketKey, dict[str, Sighting]] = {}
    unkeyed = dict.fromkeys(order, 0)
    for point in order:
        for frame in points[point]:
            key = packet_key(frame)
            if key is None:
                unkeyed[point] += 1
                continue
            at = seen.setdefault(key, {})
            if point not in at:  # first copy only (a bond and its member, retransmits)
                at[point] = Sighting(point, frame.ts, frame.vids, frame.wire_len)
    packets: list[PacketTrace] = []
    adds: dict[str, int] = {}
    lost: dict[str, int] = {}
    stacked: dict[str, int] = {}
    for key, at in seen.items():
        reverse = (key[0] == "icmp" and key[3] == 0) or (
            not (key[0] == "icmp" and key[3] == 8) and order[0] not in at and order[-1] in at
        )
        path = order[::-1] if reverse else order
        trace = PacketTrace(
            key,
            packet_label(key),
            "reverse" if reverse else "forward",
            path,
            [at[p] for p in path if p in at],
        )
        packets.append(trace)
        if (hop := trace.tag_added) is not None:
            adds[f"{hop[0]} -> {hop[1]}"] = adds.get(f"{hop[0]} -> {hop[1]}", 0) + 1
        if (where := trace.lost_after) is not None:
            lost[where] = lost.get(where, 0) + 1
        if (first := trace.first_stacked) is not None:
            stacked[first] = stacked.get(first, 0) + 1
    delivered = sum(1 for t in packets if t.delivered)
    return HopReport(order, packets, unkeyed, adds, stacked, lost, delivered)
