"""Spanning-tree BPDUs decoded field by field: 802.1D configuration and TCN, RSTP,
MSTP (CIST part) and Cisco PVST+ / Rapid-PVST+ (SNAP 00000c 010b to 01:00:0c:cc:cc:cd).

Pure ``struct`` over the frames ``engine.parsers.pcap`` already scanned; the frame
kind comes from ``engine.analyzers.summary.bpdu_kind``. A short or odd BPDU never
raises: it decodes as far as its bytes go and says what is wrong in ``problem``.

>>> from engine.parsers.pcap import decode_frame
>>> raw = bytes.fromhex(
...     "0180c2000000" "fa163e24e722" "0026" "424203"
...     "0000" "00" "00" "00" "8000fa163e24e722" "00000000" "8000fa163e24e722" "8001"
...     "0000" "1400" "0200" "0f00")
>>> b = decode_bpdu(decode_frame(raw, 0.0, 60))
>>> b.kind, str(b.root), b.hello_time, b.problem
('STP', '32768.0.fa:16:3e:24:e7:22', 2.0, None)
>>> b.describe()[:60]
'STP conf from fa:16:3e:24:e7:22: root 32768.0.fa:16:3e:24:e7'
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from engine.analyzers.summary import bpdu_kind
from engine.parsers.pcap import PVST_SNAP, Frame

CONF_SIZE = 35  # protocol id .. forward delay
RST_SIZE = 36  # plus the version 1 length octet
MST_SIZE = 102  # plus version 3 length, MST configuration id and the CIST fields
TCN_SIZE = 4
PVST_TLV_AT = 36  # the originating-VLAN TLV of (R)PVST+, from the start of the BPDU
TYPE_CONF, TYPE_RST, TYPE_TCN = 0x00, 0x02, 0x80
ROLES = {0: "unknown", 1: "alternate/backup", 2: "root", 3: "designated"}
MAX_EXAMPLES = 5
MAX_SOURCES = 10_000  # senders itemised; BPDUs of later senders are counted, not itemised
MAX_IDS = 32  # distinct root / bridge ids kept per sender (a corrupt stream can vary them)

_HEAD = struct.Struct("!HBB").unpack_from  # protocol id, version, type
_CONF = struct.Struct("!B8sI8sHHHHH").unpack_from  # flags, root, cost, bridge, port, 4 timers
_U16 = struct.Struct("!H").unpack_from


@dataclass(frozen=True, slots=True)
class BridgeId:
    """Priority (upper 4 bits, in steps of 4096), system id extension (VLAN or MST
    instance) and MAC, printed the way switches print them: ``32768.100.aa:bb:..``."""

    priority: int
    sys_id_ext: int
    mac: str

    @classmethod
    def from_bytes(cls, raw: bytes) -> BridgeId:
        (prio,) = _U16(raw, 0)
        return cls(prio & 0xF000, prio & 0x0FFF, raw[2:8].hex(":"))

    def __str__(self) -> str:
        return f"{self.priority}.{self.sys_id_ext}.{self.mac}"


@dataclass(frozen=True, slots=True)
class Bpdu:
    kind: str  # STP, RSTP, MSTP, STP TCN, PVST+, Rapid-PVST+, PVST+ TCN (summary.bpdu_kind)
    src_mac: str
    dst_mac: str
    ts: float
    vlan_tags: tuple[int, ...] = ()
    version: int | None = None
    bpdu_type: int | None = None
    flags: int = 0
    root: BridgeId | None = None
    root_path_cost: int | None = None
    bridge: BridgeId | None = None
    port_id: int | None = None
    message_age: float | None = None  # seconds (the wire carries 1/256 s)
    max_age: float | None = None
    hello_time: float | None = None
    forward_delay: float | None = None
    pvst_vlan: int | None = None  # the originating VLAN TLV of (R)PVST+
    problem: str | None = None  # why it is malformed or truncated; None when well formed

    @property
    def is_pvst(self) -> bool:
        return "PVST" in self.kind

    @property
    def is_tcn(self) -> bool:
        return self.bpdu_type == TYPE_TCN

    @property
    def flag_names(self) -> list[str]:
        """TC and TC-ack for every version; proposal, role, learning, forwarding and
        agreement only mean something in RST/MST BPDUs."""
        f, names = self.flags, []
        if f & 0x01:
            names.append("TC")
        if f & 0x80:
            names.append("TCA")
        if self.bpdu_type == TYPE_RST:
            if f & 0x02:
                names.append("proposal")
            names.append(f"role {ROLES[(f >> 2) & 3]}")
            names += [n for bit, n in ((0x10, "learning"), (0x20, "forwarding")) if f & bit]
            if f & 0x40:
                names.append("agreement")
        return names

    def describe(self) -> str:
        """One line: kind, sender, root and bridge ids, timers, problems."""
        word = _TYPE_WORD.get(self.bpdu_type, "BPDU") if self.bpdu_type is not None else "BPDU"
        head = f"{self.kind} {word} from {self.src_mac or '?'}"
        if self.vlan_tags:
            head += f" (vlan {','.join(map(str, self.vlan_tags))})"
        parts = []
        if self.root is not None:
            parts.append(f"root {self.root} cost {self.root_path_cost}")
        if self.bridge is not None:
            parts.append(f"bridge {self.bridge} port 0x{self.port_id or 0:04x}")
        if self.hello_time is not None:
            parts.append(f"hello {self.hello_time:g}s")
        if self.pvst_vlan is not None:
            parts.append(f"PVST+ vlan {self.pvst_vlan}")
        flags = [n for n in self.flag_names if not n.startswith("role")]
        if flags:
            parts.append("flags " + "/".join(flags))
        if self.problem:
            parts.append(f"MALFORMED: {self.problem}")
        return head + (": " + ", ".join(parts) if parts else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "src_mac": self.src_mac,
            "dst_mac": self.dst_mac,
            "root": str(self.root) if self.root else None,
            "bridge": str(self.bridge) if self.bridge else None,
            "root_path_cost": self.root_path_cost,
            "port_id": self.port_id,
            "hello_time": self.hello_time,
            "pvst_vlan": self.pvst_vlan,
            "flags": self.flag_names,
            "problem": self.problem,
        }


_TYPE_WORD = {TYPE_CONF: "conf", TYPE_RST: "RST", TYPE_TCN: "TCN"}


def _timer(raw: int) -> float:
    return raw / 256


def decode_bpdu(frame: Frame) -> Bpdu | None:
    """The BPDU a frame carries, or None when ``frame.is_bpdu`` is false. Never raises."""
    kind = bpdu_kind(frame)
    if kind is None:
        return None
    data, off = frame.data, frame.l3_offset
    pvst = data[off : off + 8] == PVST_SNAP
    start = off + (8 if pvst else 3)
    # an 802.3 length (Ethernet captures) bounds the BPDU; padding to 60 bytes follows it
    end = len(data)
    if frame.ethertype < 0x0600 and frame.linktype == 1:
        end = min(end, off + frame.ethertype)
    body = data[start:end]
    base = Bpdu(kind, frame.src_mac, frame.dst_mac, frame.ts, frame.vids)
    if len(body) < TCN_SIZE:
        return _replace(base, problem=f"truncated: {len(body)} bytes, a BPDU needs at least 4")
    proto, version, btype = _HEAD(body, 0)
    base = _replace(base, version=version, bpdu_type=btype)
    if proto != 0:
        return _replace(base, problem=f"protocol identifier 0x{proto:04x}, not 0 (STP)")
    if btype == TYPE_TCN:
        return base
    if btype not in (TYPE_CONF, TYPE_RST):
        return _replace(base, problem=f"unknown BPDU type 0x{btype:02x}")
    need = CONF_SIZE if btype == TYPE_CONF else RST_SIZE
    if len(body) < CONF_SIZE:
        return _replace(base, problem=f"truncated: {len(body)} of {need} bytes")
    flags, root, cost, bridge, port, age, max_age, hello, fwd = _CONF(body, 4)
    full = _replace(
        base,
        flags=flags,
        root=BridgeId.from_bytes(root),
        root_path_cost=cost,
        bridge=BridgeId.from_bytes(bridge),
        port_id=port,
        message_age=_timer(age),
        max_age=_timer(max_age),
        hello_time=_timer(hello),
        forward_delay=_timer(fwd),
    )
    problems = []
    if btype == TYPE_RST and len(body) < RST_SIZE:
        problems.append(f"truncated: {len(body)} of {RST_SIZE} bytes (no version 1 length)")
    elif btype == TYPE_RST and body[35] != 0:
        problems.append(f"version 1 length {body[35]}, must be 0")
    if version == 3 and btype == TYPE_RST and len(body) < MST_SIZE:
        problems.append(f"MST BPDU truncated: {len(body)} of at least {MST_SIZE} bytes")
    if pvst:
        vlan, why = _pvst_vlan(body)
        full = _replace(full, pvst_vlan=vlan)
        if why:
            problems.append(why)
    return _replace(full, problem="; ".join(problems)) if problems else full


def _pvst_vlan(body: bytes) -> tuple[int | None, str | None]:
    """The originating VLAN of a (R)PVST+ BPDU: TLV type 0, length 2, at offset 36."""
    pos = PVST_TLV_AT
    while pos + 4 <= len(body):
        tlv_type, length = struct.unpack_from("!HH", body, pos)
        if pos + 4 + length > len(body):
            return None, f"PVST+ TLV type {tlv_type} truncated"
        if tlv_type == 0:
            if length != 2:
                return None, f"PVST+ originating VLAN TLV has length {length}, not 2"
            return _U16(body, pos + 4)[0], None
        pos += 4 + length
    return None, "PVST+ BPDU without its originating VLAN TLV"


def _replace(b: Bpdu, **changes: object) -> Bpdu:
    values = {name: getattr(b, name) for name in Bpdu.__dataclass_fields__}
    values.update(changes)
    return Bpdu(**values)


def iter_bpdus(frames: Iterable[Frame]) -> Iterator[Bpdu]:
    for frame in frames:
        if frame.is_bpdu:
            bpdu = decode_bpdu(frame)
            if bpdu is not None:
                yield bpdu


@dataclass(slots=True)
class BpduSource:
    """Every BPDU one MAC sent: what kinds, claiming which root and bridge id."""

    mac: str
    count: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    roots: set[str] = field(default_factory=set)
    bridges: set[str] = field(default_factory=set)
    vlans: set[int] = field(default_factory=set)
    first_ts: float = 0.0
    last_ts: float = 0.0
    ids_unlisted: int = 0  # BPDUs whose root or bridge id was beyond MAX_IDS

    def add(self, b: Bpdu) -> None:
        if not self.count:
            self.first_ts = b.ts
        self.count += 1
        self.last_ts = max(self.last_ts, b.ts)
        self.kinds[b.kind] = self.kinds.get(b.kind, 0) + 1
        unlisted = False
        for ident, kept in ((b.root, self.roots), (b.bridge, self.bridges)):
            if ident is not None:
                text = str(ident)
                if text in kept or len(kept) < MAX_IDS:
                    kept.add(text)
                else:
                    unlisted = True
        self.ids_unlisted += unlisted
        if b.pvst_vlan is not None:
            self.vlans.add(b.pvst_vlan)

    def line(self) -> str:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.kinds.items()))
        text = f"{self.mac or '(no source MAC)'}: {kinds}"
        if self.bridges:
            text += f"; bridge {', '.join(sorted(self.bridges))}"
        if self.roots and self.roots != self.bridges:
            text += f"; root {', '.join(sorted(self.roots))}"
        if self.vlans:
            text += f"; PVST+ vlans {','.join(map(str, sorted(self.vlans)))}"
        if self.ids_unlisted:
            text += f"; {self.ids_unlisted} BPDU(s) with further ids not listed (cap {MAX_IDS})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "kinds": dict(sorted(self.kinds.items())),
            "bridges": sorted(self.bridges),
            "roots": sorted(self.roots),
            "pvst_vlans": sorted(self.vlans),
            "ids_unlisted": self.ids_unlisted,
        }


@dataclass(slots=True)
class BpduFindings:
    """What the BPDUs of a capture say: kinds, senders, malformed ones, examples."""

    total: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    sources: dict[str, BpduSource] = field(default_factory=dict)
    malformed: int = 0
    examples: list[str] = field(default_factory=list)  # Bpdu.describe(), first per source
    unlisted: int = 0  # BPDUs from senders beyond MAX_SOURCES (counted in total and kinds)

    def add(self, b: Bpdu, max_examples: int = MAX_EXAMPLES) -> None:
        self.total += 1
        self.kinds[b.kind] = self.kinds.get(b.kind, 0) + 1
        src = self.sources.get(b.src_mac)
        first = src is None
        if src is None and len(self.sources) >= MAX_SOURCES:
            self.unlisted += 1
        elif src is None:
            src = self.sources[b.src_mac] = BpduSource(b.src_mac)
        if src is not None:
            src.add(b)
        if b.problem:
            self.malformed += 1
        # the first BPDU of each sender, and every malformed one, while room is left
        if (first or b.problem) and len(self.examples) < max_examples:
            self.examples.append(b.describe())

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "kinds": dict(sorted(self.kinds.items())),
            "sources": {mac: s.to_dict() for mac, s in sorted(self.sources.items())},
            "malformed": self.malformed,
            "examples": self.examples,
            "senders_cap": MAX_SOURCES,
            "bpdus_from_unlisted_senders": self.unlisted,
        }

    def text_lines(self) -> list[str]:
        """Lines for a text report (empty when the capture holds no BPDU)."""
        if not self.total:
            return []
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))
        lines = [f"BPDUs: {self.total} ({kinds}) from {len(self.sources)} sender(s)"]
        lines += [f"  {s.line()}" for _, s in sorted(self.sources.items())]
        if self.unlisted:
            lines.append(
                f"  {self.unlisted} BPDU(s) from further senders, not listed: "
                f"{MAX_SOURCES:,} senders shown (cap)"
            )
        if self.malformed:
            lines.append(f"  {self.malformed} malformed or truncated BPDU(s)")
        lines += [f"  e.g. {ex}" for ex in self.examples]
        return lines


def analyze_bpdus(frames: Iterable[Frame], max_examples: int = MAX_EXAMPLES) -> BpduFindings:
    """One pass over the frames; only BPDU frames are decoded."""
    findings = BpduFindings()
    for b in iter_bpdus(frames):
        findings.add(b, max_examples)
    return findings
