"""Everything ``cloudtales analyze`` learns in its one pass, in bounded memory.

``CaptureTally`` is the ``FrameSink`` of ``engine.parsers.pcap_scan``: frames decoded in
Python arrive through ``add``; the compiled kernel's tallies through ``add_kernel``.
VLAN depth, stacks and sizes are counters; BPDUs are folded into ``BpduFindings`` as
they come; DHCP messages into conversations. Every cap is stated in the findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.analyzers.dhcp import DhcpConversation, DhcpEvent, DhcpMessage, decode_dhcp
from engine.analyzers.stp import BpduFindings, decode_bpdu
from engine.analyzers.summary import bpdu_kind
from engine.analyzers.vlan import VLAN_TAG, VlanFindings, fits_with_one_tag, max_frame_len
from engine.parsers.pcap import Frame
from engine.parsers.pcap_kernel import KernelState

MAX_EXAMPLES = 5
MAX_CONVERSATIONS = 10_000  # DHCP conversations kept (the others only counted)
MAX_EVENTS = 20_000  # DHCP messages kept in all (~8 MB); the others only counted
MAX_COUNTED = 50_000  # distinct conversations counted beyond the cap ("more than" after)
MAX_STACKS = 20_000  # distinct VLAN stacks listed; frames on further ones are counted


def dhcp_type_of(frame: Frame, msg: DhcpMessage | None) -> str:
    """DISCOVER, OFFER... from option 53; "BOOTP" without it; "truncated" when the capture
    cut the datagram short (snaplen); "malformed" when the bytes do not add up."""
    if msg is None:
        return "truncated" if frame.cap_len < frame.wire_len else "malformed"
    if msg.msg_type is None and (msg.truncated or msg.malformed):
        return "truncated" if msg.truncated else "malformed"
    return msg.type_name


@dataclass(slots=True)
class DhcpCaps:
    """What the DHCP caps left out: conversations not kept, messages not kept."""

    conversations_seen: int = 0  # distinct (xid, MAC), exact up to MAX_COUNTED
    counted_all: bool = True  # False: more than conversations_seen
    events_dropped: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "max_conversations": MAX_CONVERSATIONS,
            "conversations_seen": self.conversations_seen,
            "conversations_seen_exact": self.counted_all,
            "max_messages_kept": MAX_EVENTS,
            "messages_not_kept": self.events_dropped,
        }


class ConversationBuilder:
    """DHCP conversations by (xid, client MAC), kept up to MAX_CONVERSATIONS."""

    def __init__(self) -> None:
        self.convs: dict[tuple[int, str], DhcpConversation] = {}
        self.others: set[int] = set()  # hashes of (xid, MAC) beyond the cap: ~90 bytes each
        self.caps = DhcpCaps()
        self.kept = 0

    def add(self, frame: Frame, msg: DhcpMessage) -> None:
        key = (msg.xid, msg.chaddr)
        conv = self.convs.get(key)
        if conv is None:
            if len(self.convs) >= MAX_CONVERSATIONS:
                if (mark := hash(key)) not in self.others:
                    if len(self.others) < MAX_COUNTED:
                        self.others.add(mark)
                    else:
                        self.caps.counted_all = False
                return
            conv = self.convs[key] = DhcpConversation(msg.xid, msg.chaddr)
        if self.kept >= MAX_EVENTS:
            self.caps.events_dropped += 1
            return
        self.kept += 1
        conv.events.append(DhcpEvent(frame.ts, "", frame.ip_src or "", frame.ip_dst or "", msg))

    def result(self) -> list[DhcpConversation]:
        """In order of first message time, each conversation's messages in time order."""
        for conv in self.convs.values():
            conv.events.sort(key=lambda e: e.ts)
        self.caps.conversations_seen = len(self.convs) + len(self.others)
        return sorted(self.convs.values(), key=lambda c: c.events[0].ts)


@dataclass(slots=True)
class CaptureTally:
    mtu: int
    limit: int = 0
    frames: int = 0
    depth: dict[int, int] = field(default_factory=dict)
    stacks: dict[tuple[int, ...], int] = field(default_factory=dict)
    stacked: int = 0
    stacks_unlisted: int = 0  # frames on VLAN stacks beyond MAX_STACKS
    oversize: int = 0
    double: int = 0
    largest: int = 0
    bpdus: dict[str, int] = field(default_factory=dict)
    dhcp: dict[str, int] = field(default_factory=dict)
    stp: BpduFindings = field(default_factory=BpduFindings)
    conversations: ConversationBuilder = field(default_factory=ConversationBuilder)
    ex_double: list[Frame] = field(default_factory=list)
    ex_other: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limit = max_frame_len(self.mtu)

    def add(self, frame: Frame) -> None:
        tags, wire = frame.tags, frame.wire_len
        n = len(tags)
        self.frames += 1
        self.depth[n] = self.depth.get(n, 0) + 1
        if n:
            self._stack(tuple(vid for _, vid in tags), 1)
            self.stacked += n >= 2
        self.largest = max(self.largest, wire)
        if wire > self.limit:
            self.oversize += 1
            self.double += n >= 2 and wire - VLAN_TAG * (n - 1) <= self.limit
        if frame.is_bpdu:
            kind = bpdu_kind(frame) or "BPDU"
            self.bpdus[kind] = self.bpdus.get(kind, 0) + 1
            bpdu = decode_bpdu(frame)
            if bpdu is not None:
                self.stp.add(bpdu)
        elif frame.is_dhcp:
            msg = decode_dhcp(frame)
            kind = dhcp_type_of(frame, msg)
            self.dhcp[kind] = self.dhcp.get(kind, 0) + 1
            if msg is not None:
                self.conversations.add(frame, msg)
        self.add_example(frame)

    def add_example(self, frame: Frame) -> None:
        if frame.wire_len > self.limit or len(frame.tags) >= 2:
            if fits_with_one_tag(frame, self.mtu):
                if len(self.ex_double) < MAX_EXAMPLES:
                    self.ex_double.append(frame)
            elif len(self.ex_other) < MAX_EXAMPLES:
                self.ex_other.append(frame)

    def add_kernel(self, state: KernelState) -> None:
        self.frames += state.frames
        for n, count in enumerate(state.depth):
            if count:
                self.depth[n] = self.depth.get(n, 0) + count
        for vid, count in state.single_counts().items():
            self._stack((vid,), count)
        for pair, count in state.stack_counts().items():
            self._stack(pair, count)
        self.stacked += state.depth[2]
        self.oversize += state.oversize
        self.double += state.double_over
        self.largest = max(self.largest, state.largest)

    def _stack(self, vids: tuple[int, ...], count: int) -> None:
        have = self.stacks.get(vids)
        if have is not None:
            self.stacks[vids] = have + count
        elif len(self.stacks) < MAX_STACKS:
            self.stacks[vids] = count
        else:
            self.stacks_unlisted += count

    def vlan(self) -> VlanFindings:
        return VlanFindings(
            self.mtu,
            self.frames,
            self.depth,
            self.stacked,
            self.stacks,
            self.oversize,
            self.double,
            self.largest,
        )

    def examples(self) -> list[Frame]:
        return (self.ex_double + self.ex_other)[:MAX_EXAMPLES]
