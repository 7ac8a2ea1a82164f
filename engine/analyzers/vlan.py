"""Pure VLAN analysis over decoded frames: tag depth, tag stacks, oversize frames.

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
