"""Offline capture analysis behind ``cloudtales analyze FILE|- [--mtu N] [--json]``.

One streaming pass (``engine.parsers.pcap_scan``) into a ``CaptureTally``: VLAN depth,
stacks and sizes, BPDUs, DHCP conversations, capture problems, all in bounded memory
with every cap stated. The report renders as JSON (``to_dict``) or text (``to_text``).
A Linux cooked capture cannot show VLAN tags, so it never reads as an all-clear.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import TextIO

from engine.analyzers.capture_tally import (
    MAX_CONVERSATIONS as MAX_KEPT_CONVERSATIONS,
)
from engine.analyzers.capture_tally import (
    MAX_EVENTS,
    MAX_STACKS,
    CaptureTally,
    DhcpCaps,
    dhcp_type_of,
)
from engine.analyzers.dhcp import DhcpConversation, decode_dhcp
from engine.analyzers.stp import BpduFindings
from engine.analyzers.summary import describe
from engine.analyzers.vlan import VlanFindings, depth_label
from engine.errors import CloudtalesError
from engine.parsers.pcap import (
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NAMES,
    CaptureStats,
    Frame,
    PcapFormatError,
)
from engine.parsers.pcap_scan import Readable, open_capture, scan_capture

COOKED = frozenset({LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2})
MAX_CONVERSATIONS = 20  # shown in text; JSON has them all
MAX_MESSAGES = 12  # per conversation, in text

VERDICT_TEXT = {
    "stacked": "frames carry stacked VLAN tags (Double VLAN: a tag is added twice)",
    "single": "frames carry one VLAN tag; no stacked tags seen",
    "untagged": "no VLAN tags seen (captured above the VLAN device, or tags offloaded)",
    "no_frames": "the capture holds no frames",
    "tags_hidden": "VLAN tags cannot be seen: a Linux cooked capture (SLL/SLL2, "
    "tcpdump -i any) drops them; capture on the interface itself to see tags and sizes",
}


def dhcp_message_type(frame: Frame) -> str:
    """The DHCP message type of a frame flagged ``is_dhcp`` (see ``dhcp_type_of``)."""
    return dhcp_type_of(frame, decode_dhcp(frame))


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
    dhcp_caps: DhcpCaps = field(default_factory=DhcpCaps)
    stacks_unlisted: int = 0  # frames on VLAN stacks beyond the listing cap

    @property
    def cooked(self) -> int:
        """Frames from Linux cooked links, where the kernel has removed the VLAN tags."""
        return sum(n for lt, n in self.stats.linktypes.items() if lt in COOKED)

    @property
    def verdict(self) -> str:
        verdict = self.vlan.verdict()
        return "tags_hidden" if verdict == "untagged" and self.cooked else verdict

    def problems(self) -> dict[str, object]:
        st = self.stats
        return {
            "truncated": st.truncated,
            "malformed": st.malformed,
            "first_malformed": st.first_problem or None,
            "unsupported_linktype": st.unsupported,
            "unknown_blocks": st.unknown_blocks,
            "bad_timestamps": st.bad_timestamps,
            "first_bad_timestamp": st.first_bad_timestamp or None,
        }

    def to_dict(self) -> dict[str, object]:
        st = self.stats
        return {
            "path": self.path,
            "format": st.format,
            "linktypes": {
                LINKTYPE_NAMES.get(k, str(k)): v for k, v in sorted(st.linktypes.items())
            },
            "capture_problems": self.problems(),
            **self.vlan.to_dict(),
            "verdict": self.verdict,
            "cooked_frames": self.cooked,
            "stacks_unlisted_frames": self.stacks_unlisted,
            "bpdus": self.bpdus,
            "dhcp": self.dhcp,
            "dhcp_conversations": [c.to_dict() for c in self.dhcp_conversations],
            "dhcp_caps": self.dhcp_caps.to_dict(),
            "stp": self.stp.to_dict() if self.stp else None,
            "examples": self.examples,
        }

    def to_text(self) -> str:
        st, v = self.stats, self.vlan
        links = ", ".join(LINKTYPE_NAMES.get(k, f"linktype {k}") for k in sorted(st.linktypes))
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
            shown = sorted(v.stacks.items(), key=lambda kv: (-len(kv[0]), -kv[1], kv[0]))[:8]
            stacks = ", ".join(f"({','.join(map(str, k))}) x{n}" for k, n in shown)
            lines.append(f"VLAN stacks (outer first): {stacks}")
        if self.stacks_unlisted:
            lines.append(
                f"  {self.stacks_unlisted} frame(s) on further VLAN stacks, counted, not "
                f"listed: {MAX_STACKS:,} stacks kept (cap)"
            )
        if v.oversize:
            line = f"oversize: {v.oversize} frames > {v.limit} bytes, largest {v.largest_wire_len}"
            if v.double_tag_oversize:
                line += f"; {v.double_tag_oversize} would fit with a single tag"
            lines.append(line)
        elif self.cooked:
            lines.append(
                f"oversize: unknown - {self.cooked} frame(s) from a cooked capture, sizes "
                f"without their VLAN tags (largest seen {v.largest_wire_len} bytes)"
            )
        else:
            lines.append(f"oversize: none (largest frame {v.largest_wire_len} bytes)")
        if self.cooked and self.verdict != "tags_hidden":
            lines.append(
                f"warning: {self.cooked} frame(s) from a Linux cooked capture (SLL/SLL2): "
                "their VLAN tags cannot be seen"
            )
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
                (st.malformed, f"malformed record(s) (first at {st.first_problem})"),
                (st.unsupported, "frame(s) on unsupported link types"),
                (st.unknown_blocks, "unknown pcapng block(s) skipped"),
                (
                    st.bad_timestamps,
                    f"frame(s) with an impossible timestamp (first at {st.first_bad_timestamp})",
                ),
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
        caps = self.dhcp_caps
        seen = caps.conversations_seen
        if seen > len(convs):
            more = "" if caps.counted_all else "more than "
            head = f"{len(convs):,} kept of {more}{seen:,} (cap {MAX_KEPT_CONVERSATIONS:,})"
        else:
            head = f"{len(convs)}"
        lines = [f"DHCP conversations ({head}, per xid):"]
        if caps.events_dropped:
            lines.append(
                f"  {caps.events_dropped:,} later message(s) counted, not listed: "
                f"{MAX_EVENTS:,} kept in all (cap)"
            )
        for conv in convs[:MAX_CONVERSATIONS]:
            lines.append(f"  {conv.headline()}")
            lines.extend(f"    {e.line()}" for e in conv.events[:MAX_MESSAGES])
            if len(conv.events) > MAX_MESSAGES:
                lines.append(f"    ... {len(conv.events) - MAX_MESSAGES} more messages")
        if len(convs) > MAX_CONVERSATIONS:
            lines.append(f"  ... {len(convs) - MAX_CONVERSATIONS} more (see --json)")
        return lines


def report_of(path: str, stats: CaptureStats, tally: CaptureTally) -> CaptureReport:
    report = CaptureReport(path, tally.mtu, stats, tally.vlan())
    report.bpdus, report.dhcp = tally.bpdus, tally.dhcp
    report.examples = [describe(f) for f in tally.examples()]
    report.dhcp_conversations = tally.conversations.result()
    report.dhcp_caps = tally.conversations.caps
    report.stacks_unlisted = tally.stacks_unlisted
    report.stp = tally.stp if tally.stp.total else None
    return report


def stream_report(fh: Readable, name: str, mtu: int = 1500, pure: bool = False) -> CaptureReport:
    """One pass over a capture stream (``pure``: decode every frame in Python)."""
    stats, tally = CaptureStats(), CaptureTally(mtu)
    scan_capture(fh, tally, stats, tally.limit, pure=pure)
    return report_of(name, stats, tally)


def analyze_stream(
    fh: Readable, name: str, mtu: int = 1500, as_json: bool = False, pure: bool = False
) -> str:
    """Text or JSON for a capture stream; one-line CloudtalesError on bad input."""
    out = io.StringIO()
    write_analysis(fh, name, out, mtu, as_json, pure)
    return out.getvalue().removesuffix("\n")


def write_analysis(
    fh: Readable, name: str, out: TextIO, mtu: int = 1500, as_json: bool = False, pure: bool = False
) -> None:
    """Scan, analyse and render into ``out`` (JSON is written piece by piece, so a large
    report never exists twice in memory). Reading, analysis and rendering all happen
    inside the error handling: bad input is one CloudtalesError naming what was wrong."""
    if not 68 <= mtu <= 65535:
        raise CloudtalesError(f"--mtu {mtu}: must be between 68 and 65535")
    try:
        report = stream_report(fh, name, mtu, pure)
        if as_json:
            json.dump(report.to_dict(), out, indent=2)
        else:
            out.write(report.to_text())
        out.write("\n")
    except PcapFormatError as exc:
        raise CloudtalesError(f"{name}: not a readable pcap/pcapng capture: {exc}") from None
    except BrokenPipeError:
        raise  # the reader went away (| head): not a capture problem
    except OSError as exc:  # a read error mid-file (EIO, a vanished NFS mount...)
        raise CloudtalesError(f"{name}: cannot read: {exc.strerror or exc}") from None


def _name(path: str) -> str:
    return "(standard input)" if path == "-" else path


def run_analyze(path: str, mtu: int = 1500, as_json: bool = False, pure: bool = False) -> str:
    """``cloudtales analyze PATH`` (``-``: standard input) as text or JSON."""
    if not 68 <= mtu <= 65535:
        raise CloudtalesError(f"--mtu {mtu}: must be between 68 and 65535")
    with open_capture(path) as fh:
        return analyze_stream(fh, _name(path), mtu, as_json, pure)


def print_analysis(path: str, out: TextIO, mtu: int = 1500, as_json: bool = False) -> None:
    """``cloudtales analyze``: the findings written to ``out`` (standard output)."""
    if not 68 <= mtu <= 65535:
        raise CloudtalesError(f"--mtu {mtu}: must be between 68 and 65535")
    with open_capture(path) as fh:
        write_analysis(fh, _name(path), out, mtu, as_json)
