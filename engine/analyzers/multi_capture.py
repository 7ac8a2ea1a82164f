"""Several captures of the same traffic, correlated offline: ``cloudtales analyze A B ...``.

Each file is streamed once (``engine.parsers.pcap_scan``, every frame decoded in
Python) into its own ``CaptureTally`` (the single-file findings) and a ``PointSink``
that keeps, for the first ``WINDOW`` IPv4 packets of the file, one ``Sighting`` per
packet key (``engine.analyzers.correlate.packet_key``): no frame bytes, no whole
capture. Later packets are counted, not matched; the window is stated.

Then, as for live captures (``correlate.correlation_of``): the same packet at each
point, tags and size per hop, where it was last seen. Offline the path order is not
known, so it is inferred: the client (or pinging) side sees requests whose replies
never came back, the server side sees replies; ties keep the command-line order unless
the timings say the other way round. The clock offset between files is estimated from
matched packets (both directions: NTP's symmetric-delay estimate). A packet seen at
some points only is judged only inside the time span every capture covers (give
or take ``SPAN_SLACK``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from engine.analyzers.capture_tally import CaptureTally
from engine.analyzers.correlate import (
    DUPLICATE_WINDOW,
    Correlation,
    PacketKey,
    Sighting,
    correlation_of,
    packet_key,
)
from engine.analyzers.dhcp import DhcpConversation
from engine.parsers.pcap import Frame
from engine.parsers.pcap_kernel import KernelState

WINDOW = 20_000  # IPv4 packets matched per file (~8 MB of sightings); later ones counted
SPAN_SLACK = 1.0  # s: a file's last packet is not when its capture stopped


def direction_of(key: PacketKey) -> int:
    """+1 for a request (ICMP echo request, DHCP from a client), -1 for a reply, 0 else."""
    if key[0] == "icmp" and key[3] in (0, 8):
        return 1 if key[3] == 8 else -1
    if key[0] == "dhcp":
        return 1 if key[3] == 1 else -1
    return 0


@dataclass(slots=True)
class PointSink:
    """The ``FrameSink`` of one capture point: its tally plus its sightings."""

    point: str
    tally: CaptureTally
    seen: dict[PacketKey, dict[str, Sighting]]  # shared by every point
    window: int = WINDOW
    kept: int = 0  # packets matched (inside the window)
    beyond: int = 0  # IPv4 packets after the window: counted only
    unkeyed: int = 0  # frames that cannot be matched (not IPv4)
    start: float | None = None  # first and last frame time inside the window
    end: float | None = None
    copies: dict[PacketKey, int] = field(default_factory=dict)
    last_ts: dict[PacketKey, float] = field(default_factory=dict)

    def add(self, frame: Frame) -> None:
        self.tally.add(frame)
        key = packet_key(frame)
        if key is not None and self.kept >= self.window:
            self.beyond += 1
            return
        if not self.beyond and math.isfinite(frame.ts):  # any frame shows the capture ran
            self.start = frame.ts if self.start is None else min(self.start, frame.ts)
            self.end = frame.ts if self.end is None else max(self.end, frame.ts)
        if key is None:
            self.unkeyed += 1
            return
        if key[0] == "dhcp":  # identical retransmissions: numbered, as live
            prev = self.last_ts.get(key)
            if prev is not None and abs(frame.ts - prev) <= DUPLICATE_WINDOW:
                return
            n = self.copies.get(key, 0)
            self.copies[key], self.last_ts[key] = n + 1, frame.ts
            key = (*key, n)
        at = self.seen.setdefault(key, {})
        if self.point in at:
            return  # a second copy at one point (a bond and its member)
        at[self.point] = Sighting(self.point, frame.ts, frame.vids, frame.wire_len)
        self.kept += 1

    def add_example(self, frame: Frame) -> None:
        self.tally.add_example(frame)

    def add_kernel(self, state: KernelState) -> None:
        self.tally.add_kernel(state)


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """``point``'s clock minus ``reference``'s, from packets both saw."""

    point: str
    reference: str
    offset: float | None  # seconds; None: no packet seen at both
    packets: int
    method: str  # "both directions", "one way (includes the delay)", "none"
    delay: float | None = None  # one-way delay, when both directions were seen

    def line(self) -> str:
        if self.offset is None:
            return f"{self.point}: clock offset unknown (no packet seen at {self.reference} too)"
        said = f"{self.point} clock {self.offset * 1000:+.3f} ms against {self.reference}"
        said += f" ({self.packets} matched packets, {self.method}"
        if self.delay is not None:
            said += f"; one-way delay {self.delay * 1000:.3f} ms"
        return said + ")"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def clock_offset(
    seen: Mapping[PacketKey, Mapping[str, Sighting]], reference: str, point: str
) -> ClockOffset:
    """Requests travel reference -> point, replies come back: with both, the offset is
    half the difference of the medians (the delay cancels out if it is symmetric)."""
    fwd: list[float] = []
    back: list[float] = []
    other: list[float] = []
    for key, at in seen.items():
        a, b = at.get(reference), at.get(point)
        if a is None or b is None:
            continue
        way = direction_of(key)
        (fwd if way > 0 else back if way < 0 else other).append(b.ts - a.ts)
    n = len(fwd) + len(back) + len(other)
    if fwd and back:
        there, home = _median(fwd), -_median(back)
        return ClockOffset(
            point, reference, (there - home) / 2, n, "both directions", (there + home) / 2
        )
    one_way = fwd or [-d for d in back] or other
    if not one_way:
        return ClockOffset(point, reference, None, 0, "none")
    return ClockOffset(point, reference, _median(one_way), n, "one way (includes the delay)")


def path_order(
    seen: Mapping[PacketKey, Mapping[str, Sighting]], points: Sequence[str]
) -> tuple[list[str], str]:
    """The forward path (client side first) and why. Score: requests minus replies seen
    at each point; a tie between neighbours is settled by the timings (a negative
    one-way delay means they were the wrong way round)."""
    score = dict.fromkeys(points, 0)
    for key, at in seen.items():
        way = direction_of(key)
        for p in at:
            score[p] += way
    order = sorted(points, key=lambda p: -score[p])  # stable: command-line order on ties
    told = len(set(score.values())) > 1
    why = "inferred: client side first, it saw requests go unanswered" if told else ""
    for i in range(len(order) - 1):
        a, b = order[i], order[i + 1]
        if score[a] != score[b]:
            continue
        est = clock_offset(seen, a, b)
        if est.delay is not None and est.delay < 0:
            order[i], order[i + 1] = b, a
            why = "inferred: client side first, requests reached the other side later"
    return order, why or "as given: nothing told the sides apart"


def judged(
    seen: Mapping[PacketKey, Mapping[str, Sighting]],
    sinks: Mapping[str, PointSink],
    offsets: Mapping[str, float],
) -> tuple[dict[PacketKey, Mapping[str, Sighting]], tuple[float, float] | None, int]:
    """The packets to judge: every packet seen at all points, and the others whose first
    sighting (clock-corrected) falls in the span that every capture's window covers:
    ``SPAN_SLACK`` wider at each end, except where a window was cut by its cap (that
    end is exact). Returns (packets, the span in the reference clock or None, packets
    not judged)."""
    spans = [
        (
            s.start - offsets.get(p, 0.0) - SPAN_SLACK,
            s.end - offsets.get(p, 0.0) + (0.0 if s.beyond else SPAN_SLACK),
        )
        for p, s in sinks.items()
        if s.start is not None and s.end is not None
    ]
    span = None
    if len(spans) == len(sinks) and spans:
        lo, hi = max(a for a, _ in spans), min(b for _, b in spans)
        span = (lo, hi) if lo <= hi else None
    keep: dict[PacketKey, Mapping[str, Sighting]] = {}
    dropped = 0
    for key, at in seen.items():
        if len(at) == len(sinks):
            keep[key] = at
            continue
        first = min(s.ts - offsets.get(s.point, 0.0) for s in at.values())
        if span is not None and span[0] <= first <= span[1]:
            keep[key] = at
        else:
            dropped += 1
    return keep, span, dropped


@dataclass(slots=True)
class MultiCorrelation:
    """What several captures say together; rendered by ``multi_report``."""

    order: list[str]
    order_reason: str
    sinks: dict[str, PointSink]
    offsets: list[ClockOffset]
    correlation: Correlation
    span: tuple[float, float] | None
    not_judged: int
    conversations: list[DhcpConversation]
    server: str | None  # the point that saw the most DHCP replies

    @property
    def window(self) -> int:
        return min((s.window for s in self.sinks.values()), default=WINDOW)


def merge_conversations(
    by_point: Mapping[str, Sequence[DhcpConversation]],
) -> list[DhcpConversation]:
    """One conversation per (xid, MAC) over every point, each message labelled with
    its point, in time order."""
    merged: dict[tuple[int, str], DhcpConversation] = {}
    for point, convs in by_point.items():
        for conv in convs:
            into = merged.setdefault(
                (conv.xid, conv.client_mac), DhcpConversation(conv.xid, conv.client_mac)
            )
            into.events.extend(replace(e, point=point) for e in conv.events)
    for conv in merged.values():
        conv.events.sort(key=lambda e: e.ts)
    return sorted(merged.values(), key=lambda c: c.events[0].ts)


def server_point(convs: Sequence[DhcpConversation]) -> str | None:
    replies: dict[str, int] = {}
    for conv in convs:
        for e in conv.events:
            if e.msg.from_server:
                replies[e.point] = replies.get(e.point, 0) + 1
    return max(replies, key=lambda p: replies[p]) if replies else None


def correlate_points(
    sinks: dict[str, PointSink], convs: Mapping[str, Sequence[DhcpConversation]]
) -> MultiCorrelation:
    """Everything the sinks saw, once every file has been streamed."""
    seen = next(iter(sinks.values())).seen if sinks else {}
    order, why = path_order(seen, list(sinks))
    ref = order[0]
    offsets = [clock_offset(seen, ref, p) for p in order[1:]]
    shift = {o.point: o.offset or 0.0 for o in offsets}
    keep, span, dropped = judged(seen, sinks, shift)
    unkeyed = {p: sinks[p].unkeyed for p in order}
    merged = merge_conversations(convs)
    return MultiCorrelation(
        order,
        why,
        sinks,
        offsets,
        correlation_of(keep, order, unkeyed),
        span,
        dropped,
        merged,
        server_point(merged),
    )
