"""One packet as decoded at each capture point, and what changed from point to point.

The packet table (``engine.analyzers.correlate``) keeps, per row and capture point,
the first bytes of the frame it matched (``ResultTable.frames``: ``"LINKTYPE:HEX"``).
``decode_row`` dissects them with scapy's own dissectors (layers and fields, as
termshark shows them) and compares each point with the one before it on the path: a
layer that appears (a VLAN tag pushed) or goes, a field whose value changed, a size
change, a point where the packet was never seen.

scapy takes about a second to import, so it is imported inside ``dissect`` and never
at start-up: only opening a packet's detail pays for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.results import ResultTable

LINKTYPE_ETHERNET, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 113, 276
VALUE_WIDTH = 48  # a field's shown value is cut to this many characters
NOISY = frozenset({"chksum", "load"})  # differ hop to hop for reasons nobody asks about
_CELL = re.compile(r"\[(?P<tags>[^\]]*)\]\s+(?P<size>\d+)")


@dataclass(frozen=True, slots=True)
class Layer:
    key: str  # "Dot1Q#2": the name, numbered when a packet carries it more than once
    name: str
    fields: tuple[tuple[str, str], ...]  # (field, shown value)


@dataclass(frozen=True, slots=True)
class PointView:
    point: str
    cell: str  # the table's cell: time, tags, wire size (or "-")
    data: bytes  # the kept bytes (empty when the packet was not seen here)
    layers: tuple[Layer, ...] = ()
    wire_len: int | None = None
    error: str | None = None  # the bytes could not be dissected
    new_layers: frozenset[str] = frozenset()  # layer keys absent at the point before
    changed: frozenset[tuple[str, str]] = frozenset()  # (layer key, field) changed

    @property
    def seen(self) -> bool:
        return self.cell.strip() not in ("", "-")


@dataclass(frozen=True, slots=True)
class PacketDetail:
    packet: str  # the row's label
    verdict: str
    points: tuple[PointView, ...]
    differences: tuple[str, ...] = field(default=())  # sentences, in path order


def parse_frame(cell: str) -> tuple[int, bytes]:
    """``"1:aabb"`` -> (1, b"\\xaa\\xbb"); ("", or junk) -> (0, b"").

    >>> parse_frame("1:0a0b")
    (1, b'\\n\\x0b')
    >>> parse_frame("")
    (0, b'')
    """
    lt, sep, hexed = cell.partition(":")
    if not sep:
        return 0, b""
    try:
        return int(lt), bytes.fromhex(hexed)
    except ValueError:
        return 0, b""


def hexdump(data: bytes, width: int = 16) -> list[str]:
    """``offset  hex bytes  ascii`` lines, as tcpdump -X and termshark show them.

    >>> hexdump(b"AB\\x00", width=4)
    ['0000  41 42 00     AB.']
    """
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        hexed = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {hexed:<{width * 3}} {text}")
    return lines


def dissect(linktype: int, data: bytes) -> tuple[Layer, ...]:
    """The frame's layers and fields as scapy dissects them (imported here, lazily)."""
    import scapy.layers.dhcp
    import scapy.layers.inet
    import scapy.layers.inet6  # noqa: F401  (binds IP, IPv6, UDP, DHCP above Ether)
    from scapy.fields import ConditionalField
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
    from scapy.packet import NoPayload

    cls = {LINKTYPE_ETHERNET: Ether, LINKTYPE_SLL: CookedLinux, LINKTYPE_SLL2: CookedLinuxV2}
    if linktype not in cls:
        raise ValueError(f"link type {linktype} is not decoded here")
    pkt = cls[linktype](data)
    layers: list[Layer] = []
    seen: dict[str, int] = {}
    layer = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        name = type(layer).__name__
        seen[name] = seen.get(name, 0) + 1
        key = name if seen[name] == 1 else f"{name}#{seen[name]}"
        shown = []
        for fld in layer.fields_desc:
            if isinstance(fld, ConditionalField) and not fld._evalcond(layer):
                continue  # not in this packet (as scapy's own show() skips it)
            try:
                value = fld.i2repr(layer, layer.getfieldval(fld.name))
            except Exception as exc:  # a dissector's own repr failing: show why, go on
                value = f"? ({exc})"
            text = str(value)
            shown.append((fld.name, text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH] + "…"))
        layers.append(Layer(key, name, tuple(shown)))
        layer = layer.payload
    return tuple(layers)


def _wire_len(cell: str) -> int | None:
    m = _CELL.search(cell)
    return int(m.group("size")) if m else None


def _compare(before: PointView, after: PointView) -> tuple[PointView, list[str]]:
    """``after`` marked against ``before`` (the previous point where it was seen)."""
    said: list[str] = []
    old = {layer.key: dict(layer.fields) for layer in before.layers}
    new_keys = frozenset(layer.key for layer in after.layers if layer.key not in old)
    gone = [layer.key for layer in before.layers if layer.key not in {x.key for x in after.layers}]
    hop = f"{before.point} -> {after.point}"
    for layer in after.layers:
        if layer.key in new_keys:
            what = dict(layer.fields)
            vlan = f" vlan {what['vlan']}" if "vlan" in what else ""
            said.append(f"{hop}: {layer.key}{vlan} added")
    said += [f"{hop}: {key} removed" for key in gone]
    changed = set()
    for layer in after.layers:
        was = old.get(layer.key)
        if was is None:
            continue
        for name, value in layer.fields:
            if name in NOISY or was.get(name, value) == value:
                continue
            changed.add((layer.key, name))
            said.append(f"{hop}: {layer.key}.{name} {was[name]} -> {value}")
    if None not in (before.wire_len, after.wire_len) and before.wire_len != after.wire_len:
        said.append(f"{hop}: size {before.wire_len} -> {after.wire_len} bytes")
    marked = PointView(
        after.point,
        after.cell,
        after.data,
        after.layers,
        after.wire_len,
        after.error,
        new_keys,
        frozenset(changed),
    )
    return marked, said


def decode_row(table: ResultTable, row: int) -> PacketDetail:
    """The packet of ``table.rows[row]`` at each capture point (the table's columns
    between "packet" and "last seen"), with the differences from point to point."""
    cells = table.rows[row]
    frames = table.frames[row] if row < len(table.frames) else ()
    points = [
        (n, name)
        for n, name in enumerate(table.columns)
        if n > 0 and name not in ("last seen", "verdict")
    ]
    views: list[PointView] = []
    said: list[str] = []
    previous: PointView | None = None
    for n, name in points:
        cell = cells[n] if n < len(cells) else "-"
        linktype, data = parse_frame(frames[n] if n < len(frames) else "")
        layers: tuple[Layer, ...] = ()
        error = None
        if data:
            try:
                layers = dissect(linktype, data)
            except Exception as exc:  # scapy on truncated or odd bytes: say so, keep the hex
                error = f"not dissected: {exc}"
        view = PointView(name, cell, data, layers, _wire_len(cell), error)
        if not view.seen:
            said.append(f"{name}: not seen here")
        elif previous is not None and (view.layers or view.wire_len is not None):
            view, hop = _compare(previous, view)
            said += hop
        if view.seen:
            previous = view
        views.append(view)
    verdict = cells[-1] if table.columns and table.columns[-1] == "verdict" else ""
    return PacketDetail(cells[0], verdict, tuple(views), tuple(said))
