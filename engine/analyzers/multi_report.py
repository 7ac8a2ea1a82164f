"""``cloudtales analyze A B ... [--json]``: each capture's findings, then the correlation.

Points are labelled by file name (``dir/controller.pcap`` -> ``controller``) or by
``--point NAME=FILE``. Every file is streamed once, in bounded memory
(``multi_capture.PointSink``); the text and the JSON (top-level ``captures`` and
``correlation``) state the matching window and what fell outside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from engine.analyzers.capture_report import CaptureReport, _name, report_of
from engine.analyzers.capture_tally import CaptureTally
from engine.analyzers.correlate import PacketKey, PacketTrace, Sighting
from engine.analyzers.dhcp import DhcpConversation, clock, delivery_lines
from engine.analyzers.multi_capture import (
    SPAN_SLACK,
    WINDOW,
    MultiCorrelation,
    PointSink,
    correlate_points,
)
from engine.errors import CloudtalesError
from engine.parsers.pcap import CaptureStats, PcapFormatError
from engine.parsers.pcap_scan import open_capture, scan_capture

MAX_LISTED = 20  # lost or changed packets in text
MAX_JSON_PACKETS = 1000  # packets in JSON (lost and changed first)


@dataclass(frozen=True, slots=True)
class Point:
    name: str
    path: str


def points_of(files: Sequence[str], named: Sequence[str]) -> list[Point]:
    """Capture points from plain FILEs (labelled by file name) and ``NAME=FILE``."""
    points = []
    for spec in named:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CloudtalesError(f"--point {spec}: expected NAME=FILE")
        points.append(Point(name, path))
    for path in files:
        base = os.path.basename(path)
        points.append(Point("stdin" if path == "-" else base.split(".")[0] or base, path))
    if sum(p.path == "-" for p in points) > 1:
        raise CloudtalesError("- (standard input) can be given once only")
    seen: dict[str, int] = {}
    labelled = []
    for p in points:  # two files called eth0.pcap: eth0 and eth0#2
        n = seen[p.name] = seen.get(p.name, 0) + 1
        labelled.append(p if n == 1 else Point(f"{p.name}#{n}", p.path))
    return labelled


@dataclass(slots=True)
class MultiReport:
    points: list[Point]
    reports: list[CaptureReport]
    multi: MultiCorrelation

    def to_dict(self) -> dict[str, object]:
        return {
            "captures": [
                {"point": p.name, **r.to_dict()}
                for p, r in zip(self.points, self.reports, strict=True)
            ],
            "correlation": correlation_dict(self.multi, self.points),
        }

    def to_text(self) -> str:
        parts = [r.to_text() for r in self.reports]
        parts.append("\n".join(correlation_lines(self.multi, self.points)))
        return "\n\n".join(parts)


# ------------------------------------------------------------------ streaming


def stream_points(points: Sequence[Point], mtu: int = 1500, window: int = WINDOW) -> MultiReport:
    """Stream every file once; one CloudtalesError naming the file on bad input."""
    seen: dict[PacketKey, dict[str, Sighting]] = {}
    sinks: dict[str, PointSink] = {}
    reports = []
    for point in points:
        name = _name(point.path)
        stats, tally = CaptureStats(), CaptureTally(mtu)
        sink = sinks[point.name] = PointSink(point.name, tally, seen, window)
        try:
            with open_capture(point.path) as fh:
                scan_capture(fh, sink, stats, tally.limit, pure=True)
        except PcapFormatError as exc:
            raise CloudtalesError(f"{name}: not a readable pcap/pcapng capture: {exc}") from None
        except OSError as exc:
            raise CloudtalesError(f"{name}: cannot read: {exc.strerror or exc}") from None
        reports.append(report_of(name, stats, tally))
    convs = {p.name: r.dhcp_conversations for p, r in zip(points, reports, strict=True)}
    return MultiReport(list(points), reports, correlate_points(sinks, convs))


def write_multi(
    points: Sequence[Point], out: TextIO, mtu: int = 1500, as_json: bool = False
) -> None:
    if not 68 <= mtu <= 65535:
        raise CloudtalesError(f"--mtu {mtu}: must be between 68 and 65535")
    report = stream_points(points, mtu)
    if as_json:
        json.dump(report.to_dict(), out, indent=2)
    else:
        out.write(report.to_text())
    out.write("\n")


# ------------------------------------------------------------------ rendering


def _when(ts: float | None) -> str:
    return "-" if ts is None else clock(ts)


def _telling(m: MultiCorrelation) -> list[PacketTrace]:
    """Lost packets, then delivered ones whose tags or size changed, in time order."""
    by_time = sorted(m.correlation.packets, key=lambda t: t.sightings[0].ts)
    return [t for t in by_time if not t.delivered] + [
        t for t in by_time if t.delivered and t.changes()
    ]


def _seen_by_point(conv: DhcpConversation, order: Sequence[str]) -> dict[str, dict[str, int]]:
    seen: dict[str, dict[str, int]] = {p: {} for p in order}
    for e in conv.events:
        kinds = seen.setdefault(e.point, {})
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return seen


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in kinds.items()) or "nothing"


def _dhcp_delivery(m: MultiCorrelation) -> list[str]:
    """``controller sent 9 ACK, instance received 0`` per xid, for every other point
    where that conversation shows up at all (a point that saw none of it may not be on
    its path)."""
    if m.server is None:
        return []
    return [
        line
        for conv in m.conversations
        for client in m.order
        if client != m.server and client in conv.points
        for line in delivery_lines([conv], m.server, client)
    ]


def correlation_lines(m: MultiCorrelation, points: Sequence[Point]) -> list[str]:
    c = m.correlation
    lines = [
        f"correlation of {len(points)} captures, path {' -> '.join(m.order)} ({m.order_reason}):"
    ]
    for p in sorted(points, key=lambda p: m.order.index(p.name)):
        s = m.sinks[p.name]
        lines.append(
            f"  {p.name}: {_name(p.path)}, {s.kept} IPv4 packets matched "
            f"({_when(s.start)} - {_when(s.end)})"
            + (f", {s.beyond} later ones counted, not matched" if s.beyond else "")
        )
    lines.append(
        f"window: the first {m.window:,} IPv4 packets of each file are matched (cap); "
        + (
            f"{m.not_judged} packet(s) seen at some points only, outside the span every "
            f"window covers (+/- {SPAN_SLACK:g} s where a capture ended), not judged"
            if m.not_judged
            else "every packet seen at some points only fell inside the span every window covers"
        )
    )
    lines.extend(f"clock: {o.line()}" for o in m.offsets)
    lines.extend(c.lines(examples=0) or ["no packet seen at more than one point"])
    if m.conversations:
        lines.append("DHCP per xid (what each side saw):")
        for conv in m.conversations:
            seen = _seen_by_point(conv, m.order)
            said = "; ".join(f"{p} {_kinds(k)}" for p, k in seen.items())
            lines.append(f"  xid 0x{conv.xid:08x} {conv.client_mac}: {said}")
        lines.extend(f"  {line}" for line in _dhcp_delivery(m))
    telling = _telling(m)
    if telling:
        lines.append("lost or changed on the way (first sighting time):")
        for t in telling[:MAX_LISTED]:
            said = ", ".join(t.changes())
            lines.append(f"  {clock(t.sightings[0].ts)} {t.line()}" + (f"; {said}" if said else ""))
        if len(telling) > MAX_LISTED:
            lines.append(f"  ... {len(telling) - MAX_LISTED} more (see --json)")
    return lines


def _trace_dict(t: PacketTrace) -> dict[str, object]:
    return {
        "packet": t.label,
        "kind": t.kind,
        "direction": t.direction,
        "path": t.path,
        "delivered": t.delivered,
        "last_seen": t.last_point,
        "verdict": t.verdict(),
        "sightings": [
            {
                "point": s.point,
                "ts": round(s.ts, 6),
                "vlan_tags": list(s.vids),
                "wire_len": s.wire_len,
            }
            for s in t.sightings
        ],
    }


def correlation_dict(m: MultiCorrelation, points: Sequence[Point]) -> dict[str, object]:
    c = m.correlation
    telling = _telling(m)
    rest = sorted(
        (t for t in c.packets if t.delivered and not t.changes()), key=lambda t: t.sightings[0].ts
    )
    listed = (telling + rest)[:MAX_JSON_PACKETS]
    offsets = {o.point: o for o in m.offsets}
    lost = [t for t in telling if not t.delivered]
    return {
        "path_order": m.order,
        "order_reason": m.order_reason,
        "points": [
            {
                "name": p.name,
                "path": _name(p.path),
                "packets_matched": m.sinks[p.name].kept,
                "packets_beyond_window": m.sinks[p.name].beyond,
                "frames_unkeyed": m.sinks[p.name].unkeyed,
                "window_start": m.sinks[p.name].start,
                "window_end": m.sinks[p.name].end,
                "clock_offset_ms": (
                    None
                    if p.name not in offsets or offsets[p.name].offset is None
                    else round((offsets[p.name].offset or 0.0) * 1000, 3)
                ),
                "clock_reference": m.order[0],
                "clock_method": offsets[p.name].method if p.name in offsets else "reference",
            }
            for p in points
        ],
        "window": {
            "max_packets_per_file": m.window,
            "span_slack_seconds": SPAN_SLACK,
            "common_span": list(m.span) if m.span else None,
            "packets_not_judged": m.not_judged,
        },
        "summary": c.facts(),
        "packets": [_trace_dict(t) for t in listed],
        "packets_not_listed": len(c.packets) - len(listed),
        "dhcp_server_point": m.server,
        "dhcp": [
            {
                "xid": f"0x{conv.xid:08x}",
                "client_mac": conv.client_mac,
                "outcome": conv.outcome,
                "seen": _seen_by_point(conv, m.order),
                "not_delivered": [
                    {"type": t.key[5], "ts": round(t.sightings[0].ts, 6), "last_seen": t.last_point}
                    for t in lost
                    if t.kind == "dhcp" and t.key[4] == conv.xid
                ],
            }
            for conv in m.conversations
        ],
        "dhcp_delivery": _dhcp_delivery(m),
    }
