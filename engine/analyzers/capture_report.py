"""Offline capture analysis behind ``cloudtales analyze FILE [--mtu N] [--json]``.

One pass for VLAN depth and sizes (``analyze_vlans``), then a look at the few frames
flagged as BPDU or DHCP. The report renders as JSON (``to_dict``) or text (``to_text``).
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from engine.analyzers.dhcp import DhcpConversation, conversations, decode_dhcp
from engine.analyzers.stp import BpduFindings, analyze_bpdus
from engine.analyzers.summary import bpdu_kind, describe
from engine.analyzers.vlan import (
    VlanFindings,
    analyze_vlan,
    depth_label,
    fits_with_one_tag,
    max_frame_len,
)
from engine.errors import CloudtalesError
from engine.parsers.pcap import (
    LINKTYPE_NAMES,
    Capture,
    CaptureStats,
    Frame,
    PcapFormatError,
    iter_frames,
)

MAX_EXAMPLES = 5
MAX_KEPT = 10000  # BPDU and DHCP frames kept for a closer look (the rest only counted)
MAX_CONVERSATIONS = 20  # shown in text; JSON has them all
MAX_MESSAGES = 12  # per conversation, in text

VERDICT_TEXT = {
    "stacked": "frames carry stacked VLAN tags (Double VLAN: a tag is added twice)",
    "single": "frames carry one VLAN tag; no stacked tags seen",
    "untagged": "no VLAN tags seen (captured above the VLAN device, or tags offloaded)",
    "no_frames": "the capture holds no frames",
}


def dhcp_message_type(frame: Frame) -> str:
    """DISCOVER, OFFER... from option 53; "BOOTP" without it; "truncated" when the capture
    cut the datagram short (snaplen); "malformed" when the bytes do not add up. Never raises."""
    msg = decode_dhcp(frame)
    if msg is None:
        return "truncated" if frame.cap_len < frame.wire_len else "malformed"
    if msg.msg_type is None and (msg.truncated or msg.malformed):
        return "truncated" if msg.truncated else "malformed"
    return msg.type_name


@dataclass(slots=True)
class CaptureReport:
    path: str
    mtu: int
    stats: CaptureStats
    vlan: VlanFindings
    bpdus: dict[str, int] = field(default_factory=dict)  # STP/RSTP/MSTP/PVST+... -> frames
    dhcp: dict[str, int] = field(default_factory=dict)  # message type -> frames
    examples: list[str] = field(default_factory=list)  # describe() of telling frames
    dhcp_conversations: list[DhcpConversation] = field(default_factory=list)  # per xid
    stp: BpduFindings | None = None  # senders, bridge and root ids, PVST+ VLANs

    @property
    def verdict(self) -> str:
        return self.vlan.verdict()

    def to_dict(self) -> dict[str, object]:
        st = self.stats
        return {
            "path": self.path,
            "format": st.format,
            "linktypes": {LINKTYPE_NAMES.get(k, str(k)): v for k, v in st.linktypes.items()},
            "capture_problems": {
                "truncated": st.truncated,
                "malformed": st.malformed,
                "unsupported_linktype": st.unsupported,
                "unknown_blocks": st.unknown_blocks,
            },
            **self.vlan.to_dict(),
            "bpdus": self.bpdus,
            "dhcp": self.dhcp,
            "dhcp_conversations": [c.to_dict() for c in self.dhcp_conversations],
            "stp": self.stp.to_dict() if self.stp else None,
            "examples": self.examples,
        }

    def to_text(self) -> str:
        st, v = self.stats, self.vlan
        links = ", ".join(LINKTYPE_NAMES.get(k, f"linktype {k}") for k in st.linktypes)
        lines = [
            f"{self.path}: {v.frames} frames ({st.format}{', ' + links if links else ''})",
            f"verdict: {self.verdict} - {VERDICT_TEXT[self.verdict]}",
            f"MTU {self.mtu}: frames up to {v.limit} bytes fit "
            f"({self.mtu} + 14 Ethernet + 4 for one 802.1Q tag)",
        ]
        if v.frames:
            depths = sorted(v.depth_counts.items())
            lines.append("tag depth: " + ", ".join(f"{depth_label(d)} {n}" for d, n in depths))
        if v.stacks:
            shown = sorted(v.stacks.items(), key=lambda kv: (-len(kv[0]), -kv[1]))[:8]
            stacks = ", ".join(f"({','.join(map(str, k))}) x{n}" for k, n in shown)
            lines.append(f"VLAN stacks (outer first): {stacks}")
        if v.oversize:
            line = f"oversize: {v.oversize} frames > {v.limit} bytes, largest {v.largest_wire_len}"
            if v.double_tag_oversize:
                line += f"; {v.double_tag_oversize} would fit with a single tag"
            lines.append(line)
        else:
            lines.append(f"oversize: none (largest frame {v.largest_wire_len} bytes)")
        if self.stp is not None:
            lines.extend(self.stp.text_lines())
        elif self.bpdus:
            lines.append("BPDUs: " + ", ".join(f"{k} {n}" for k, n in sorted(self.bpdus.items())))
        if self.dhcp:
            lines.append("DHCP: " + ", ".join(f"{k} {n}" for k, n in self.dhcp.items()))
        lines.extend(self._conversation_lines())
        problems = [
            f"{n} {what}"
            for n, what in (
                (st.truncated, "truncated record(s)"),
                (st.malformed, "malformed frame(s)"),
                (st.unsupported, "frame(s) on unsupported link types"),
                (st.unknown_blocks, "unknown pcapng block(s) skipped"),
            )
            if n
        ]
        if problems:
            lines.append("capture problems: " + ", ".join(problems))
        if self.examples:
            lines.append("examples:")
            lines.extend(f"  {line}" for line in self.examples)
        return "\n".join(lines)

    def _conversation_lines(self) -> list[str]:
        convs = self.dhcp_conversations
        if not convs:
            return []
        lines = [f"DHCP conversations ({len(convs)}, per xid):"]
        for conv in convs[:MAX_CONVERSATIONS]:
            lines.append(f"  {conv.headline()}")
            lines.extend(f"    {e.line()}" for e in conv.events[:MAX_MESSAGES])
            if len(conv.events) > MAX_MESSAGES:
                lines.append(f"    ... {len(conv.events) - MAX_MESSAGES} more messages")
        if len(convs) > MAX_CONVERSATIONS:
            lines.append(f"  ... {len(convs) - MAX_CONVERSATIONS} more (see --json)")
        return lines


class _SideScan:
    """What one pass notes besides VLAN depth: BPDUs, DHCP, telling examples."""

    def __init__(self, mtu: int) -> None:
        self.mtu = mtu
        self.limit = max_frame_len(mtu)
        self.bpdus: dict[str, int] = {}
        self.dhcp: dict[str, int] = {}
        self.bpdu_frames: list[Frame] = []
        self.dhcp_frames: list[Frame] = []
        self.double: list[Frame] = []
        self.other: list[Frame] = []

    def watch(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield every frame on, keeping only the few that matter (bounded)."""
        for frame in frames:
            if frame.is_bpdu:
                kind = bpdu_kind(frame) or "BPDU"
                self.bpdus[kind] = self.bpdus.get(kind, 0) + 1
                if len(self.bpdu_frames) < MAX_KEPT:
                    self.bpdu_frames.append(frame)
            elif frame.is_dhcp:
                msg = dhcp_message_type(frame)
                self.dhcp[msg] = self.dhcp.get(msg, 0) + 1
                if len(self.dhcp_frames) < MAX_KEPT:
                    self.dhcp_frames.append(frame)
            if frame.wire_len > self.limit or len(frame.tags) >= 2:
                if fits_with_one_tag(frame, self.mtu):
                    if len(self.double) < MAX_EXAMPLES:
                        self.double.append(frame)
                elif len(self.other) < MAX_EXAMPLES:
                    self.other.append(frame)
            yield frame


def analyze_frames(
    path: str, stats: CaptureStats, frames: Iterable[Frame], mtu: int = 1500
) -> CaptureReport:
    """One streaming pass: memory stays bounded whatever the size of the capture."""
    side = _SideScan(mtu)
    report = CaptureReport(path, mtu, stats, analyze_vlan(side.watch(frames), mtu))
    report.bpdus, report.dhcp = side.bpdus, side.dhcp
    report.examples = [describe(f) for f in (side.double + side.other)[:MAX_EXAMPLES]]
    report.dhcp_conversations = conversations(side.dhcp_frames)
    report.stp = analyze_bpdus(side.bpdu_frames) if side.bpdu_frames else None
    return report


def analyze_capture(capture: Capture, mtu: int = 1500) -> CaptureReport:
    return analyze_frames(capture.path, capture.stats, capture.frames, mtu)


def run_analyze(path: str, mtu: int = 1500, as_json: bool = False) -> str:
    """Text or JSON for ``cloudtales analyze``; one-line CloudtalesError on bad input."""
    if not 68 <= mtu <= 65535:
        raise CloudtalesError(f"--mtu {mtu}: must be between 68 and 65535")
    try:
        with open(path, "rb") as fh:
            if fh.seek(0, 2) == 0:
                raise PcapFormatError("empty")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                stats = CaptureStats()
                report = analyze_frames(path, stats, iter_frames(mm, stats), mtu)
    except FileNotFoundError:
        raise CloudtalesError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CloudtalesError(f"{path}: is a directory, not a capture file") from None
    except PcapFormatError as exc:
        raise CloudtalesError(f"{path}: not a readable pcap/pcapng capture: {exc}") from None
    except OSError as exc:
        raise CloudtalesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return json.dumps(report.to_dict(), indent=2) if as_json else report.to_text()
